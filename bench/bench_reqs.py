"""How right and how fast `remotebook reqs` is, side by side with pipreqs and pigar, offline, on real sdists.

`.venv/bin/python -m bench.bench_reqs [--quick]` from the repo root, as root (for `unshare -n`).  It downloads a
pinned corpus of real projects from PyPI (`pip download --no-binary :all: --no-deps`; cached in
bench/.cache/reqs) and scans, in one run and without network:

* each whole sdist, whose declared requirements (PKG-INFO `Requires-Dist`, else
  `*.egg-info/requires.txt`, else pyproject.toml) are the truth;
* the notebooks and example scripts of 12 research projects on their own (CASES), whose truth is the
  distribution of each of their imports, labelled by hand (CASE_LABELS);

with `remotebook reqs DIR -o - --pin none --python EMPTY` (EMPTY: the python of a venv with nothing
installed, so the mapping cannot lean on installed distributions), `pipreqs --use-local --print
--scan-notebooks DIR` and `pigar generate --dry-run ... DIR`, each competitor from a venv that holds only
that tool.  Then it times each tool over 1,000 generated .py/.ipynb files.

Markdown tables go to stdout, progress to stderr.  Nothing is asserted: goals are reported as met or
missed, and the exit code is 0 unless the set-up (venvs, downloads, `unshare -n`) failed.  Every
subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import ast
import email.parser
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from bench.common import say, summary, table

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / ".cache" / "reqs"
TOOL_TIMEOUT = 180  # seconds for one tool on one project or on the 1,000 files
PIP_TIMEOUT = 900
SYNTH_FILES = 1000
SYNTH_VERSION = "4"  # bump when the generator changes, to regenerate the files


class BenchError(Exception):
    """A set-up step failed: the bench cannot measure anything meaningful."""


# --------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    spec: str  # name==version on PyPI
    research: bool  # scientific / data-analysis / ML / astro / bio / geo
    quick: bool = False  # part of the --quick corpus

    @property
    def name(self) -> str:
        return canonical(self.spec.split("==")[0])

    @property
    def version(self) -> str:
        return self.spec.split("==")[1]


CORPUS = (
    # research-style: scientific libraries whose sdists carry scripts, examples and notebooks
    Project("lmfit==1.3.4", research=True, quick=True),
    Project("emcee==3.1.6", research=True),
    Project("corner==2.3.0", research=True, quick=True),
    Project("pingouin==0.7.0", research=True, quick=True),
    Project("umap-learn==0.5.12", research=True),
    Project("geopandas==1.2.0", research=True),
    Project("xarray==2026.9.0", research=True),
    Project("seaborn==0.13.2", research=True, quick=True),
    Project("SALib==1.6.0", research=True),
    Project("lifelines==0.30.3", research=True),
    Project("scanpy==1.11.5", research=True),
    Project("mlxtend==0.25.0", research=True),
    Project("missingno==0.5.2", research=True),
    Project("pvlib==0.16.1", research=True),
    Project("imbalanced-learn==0.14.2", research=True),
    Project("category_encoders==2.11.2", research=True),
    Project("trackpy==0.7", research=True),
    Project("plotnine==0.15.9", research=True),
    Project("pygam==0.12.0", research=True),
    Project("pyro-ppl==1.9.2", research=True),
    Project("pyod==3.6.7", research=True),
    Project("neurokit2==0.3.0", research=True),
    Project("libpysal==4.14.1", research=True, quick=True),
    Project("lightkurve==2.6.0", research=True),
    Project("pyhf==0.7.6", research=True, quick=True),
    Project("metpy==1.7.1", research=True),
    Project("pydeseq2==0.5.4", research=True),
    Project("dowhy==0.14", research=True),
    Project("skforecast==0.26.0", research=True),
    Project("timm==1.0.31", research=True, quick=True),
    Project("stable-baselines3==2.9.2", research=True),
    Project("arviz==0.23.4", research=True),
    Project("astroplan==0.10.1", research=True),
    # general-purpose
    Project("requests==2.34.2", research=False, quick=True),
    Project("rich==15.0.0", research=False),
    Project("optuna==5.0.0", research=False),
    Project("papermill==2.7.0", research=False),
    Project("folium==0.20.0", research=False),
    Project("networkx==3.6.1", research=False),
)

TOOL_PACKAGES = {"pipreqs": ["pipreqs==0.5.0"], "pigar": ["pigar==2.2.0"]}
# Build back-ends for `pip download --no-build-isolation`: pip prepares an sdist's metadata before it
# keeps the file, and without isolation it must find the back-end in the downloading interpreter.
FETCH_PACKAGES = [
    "pip==26.3",
    "setuptools==84.2.1",
    "wheel==0.48.0",
    "setuptools-scm==10.3.4",
    "hatchling==1.33.0",
    "hatch-vcs==0.5.0",
    "hatch-fancy-pypi-readme==25.1.0",
    "flit-core==4.2.0",
    "poetry-core==2.5.0",
    "pdm-backend==2.5.0",
]

# Import names of the corpus's declared requirements where they differ from the distribution name
# (written by hand for this corpus, from the projects' own docs).  Only the "imported truth" recall
# uses it; the rest of a name maps to itself with "-" as "_".
IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "beautifulsoup4": ("bs4",),
    "causal-learn": ("causallearn",),
    "charset-normalizer": ("charset_normalizer",),
    "cython": ("Cython",),
    "huggingface-hub": ("huggingface_hub",),
    "markdown-it-py": ("markdown_it",),
    "pillow": ("PIL",),
    "progressbar2": ("progressbar",),
    "pyro-api": ("pyroapi",),
    "pyro-ppl": ("pyro",),
    "python-dateutil": ("dateutil",),
    "pywavelets": ("pywt",),
    "pyyaml": ("yaml",),
    "scikit-image": ("skimage",),
    "scikit-learn": ("sklearn",),
    "setuptools": ("setuptools", "pkg_resources"),
    "umap-learn": ("umap",),
}


# The notebooks and example scripts of some research projects, copied out of the sdist (so the project's
# own package is not beside them) and scanned on their own: what a research repository looks like.
CASES: dict[str, tuple[str, ...]] = {
    "corner": ("docs/pages", "demo.py"),
    "emcee": ("docs/tutorials",),
    "lmfit": ("examples",),
    "seaborn": ("doc/_tutorial", "examples"),
    "xarray": ("doc/examples", "doc/gallery"),
    "imbalanced-learn": ("examples",),
    "pvlib": ("docs/examples", "docs/tutorials"),
    "libpysal": ("docs/user-guide",),
    "metpy": ("examples", "tutorials"),
    "pydeseq2": ("examples",),
    "dowhy": ("docs/source/example_notebooks",),
    "networkx": ("examples",),
}
# Their truth: the distribution that provides each top-level import found in them (then accepted
# alternatives), labelled by hand from each project's own install instructions.  Stdlib modules and the
# case's own files need no label; an import without one is reported and left out of the truth.
CASE_LABELS: dict[str, tuple[str, ...]] = {
    "IPython": ("ipython",),
    "PIL": ("pillow",),
    "arviz": ("arviz",),
    "cartopy": ("cartopy",),
    "causallearn": ("causal-learn",),
    "celerite": ("celerite",),
    "contextily": ("contextily",),
    "corner": ("corner",),
    "dowhy": ("dowhy",),
    "econml": ("econml",),
    "emcee": ("emcee",),
    "esda": ("esda",),
    "flask": ("flask",),
    "geodatasets": ("geodatasets",),
    "geopandas": ("geopandas",),
    "graphviz": ("graphviz",),
    "h5py": ("h5py",),
    "igraph": ("igraph", "python-igraph"),
    "imblearn": ("imbalanced-learn",),
    "iplotx": ("iplotx",),
    "libpysal": ("libpysal",),
    "lmfit": ("lmfit",),
    "matplotlib": ("matplotlib",),
    "mayavi": ("mayavi",),
    "metpy": ("metpy",),
    "momepy": ("momepy",),
    "mpl_toolkits": ("matplotlib",),  # axes_grid1 and mplot3d ship with matplotlib
    "netCDF4": ("netcdf4",),
    "networkx": ("networkx",),
    "numba": ("numba",),
    "numpy": ("numpy",),
    "osmnx": ("osmnx",),
    "pandas": ("pandas",),
    "patsy": ("patsy",),
    "pvlib": ("pvlib",),
    "pydeseq2": ("pydeseq2",),
    "pygraphviz": ("pygraphviz",),
    "pytorch_lightning": ("pytorch-lightning", "lightning"),
    "scipy": ("scipy",),
    "seaborn": ("seaborn",),
    "shapely": ("shapely",),
    "sklearn": ("scikit-learn",),
    "splot": ("splot",),
    "statsmodels": ("statsmodels",),
    "sympy": ("sympy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "tigramite": ("tigramite",),
    "torch": ("torch",),
    "uncertainties": ("uncertainties",),
    "xarray": ("xarray",),
    "xgboost": ("xgboost",),
}


def canonical(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def import_names(dist: str) -> tuple[str, ...]:
    return IMPORT_NAMES.get(dist, (dist.replace("-", "_"),))


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------


@dataclass
class Ran:
    argv: list[str]
    rc: int | None  # None: killed at the timeout
    out: str
    err: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def why(self) -> str:
        if self.rc is None:
            return f"timed out after {self.elapsed:.0f} s"
        tail = [line for line in self.err.strip().splitlines() if line.strip()][-1:] or ["(no stderr)"]
        return f"exit {self.rc}: {tail[0][:160]}"


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def run(argv: list[str], *, timeout: float, offline: bool = False, cwd: Path | None = None) -> Ran:
    """Run argv to its end (killed at the timeout); offline runs it in a new network namespace."""
    full = ["unshare", "--net", "--", *argv] if offline else argv
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    start = time.perf_counter()
    try:
        p = subprocess.run(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return Ran(full, None, _text(e.stdout), _text(e.stderr), time.perf_counter() - start)
    return Ran(full, p.returncode, _text(p.stdout), _text(p.stderr), time.perf_counter() - start)


def check_offline() -> None:
    ran = run(
        ["python3", "-c", "import socket; socket.create_connection(('pypi.org', 443), 3)"], timeout=30, offline=True
    )
    if ran.rc == 0:
        raise BenchError("`unshare --net` still reaches pypi.org: cannot measure the offline condition")
    if "unshare" in ran.err and "Traceback" not in ran.err:
        raise BenchError(f"`unshare --net` does not work here (run as root): {ran.why()}")


# --------------------------------------------------------------------------
# venvs
# --------------------------------------------------------------------------

_CLEAN_CHECK = (
    "import os, sysconfig; sp = os.path.join(sysconfig.get_paths()['stdlib'], 'site-packages');"
    "names = os.listdir(sp) if os.path.isdir(sp) else [];"
    "print(not any(n.endswith(('.dist-info', '.egg-info')) for n in names))"
)


def clean_base_python() -> str:
    """An interpreter with no packages under its stdlib folder.

    pipreqs --use-local walks every sys.path entry, and a venv's sys.path holds the base interpreter's
    stdlib folder, which in a pyenv or python.org build contains that interpreter's site-packages: from
    such a base pipreqs would see whatever the base has installed, which is not "a laptop without the
    packages".  Debian's /usr/bin/python3 keeps its packages elsewhere.
    """
    candidates = ["/usr/bin/python3", getattr(sys, "_base_executable", sys.executable), "python3"]
    for exe in candidates:
        ran = run([exe, "-c", _CLEAN_CHECK], timeout=30) if shutil.which(exe) else None
        if ran and ran.ok and ran.out.strip() == "True":
            return exe
    say(f"warning: no base python without packages in its stdlib folder; pipreqs sees {candidates[1]}'s")
    return candidates[1]


def ensure_venv(name: str, base: str, packages: list[str]) -> Path:
    """CACHE/venvs/NAME made from BASE with PACKAGES (pinned); reused while both are unchanged."""
    home = CACHE / "venvs" / name
    stamp = home / "bench-stamp.json"
    want = json.dumps({"base": base, "packages": packages})
    if stamp.is_file() and stamp.read_text() == want:
        return home / "bin" / "python"
    shutil.rmtree(home, ignore_errors=True)
    say(f"creating venv {name} from {base} with {' '.join(packages) or 'nothing'}")
    steps = [[base, "-m", "venv", str(home)]]
    if packages:
        steps.append([str(home / "bin" / "python"), "-m", "pip", "install", "-q", *packages])
    for argv in steps:
        ran = run(argv, timeout=PIP_TIMEOUT)
        if not ran.ok:
            raise BenchError(f"venv {name}: {' '.join(argv[:4])}... {ran.why()}")
    stamp.write_text(want)
    return home / "bin" / "python"


# --------------------------------------------------------------------------
# fetching and unpacking the corpus
# --------------------------------------------------------------------------


def fetch(project: Project, fetch_python: Path) -> Path:
    """The project's sdist file, downloaded once into CACHE/sdists/NAME-VERSION/."""
    dest = CACHE / "sdists" / f"{project.name}-{project.version}"
    found = sorted(p for p in dest.glob("*") if p.name.endswith((".tar.gz", ".zip")))
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    say(f"downloading {project.spec}")
    ran = run(
        [
            str(fetch_python),
            "-m",
            "pip",
            "download",
            "-q",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--no-build-isolation",
            "-d",
            str(dest),
            project.spec,
        ],
        timeout=PIP_TIMEOUT,
    )
    found = sorted(p for p in dest.glob("*") if p.name.endswith((".tar.gz", ".zip")))
    if not ran.ok or not found:
        raise BenchError(f"pip download {project.spec}: {ran.why()}")
    return found[0]


def _safe_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for m in tar.getmembers():
        if (m.isfile() or m.isdir()) and not m.name.startswith("/") and ".." not in Path(m.name).parts:
            yield m


def unpack(project: Project, sdist: Path) -> Path:
    """The sdist's top folder, unpacked once into CACHE/src/NAME-VERSION."""
    target = CACHE / "src" / f"{project.name}-{project.version}"
    if (target / "PKG-INFO").is_file():
        return target
    tmp = target.parent / f"{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as z:
            z.extractall(tmp)  # noqa: S202 - zipfile drops ".." and absolute paths itself
    else:
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, members=_safe_members(tar))  # noqa: S202 - members checked by _safe_members
    tops = [p for p in tmp.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "PKG-INFO").is_file():
        raise BenchError(f"{sdist.name}: expected one top folder with PKG-INFO")
    shutil.rmtree(target, ignore_errors=True)
    tops[0].rename(target)
    shutil.rmtree(tmp)
    return target


# --------------------------------------------------------------------------
# the truth: declared requirements
# --------------------------------------------------------------------------

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)"""
    r"""|(?P<kw>and\b|or\b|\(|\))|(?P<var>[A-Za-z_][A-Za-z0-9_.]*))"""
)
_VERSION_VARS = {"python_version", "python_full_version", "implementation_version"}

ENV_SNIPPET = (
    "import json, os, platform, sys; v = platform.python_version();"
    "print(json.dumps({'python_version': '.'.join(v.split('.')[:2]), 'python_full_version': v,"
    "'implementation_version': v, 'os_name': os.name, 'sys_platform': sys.platform,"
    "'platform_system': platform.system(), 'platform_machine': platform.machine(),"
    "'platform_release': platform.release(), 'platform_version': platform.version(),"
    "'platform_python_implementation': platform.python_implementation(),"
    "'implementation_name': sys.implementation.name}))"
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text.split("+")[0])[:4])


def _compare(left: str, op: str, right: str, as_version: bool) -> bool:
    if op.startswith("not"):
        return left not in right
    if op == "in":
        return left in right
    if op == "===":
        return left == right
    if not as_version:
        return _ordered(left, op, right)
    va, vb = _version(left), _version(right)
    width = max(len(va), len(vb))
    a, b = va + (0,) * (width - len(va)), vb + (0,) * (width - len(vb))
    if op == "~=":
        return a >= b and a[: len(vb) - 1] == b[: len(vb) - 1]
    return _ordered(a, op, b)


def _ordered(a: Any, op: str, b: Any) -> bool:
    return bool({"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}.get(op, False))


def marker_applies(marker: str, env: dict[str, str]) -> bool:
    """Evaluate a PEP 508 environment marker (without `extra`) against env."""
    tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(marker) if m.lastgroup]
    pos = 0

    def take() -> tuple[str | None, str]:
        nonlocal pos
        pos += 1
        return tokens[pos - 1] if pos <= len(tokens) else (None, "")

    def value(tok: tuple[str | None, str]) -> str:
        return tok[1][1:-1] if tok[0] == "str" else env.get(tok[1], "")

    def atom() -> bool:
        if pos < len(tokens) and tokens[pos][1] == "(":
            take()
            result = either()
            take()  # ")"
            return result
        left, (_, op), right = take(), take(), take()
        as_version = left[1] in _VERSION_VARS or right[1] in _VERSION_VARS
        return _compare(value(left), " ".join(op.split()), value(right), as_version)

    def both() -> bool:
        result = atom()
        while pos < len(tokens) and tokens[pos][1] == "and":
            take()
            result = atom() and result
        return result

    def either() -> bool:
        result = both()
        while pos < len(tokens) and tokens[pos][1] == "or":
            take()
            result = both() or result
        return result

    return either()


@dataclass(frozen=True)
class Truth:
    base: frozenset[str]  # required here: no extra, marker true for the target python
    declared: frozenset[str]  # every name the project declares: base with any marker, and all extras
    source: str


def _split(line: str) -> tuple[str, str] | None:
    """(canonical name, marker) of a requirement line, None for a blank or a comment."""
    line = line.split(" #")[0].strip()
    m = _NAME.match(line)
    if not line or line.startswith("#") or not m:
        return None
    return canonical(m.group(1)), (line.split(";", 1)[1].strip() if ";" in line else "")


def _from_pkg_info(src: Path) -> list[tuple[str, str]]:
    meta = email.parser.Parser().parsestr((src / "PKG-INFO").read_text(errors="replace"))
    return [r for r in map(_split, meta.get_all("Requires-Dist") or []) if r]


def _from_requires_txt(src: Path) -> list[tuple[str, str]]:
    files = sorted(src.glob("*.egg-info/requires.txt")) + sorted(src.glob("src/*.egg-info/requires.txt"))
    reqs: list[tuple[str, str]] = []
    section = ""
    for line in files[0].read_text().splitlines() if files else []:
        if line.startswith("["):
            extra, _, cond = line.strip("[]").partition(":")
            section = " and ".join(filter(None, [f"extra == '{extra}'" if extra else "", cond]))
        elif r := _split(line):
            reqs.append((r[0], " and ".join(filter(None, [r[1], section]))))
    return reqs


def _from_pyproject(src: Path) -> list[tuple[str, str]]:
    path = src / "pyproject.toml"
    project = tomllib.loads(path.read_text()).get("project", {}) if path.is_file() else {}
    reqs = [r for r in map(_split, project.get("dependencies", [])) if r]
    for extra, lines in project.get("optional-dependencies", {}).items():
        reqs += [(name, f"extra == '{extra}'") for name, _ in filter(None, map(_split, lines))]
    return reqs


def read_truth(src: Path, env: dict[str, str]) -> Truth:
    """The first of PKG-INFO, egg-info/requires.txt, pyproject.toml that declares anything."""
    readers = {"PKG-INFO": _from_pkg_info, "requires.txt": _from_requires_txt, "pyproject.toml": _from_pyproject}
    source, reqs = next(((name, r) for name, read in readers.items() if (r := read(src))), ("none", []))
    base = {
        name
        for name, marker in reqs
        if not re.search(r"\bextra\b", marker) and (not marker or marker_applies(marker, env))
    }
    return Truth(frozenset(base), frozenset(name for name, _ in reqs), source)


# --------------------------------------------------------------------------
# what the code imports (for the "imported truth" recall only)
# --------------------------------------------------------------------------


def _tops(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    tops: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def _cells(path: Path) -> Iterable[str]:
    try:
        nb = json.loads(path.read_text(errors="replace"))
    except (ValueError, OSError):
        return []
    out = []
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            lines = src if isinstance(src, list) else src.splitlines(keepends=True)
            out.append("".join(line for line in lines if not line.lstrip().startswith(("%", "!"))))
    return out


def imported_tops(src: Path) -> set[str]:
    tops: set[str] = set()
    for path in src.rglob("*"):
        if path.suffix == ".py" and path.is_file():
            tops |= _tops(path.read_text(encoding="utf-8-sig", errors="replace"))
        elif path.suffix == ".ipynb" and path.is_file():
            for cell in _cells(path):
                tops |= _tops(cell)
    return tops


# --------------------------------------------------------------------------
# the tools
# --------------------------------------------------------------------------


def parse_requirements(text: str) -> set[str]:
    """Canonical names of a requirements.txt's requirements; comments and options are no prediction."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")) and (m := _NAME.match(line)):
            names.add(canonical(m.group(1)))
    return names


def parse_pigar(text: str) -> set[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    _, marker, rest = text.partition("Generated requirements are as follows:")
    return parse_requirements(rest) if marker else set()


@dataclass(frozen=True)
class Tool:
    name: str
    argv: Callable[[Path], list[str]]
    parse: Callable[[str], set[str]]


def make_tools(remotebook_python: Path, empty_python: Path, venvs: dict[str, Path]) -> list[Tool]:
    pipreqs = str(venvs["pipreqs"].parent / "pipreqs")
    pigar = str(venvs["pigar"].parent / "pigar")
    return [
        Tool(
            "remotebook",
            lambda d: [
                str(remotebook_python),
                "-m",
                "remotebook",
                "reqs",
                str(d),
                "-o",
                "-",
                "--pin",
                "none",
                "--python",
                str(empty_python),
            ],
            parse_requirements,
        ),
        Tool("pipreqs", lambda d: [pipreqs, "--use-local", "--print", "--scan-notebooks", str(d)], parse_requirements),
        Tool(
            "pigar",
            lambda d: [
                pigar,
                "generate",
                "--dry-run",
                "--auto-select",
                "--question-answer",
                "yes",
                "--dont-show-differences",
                "-c",
                "-",
                str(d),
            ],
            parse_pigar,
        ),
    ]


def parse_notes(text: str) -> dict[str, str]:
    """What remotebook's comment sections say of the names that it did not predict.

    `# Optional: ...` lists distributions (`# bokeh`), `# Unresolved: ...` lists imports
    (`# import fbpca  (file:line)`); the result maps both kinds of name to "optional" or "unresolved".
    """
    notes, section = {}, ""
    for line in text.splitlines():
        if line.startswith(("# Optional", "# Unresolved")):
            section = line[2:].split(":")[0].lower()
        elif not line.strip():
            section = ""
        elif section and (m := re.match(r"#\s+(?:import\s+)?([A-Za-z0-9_.-]+)", line)):
            notes[m.group(1).split(".")[0]] = section
            notes[canonical(m.group(1))] = section
    return notes


@dataclass
class Outcome:
    predicted: frozenset[str]
    failed: str  # "" when the tool ran to exit 0
    elapsed: float
    notes: dict[str, str] = field(default_factory=dict)  # see parse_notes


def run_tool(tool: Tool, src: Path, cwd: Path) -> Outcome:
    ran = run(tool.argv(src), timeout=TOOL_TIMEOUT, offline=True, cwd=cwd)
    if not ran.ok:
        return Outcome(frozenset(), ran.why(), ran.elapsed)
    return Outcome(frozenset(tool.parse(ran.out)), "", ran.elapsed, parse_notes(ran.out))


# --------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One requirement of the truth: any of `names` satisfies it."""

    names: tuple[str, ...]  # canonical distribution names
    imports: tuple[str, ...]  # its import names
    imported: bool  # an import of it appears in the scanned files


@dataclass
class Case:
    """One folder that every tool scans, with the requirements it truly has."""

    label: str
    research: bool
    folder: Path
    truth_source: str
    needs: tuple[Need, ...]  # recall's denominator
    declared: frozenset[str]  # a prediction is right when it is one of these
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def missed(self, tool: str) -> list[Need]:
        pred = self.outcomes[tool].predicted
        return [n for n in self.needs if not pred & set(n.names)]

    def added(self, tool: str) -> list[str]:
        return sorted(self.outcomes[tool].predicted - self.declared)


@dataclass
class Score:
    predicted: int = 0
    correct: int = 0
    needed: int = 0
    found: int = 0
    imported: int = 0  # needs whose import appears in the code
    found_imported: int = 0
    cases: int = 0
    failures: int = 0
    seconds: float = 0.0

    def add(self, case: Case, tool: str) -> None:
        outcome = case.outcomes[tool]
        missed = case.missed(tool)
        self.predicted += len(outcome.predicted)
        self.correct += len(outcome.predicted & case.declared)
        self.needed += len(case.needs)
        self.found += len(case.needs) - len(missed)
        self.imported += sum(n.imported for n in case.needs)
        self.found_imported += sum(n.imported for n in case.needs) - sum(n.imported for n in missed)
        self.cases += 1
        self.failures += bool(outcome.failed)
        self.seconds += outcome.elapsed

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.needed if self.needed else None

    @property
    def recall_imported(self) -> float | None:
        return self.found_imported / self.imported if self.imported else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r else None


def score(cases: Iterable[Case], tool: str) -> Score:
    total = Score()
    for case in cases:
        total.add(case, tool)
    return total


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def sdist_case(project: Project, src: Path, env: dict[str, str]) -> Case:
    """The whole unpacked sdist; the truth is its declared requirements."""
    truth = read_truth(src, env)
    tops = imported_tops(src)
    needs = tuple(Need((d,), import_names(d), any(n in tops for n in import_names(d))) for d in sorted(truth.base))
    return Case(project.spec, project.research, src, truth.source, needs, truth.declared)


def notebook_case(project: Project, src: Path) -> Case:
    """The project's notebooks and example scripts alone; the truth is the hand-labelled CASE_LABELS."""
    folder = CACHE / "cases" / f"{project.name}-{project.version}"
    if not (folder / ".done").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        for sub in CASES[project.name]:
            (shutil.copytree if (src / sub).is_dir() else shutil.copy2)(src / sub, folder / sub)
        (folder / ".done").write_text("")
    files = [p for p in folder.rglob("*") if p.suffix in (".py", ".ipynb")]
    # the case's own modules: .py files and folders holding them (a notebook is no module)
    local = {p.stem for p in files if p.suffix == ".py"} | {p.parent.name for p in files if p.suffix == ".py"}
    by_dist: dict[str, list[str]] = {}
    for top in sorted(imported_tops(folder) - set(sys.stdlib_module_names) - local):
        if top not in CASE_LABELS:
            say(f"warning: {project.spec} notebooks: import {top} has no label in CASE_LABELS; not counted")
            continue
        by_dist.setdefault(CASE_LABELS[top][0], []).append(top)
    needs = tuple(Need(CASE_LABELS[tops[0]], tuple(tops), True) for tops in by_dist.values())
    declared = frozenset(name for need in needs for name in need.names)
    label = f"{project.spec}: {len(files)} files in {', '.join(CASES[project.name])}"
    return Case(label, True, folder, "labelled", needs, declared)


# --------------------------------------------------------------------------
# the 1,000 generated files
# --------------------------------------------------------------------------

_THIRD_PARTY = [
    "import numpy as np",
    "import pandas as pd",
    "import matplotlib.pyplot as plt",
    "from scipy import stats",
    "from sklearn.model_selection import train_test_split",
    "import torch",
    "import torch.nn as nn",
    "import yaml",
    "from PIL import Image",
    "import cv2",
    "from bs4 import BeautifulSoup",
    "import requests",
    "from tqdm import tqdm",
    "import seaborn as sns",
    "import xarray as xr",
    "import h5py",
    "import astropy.units as u",
    "import networkx as nx",
    "import statsmodels.api as sm",
    "from skimage import io",
    "import dateutil.parser",
    "import lmfit",
    "import emcee",
]
_STDLIB = [
    "import os",
    "import sys",
    "import json",
    "import re",
    "import math",
    "from pathlib import Path",
    "import itertools",
    "from collections import defaultdict",
    "import logging",
    "import argparse",
    "from dataclasses import dataclass",
    "import functools",
    "import typing as t",
    "import csv",
]


def _function(rng: random.Random, i: int, lazy_import: bool) -> list[str]:
    lines = [
        f"def step_{i}(data, scale={rng.randint(1, 9)}, *, verbose=False):",
        f'    """Transform the batch {i} of the measurements and return the summary."""',
        "    out = []",
    ]
    if lazy_import:
        lines += ["    from scipy.optimize import curve_fit  # slow to import: only when fitting"]
    for j in range(rng.randint(4, 14)):
        lines.append(
            rng.choice(
                [
                    f"    for k, v in enumerate(data[{j}:]):\n        out.append(v * scale + k)",
                    f"    if verbose:\n        print(f'step {i}.{j}', len(out))",
                    f"    total_{j} = sum(x ** 2 for x in out) / max(len(out), 1)",
                    f"    # normalise by the running mean (see the notes of run {j})",
                    f"    label_{j} = 'sample-{j}-' + str(scale)",
                    f"    weights_{j} = sorted(out, key=abs)[-3:]  # the largest terms",
                ]
            )
        )
    lines += ["    return out", ""]
    return lines


def _chunks(rng: random.Random, n: int, notebook: bool, kind: str) -> list[list[str]]:
    """A module of 100-300 lines as top-level chunks: the imports, one chunk per function, the main block.

    kind "mix": besides one-line imports at column 0, 1 file in 5 has an optional import under try/except
    ImportError, 1 in 10 an import inside a function, 1 in 10 the word "importances" in its code;
    "plain": none of these; "all-parsed": every file has the optional import, so a scanner must parse it.
    """
    weight = {"mix": 1.0, "plain": 0.0, "all-parsed": 0.0}[kind]
    head = [f'"""Analysis module {n}: loads the data, fits the model, plots the results."""', ""]
    head += rng.sample(_STDLIB, 4) + rng.sample(_THIRD_PARTY, rng.randint(2, 6))
    head += [] if notebook else [f"from .helpers_{n % 7} import load_frame"]
    if kind == "all-parsed" or rng.random() < 0.2 * weight:
        head += ["", "try:", "    import numba", "except ImportError:", "    numba = None"]
    if rng.random() < 0.1 * weight:
        head += ["", "def ranked(model):", "    return sorted(model.feature_importances_, reverse=True)"]
    lazy = rng.random() < 0.1 * weight
    chunks, size, target = [head + [""]], len(head) + 1, rng.randint(100, 300)
    while size < target:
        chunks.append(_function(rng, len(chunks) - 1, lazy_import=lazy and len(chunks) == 1))
        size += len(chunks[-1])
    chunks.append(["if __name__ == '__main__':", "    step_0(list(range(10)), verbose=True)"])
    return chunks


def _module(rng: random.Random, n: int, kind: str) -> str:
    return "\n".join(line for chunk in _chunks(rng, n, False, kind) for line in chunk) + "\n"


def _notebook(rng: random.Random, n: int, kind: str) -> dict[str, object]:
    cells: list[dict[str, object]] = [
        {"cell_type": "markdown", "metadata": {}, "source": [f"# Experiment {n}\n", "Fit and plot the runs.\n"]},
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "outputs": [],
            "source": ["%matplotlib inline\n", "!pip install -q lmfit\n"],
        },
    ]
    for i, chunk in enumerate(_chunks(rng, n, True, kind)):
        cells.append(
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": i + 2,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["step 0 10\n"] * 5}],
                "source": [line + "\n" for line in chunk],
            }
        )
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def synth_files(kind: str) -> Path:
    """SYNTH_FILES files (3 of 4 .py, 1 of 4 .ipynb, 100-300 lines) in 20 folders; made once per kind."""
    root = CACHE / f"synth-{SYNTH_VERSION}-{kind}"
    if (root / "done").is_file():
        return root / "project"
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(20240601)
    for n in range(SYNTH_FILES):
        folder = root / "project" / f"study_{n % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        if n % 4 == 3:
            (folder / f"notebook_{n:04d}.ipynb").write_text(json.dumps(_notebook(rng, n, kind), indent=1))
        else:
            (folder / f"analysis_{n:04d}.py").write_text(_module(rng, n, kind))
    (root / "done").write_text("")
    return root / "project"


def time_tool(tool: Tool, src: Path, runs: int, cwd: Path) -> tuple[list[float], str]:
    """Wall-clock seconds of each run of the whole command, and the failure of the last, if any."""
    times, failed = [], ""
    for _ in range(runs):
        ran = run(tool.argv(src), timeout=TOOL_TIMEOUT, offline=True, cwd=cwd)
        times.append(ran.elapsed)
        failed = "" if ran.ok else ran.why()
    return times, failed


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------


def summary_table(cases: list[Case], tools: list[str], subset: bool) -> list[str]:
    head = "| tool | failed runs | precision | recall | F1 | recall (imported truth) |"
    rows = [head + (" research precision | research recall | research recall (imported) |" if subset else "")]
    rows[0] += " scan time, all (s) |"
    rows.append("|---" * rows[0].count(" | ") + "|---|")
    for tool in tools:
        s = score(cases, tool)
        row = f"| {tool} | {s.failures}/{s.cases} | {fmt(s.precision)} | {fmt(s.recall)} | {fmt(s.f1)} "
        row += f"| {fmt(s.recall_imported)} |"
        if subset:
            r = score((c for c in cases if c.research), tool)
            row += f" {fmt(r.precision)} | {fmt(r.recall)} | {fmt(r.recall_imported)} |"
        rows.append(row + f" {s.seconds:.1f} |")
    return rows


def case_table(cases: list[Case], tools: list[str]) -> list[str]:
    rows = [
        "| case | research | truth | needed | imported | " + " | ".join(f"{t} P / R" for t in tools) + " |",
        "|---|---|---|---|---|" + "---|" * len(tools),
    ]
    for c in cases:
        cells = []
        for t in tools:
            s = score([c], t)
            cells.append("**failed**" if c.outcomes[t].failed else f"{fmt(s.precision)} / {fmt(s.recall)}")
        imported = sum(n.imported for n in c.needs)
        row = f"| {c.label} | {'yes' if c.research else 'no'} | {c.truth_source} | {len(c.needs)} | {imported} | "
        rows.append(row + " | ".join(cells) + " |")
    return rows


def _missed(need: Need, notes: dict[str, str]) -> str:
    why = [notes[k] for k in (*need.names, *need.imports) if k in notes][:1]
    tags = ["imported"] * need.imported + why
    return need.names[0] + (f" ({', '.join(tags)})" if tags else "")


def details(cases: list[Case], tool: str) -> list[str]:
    lines = []
    for c in cases:
        o = c.outcomes[tool]
        missed, added = c.missed(tool), c.added(tool)
        if o.failed:
            lines.append(f"* {c.label}: **failed**: {o.failed}")
        elif missed or added:
            shown = ", ".join(_missed(n, o.notes) for n in missed) or "–"
            lines.append(f"* {c.label}: missed {shown}; added {', '.join(added) or '–'}")
    return lines or ["* none"]


def failures(cases: list[Case], tools: list[str]) -> list[str]:
    lines = [f"* {t} on {c.label}: {c.outcomes[t].failed}" for t in tools for c in cases if c.outcomes[t].failed]
    return lines or ["* none"]


def speed_table(speeds: dict[str, tuple[list[float], str]]) -> list[str]:
    body = []
    for label, (times, failed) in speeds.items():
        st = summary(times) or (0.0, 0.0, 0.0)
        files = 0 if "empty" in label else SYNTH_FILES
        body.append([label, str(files), *(f"{x:.2f}" for x in st), str(len(times)), failed or "exit 0"])
    return table(["command", "files", "median (s)", "min", "max", "runs", "note"], body)


def goals(
    sdists: list[Case], notebooks: list[Case], tools: list[str], speeds: dict[str, tuple[list[float], str]]
) -> list[str]:
    if "remotebook" not in tools:
        return []
    mine, others = score(sdists, "remotebook"), [score(sdists, t) for t in tools if t != "remotebook"]

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def beats(attr: str) -> str:
        value = getattr(mine, attr) or 0.0
        return mark(all(value > (getattr(o, attr) or 0.0) for o in others)) + f" ({fmt(getattr(mine, attr))})"

    lines = [
        f"* sdists: precision higher than every other tool: {beats('precision')}",
        f"* sdists: recall higher than every other tool: {beats('recall')}",
    ]
    for title, cases in (
        ("research notebooks and scripts", notebooks),
        ("research sdists", [c for c in sdists if c.research]),
    ):
        s = score(cases, "remotebook")
        if s.cases:
            lines.append(f"* {title}: precision >= 0.95: {mark((s.precision or 0) >= 0.95)} ({fmt(s.precision)})")
            lines.append(
                f"* {title}: recall >= 0.95: {mark((s.recall or 0) >= 0.95)} ({fmt(s.recall)}; "
                f"over imported truth {fmt(s.recall_imported)})"
            )
    if "remotebook" in speeds:
        med = statistics.median(speeds["remotebook"][0])
        lines.append(f"* {SYNTH_FILES} files in <= 1 s: {mark(med <= 1.0)} (median {med:.2f} s)")
    return lines


def report(
    sdists: list[Case], notebooks: list[Case], tools: list[str], speeds: dict[str, tuple[list[float], str]]
) -> None:
    print(f"## reqs: accuracy on {len(sdists)} real sdists, offline (all / research subset)\n")
    print("\n".join(summary_table(sdists, tools, subset=True)) + "\n")
    if notebooks:
        print(f"## reqs: accuracy on the notebooks and scripts of {len(notebooks)} research projects, offline\n")
        print("\n".join(summary_table(notebooks, tools, subset=False)) + "\n")
    if speeds:
        print(f"## reqs: speed over {SYNTH_FILES} generated files, offline\n")
        print("\n".join(speed_table(speeds)) + "\n")
    if lines := goals(sdists, notebooks, tools, speeds):
        print("## Goals\n\n" + "\n".join(lines) + "\n")
    print("## Per case (precision / recall)\n")
    print("\n".join(case_table(sdists + notebooks, tools)) + "\n")
    print("## Tool failures\n\n" + "\n".join(failures(sdists + notebooks, tools)) + "\n")
    for t in tools:
        print(f"## {t}: requirements missed, predictions not in the truth\n")
        print("\n".join(details(sdists + notebooks, t)) + "\n")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def prepare(projects: list[Project], fetch_python: Path, env: dict[str, str]) -> tuple[list[Case], list[Case]]:
    sdists, notebooks = [], []
    for p in projects:
        src = unpack(p, fetch(p, fetch_python))
        sdists.append(sdist_case(p, src, env))
        if p.name in CASES:
            notebooks.append(notebook_case(p, src))
    return sdists, notebooks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 projects, 3 timing runs of remotebook, 1 of the others")
    ap.add_argument("--tools", default="remotebook,pipreqs,pigar", help="comma-separated subset of the tools")
    ap.add_argument("--only", default="", help="comma-separated project names (overrides --quick's corpus)")
    ap.add_argument("--runs", type=int, default=0, help="timing runs of remotebook (default 5, --quick 3)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 1,000-file timing")
    ap.add_argument(
        "--remotebook-python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="the interpreter that has remotebook installed (default: the repo's .venv)",
    )
    ap.add_argument("--raw", type=Path, help="also write every prediction and truth as JSON")
    return ap.parse_args(argv)


def select(args: argparse.Namespace) -> list[Project]:
    if args.only:
        wanted = {canonical(n) for n in args.only.split(",")}
        return [p for p in CORPUS if p.name in wanted]
    return [p for p in CORPUS if p.quick or not args.quick]


def write_raw(path: Path, cases: list[Case], speeds: dict[str, tuple[list[float], str]]) -> None:
    data = {
        "cases": [
            {
                "label": c.label,
                "research": c.research,
                "truth_source": c.truth_source,
                "needs": [{"names": n.names, "imports": n.imports, "imported": n.imported} for n in c.needs],
                "declared": sorted(c.declared),
                "tools": {
                    t: {"predicted": sorted(o.predicted), "failed": o.failed, "seconds": o.elapsed, "notes": o.notes}
                    for t, o in c.outcomes.items()
                },
            }
            for c in cases
        ],
        "speed": {k: {"seconds": v[0], "failed": v[1]} for k, v in speeds.items()},
    }
    path.write_text(json.dumps(data, indent=1))


def measure_speed(tools: list[Tool], runs: int, cwd: Path) -> dict[str, tuple[list[float], str]]:
    synth = synth_files("mix")
    empty_dir = CACHE / "empty-project"
    empty_dir.mkdir(exist_ok=True)
    speeds = {}
    for tool in tools:
        say(f"timing {tool.name} over {SYNTH_FILES} files")
        speeds[tool.name] = time_tool(tool, synth, runs if tool.name == "remotebook" else max(1, runs // 2), cwd)
        if tool.name == "remotebook":
            for kind, label in (("plain", "only one-line imports at column 0"), ("all-parsed", "an import under try")):
                speeds[f"remotebook, every file with {label}"] = time_tool(tool, synth_files(kind), runs, cwd)
            speeds["remotebook, empty folder (start-up)"] = time_tool(tool, empty_dir, runs, cwd)
    return speeds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [t for t in args.tools.split(",") if t]
    if "remotebook" in wanted and not args.remotebook_python.exists():
        raise BenchError(
            f"{args.remotebook_python} not found: make the dev venv (bash scripts/dev-env.sh) or pass --remotebook-python"
        )
    check_offline()
    base = clean_base_python()
    venvs = {name: ensure_venv(name, base, pkgs) for name, pkgs in TOOL_PACKAGES.items()}
    empty_python = ensure_venv("empty", base, [])
    fetch_python = ensure_venv("fetch", base, FETCH_PACKAGES)
    env = json.loads(run([str(empty_python), "-c", ENV_SNIPPET], timeout=30).out)
    tools = [t for t in make_tools(args.remotebook_python, empty_python, venvs) if t.name in wanted]
    names = [t.name for t in tools]

    sdists, notebooks = prepare(select(args), fetch_python, env)
    cwd = CACHE / "cwd"  # an empty working directory: no tool finds the project through its cwd
    cwd.mkdir(parents=True, exist_ok=True)
    for case in sdists + notebooks:
        for tool in tools:
            case.outcomes[tool.name] = run_tool(tool, case.folder, cwd)
        say(
            f"{case.label}: "
            + ", ".join(
                f"{t} {o.failed and 'FAILED' or len(o.predicted)} in {o.elapsed:.1f} s"
                for t, o in case.outcomes.items()
            )
        )
    speeds = {} if args.no_speed else measure_speed(tools, args.runs or (3 if args.quick else 5), cwd)
    report(sdists, notebooks, names, speeds)
    if args.raw:
        write_raw(args.raw, sdists + notebooks, speeds)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        say(f"error: {e}")
        sys.exit(1)
