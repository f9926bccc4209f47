"""requirements.txt from a project's imports: scan, resolve, pin, render; and the --check comparison."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from remotebook.core.errors import UsageError
from remotebook.deps import resolve, scan

HEADER = "# Written by `remotebook reqs` from the imports in the project's .py and .ipynb files."
PINS = ("exact", "compatible", "none")
_PIP_LINE = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?P<rest>.*)$")


@dataclass
class Requirement:
    name: str  # the distribution, spelled as its metadata or the table spells it
    spec: str = ""  # "==1.2.3", "~=1.2.3", "[cuda]>=2" (from a %pip line), or ""
    marker: str = ""  # PEP 508 environment marker, without the "; "
    optional: bool = False
    where: str = ""  # the first place that needs it
    note: str = ""  # e.g. why it is not pinned
    version: str = ""  # installed in the project's Python, when known
    by_name: bool = False  # known only as a popular PyPI project of the import's name
    dev: bool = False  # imported only by tests, the docs' conf.py or dev tooling

    @property
    def key(self) -> str:
        return resolve.canonical(self.name)

    def line(self) -> str:
        text = self.name + self.spec + (f"; {self.marker}" if self.marker else "")
        return f"{text}  # {self.note}" if self.note else text


@dataclass
class Report:
    requirements: list[Requirement] = field(default_factory=list)
    optional: list[Requirement] = field(default_factory=list)
    dev: list[Requirement] = field(default_factory=list)
    unresolved: list[tuple[str, str]] = field(default_factory=list)  # (import name, where [+ ", optional"])
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    python: str = ""  # the interpreter asked for installed packages ("" if none)

    @property
    def text(self) -> str:
        out = [HEADER, "# Edit freely: `remotebook reqs --check` compares this file with the imports again."]
        out += [r.line() for r in self.requirements]
        if self.optional:
            out += ["", "# Optional: imported only inside try/except ImportError or under TYPE_CHECKING."]
            out += [f"# {r.line()}" for r in self.optional]
        if self.dev:
            out += ["", "# Imported only by tests, docs or dev tooling (install them where you run those)."]
            out += [f"# {r.line()}" for r in self.dev]
        if self.unresolved:
            out += ["", "# Unresolved: no installed or known distribution provides these imports; add them by hand."]
            out += [f"# import {name}  ({where})" for name, where in self.unresolved]
        return "\n".join(out) + "\n"


def build(root: Path, *, pin: str = "exact", python: str | None = None, exclude: tuple[str, ...] = ()) -> Report:
    """Scan root, resolve every third-party import, pin to what the project's Python has."""
    if pin not in PINS:
        raise ValueError(f"pin must be one of {PINS}")
    found = scan.scan(root, exclude)
    own = _own_names(root) | {resolve.canonical(n) for n in found.local}
    wanted = [i for i in found.imports if _third_party(i.name, found.local)]
    modules = sorted({".".join(i.name.split(".")[:3]) for i in wanted})
    pips = {req: _split_pip(req) for req in found.pip}
    table_dists = {m: resolve.from_table(m) for m in modules}
    named = {m: resolve.by_name(m.partition(".")[0]) for m in modules if not table_dists[m]}  # the last resort
    known = {**named, **{m: d for m, d in table_dists.items() if d}}
    ask = sorted({d for d in known.values() if d} | {name for name, _ in pips.values() if name})
    interpreter = resolve.find_python(root, python)
    installed = resolve.ask_installed(interpreter, modules, ask)

    by_dist: dict[str, Requirement] = {}
    unresolved: dict[str, tuple[str, bool]] = {}  # top-level name -> (where, only optional so far)
    for imp in wanted:
        module = ".".join(imp.name.split(".")[:3])
        local = installed.modules.get(module)
        dist = local[0] if local else known.get(module)
        if not dist:
            top = imp.name.partition(".")[0]
            where, optional = unresolved.get(top, (imp.where, True))
            unresolved[top] = (where, optional and imp.optional)
            continue
        if resolve.canonical(dist) in own:
            continue
        version = local[1] if local else ""
        guessed = not local and not table_dists[module]
        new = Requirement(dist, "", imp.marker, imp.optional, imp.where, version=version, by_name=guessed, dev=imp.dev)
        _merge(by_dist, new)
    for req, (name, rest) in pips.items():
        if name and resolve.canonical(name) not in own:
            _merge(by_dist, Requirement(name, rest, where=found.pip[req]), explicit=True)

    versions = {resolve.canonical(k): v for k, v in installed.versions.items() if v}
    for r in by_dist.values():
        _pin(r, pin, versions.get(r.key), bool(installed.python))
    ordered = sorted(by_dist.values(), key=lambda r: r.key)
    return Report(
        requirements=[r for r in ordered if not r.optional and not r.dev],
        optional=[r for r in ordered if r.optional and not r.dev],
        dev=[r for r in ordered if r.dev],
        unresolved=sorted((n, w + ", optional" if opt else w) for n, (w, opt) in unresolved.items()),
        files=found.files,
        warnings=found.warnings,
        python=installed.python,
    )


def _third_party(name: str, local: set[str]) -> bool:
    top = name.partition(".")[0]
    return bool(top) and top not in local and not scan.is_stdlib(name) and top != "__main__"


def _own_names(root: Path) -> set[str]:
    """The project's own distribution (pyproject.toml), which imports of itself must not list."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return set()
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        name = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {}).get("name", "")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return set()
    return {resolve.canonical(name)} if isinstance(name, str) and name else set()


def _split_pip(req: str) -> tuple[str, str]:
    m = _PIP_LINE.match(req.replace(" ", ""))
    return (m.group("name"), m.group("rest")) if m else ("", "")


def _merge(by_dist: dict[str, Requirement], new: Requirement, explicit: bool = False) -> None:
    """One requirement per distribution: the project's own use beats the tests', required beats
    optional, and a marker stays only if every use has it."""
    have = by_dist.get(new.key)
    if have is None:
        by_dist[new.key] = new
        return
    if explicit and new.spec:
        have.spec = new.spec  # `%pip install x==1.2` is the author's own choice
    have.version = have.version or new.version
    have.by_name = have.by_name and new.by_name
    if new.dev and not have.dev:
        return  # what tests import tells nothing about what the project needs
    if have.dev and not new.dev:
        have.dev, have.optional, have.marker, have.where = False, new.optional, new.marker, new.where
    elif have.optional and not new.optional:
        have.optional, have.marker, have.where = False, new.marker, new.where
    elif not new.optional and have.marker != new.marker:
        have.marker = ""


def _pin(r: Requirement, pin: str, version: str | None, asked: bool) -> None:
    version = r.version or version
    if r.spec or pin == "none":
        return
    if not version:
        r.note = "not installed here: not pinned" if asked else "no local Python asked: not pinned"
        if r.by_name:
            r.note = "a PyPI project of the import's name; " + r.note
        return
    public = version.split("+", 1)[0]  # a local label (2.1.0+cpu) names a build PyPI does not have
    if pin == "exact":
        r.spec = f"=={public}"
    else:
        release = re.match(r"\d+(?:\.\d+)*", public)
        base = release.group(0) if release else public
        r.spec = f"~={base}" if "." in base else f">={base}"


@dataclass
class Difference:
    kind: str  # "missing", "changed", "unused"
    name: str
    text: str


def compare(report: Report, existing: str, *, versions: bool, strict: bool = False) -> list[Difference]:
    """What `reqs` would change in an existing file: missing imports, other pins, and (strict) unused lines."""
    have = parse_requirements(existing)
    wanted = {r.key: r for r in report.requirements}
    imported_elsewhere = {r.key for r in (*report.optional, *report.dev)}  # listed as comments, but imported
    diffs = []
    for key, r in wanted.items():
        if key not in have:
            diffs.append(Difference("missing", r.name, f"+ {r.line()}  (imported at {r.where})"))
        elif versions and _norm(have[key]) != _norm(r.name + r.spec + (f";{r.marker}" if r.marker else "")):
            diffs.append(Difference("changed", r.name, f"~ {have[key]}  ->  {r.line()}"))
    if strict:
        hand_added = {resolve.canonical(name) for name, _ in report.unresolved}
        for key, line in have.items():
            if key not in wanted and key not in imported_elsewhere and key not in hand_added:
                diffs.append(Difference("unused", key, f"- {line}  (not imported anywhere)"))
    return diffs


def significant_lines(text: str) -> list[str]:
    """A requirements file's lines without comments and blank lines (options such as -i kept)."""
    lines = (re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip() for raw in text.splitlines())
    return [line for line in lines if line]


def parse_requirements(text: str) -> dict[str, str]:
    """canonical name -> requirement (comments, options and blank lines dropped)."""
    found = {}
    for line in significant_lines(text):
        if line.startswith("-"):
            continue
        m = _PIP_LINE.match(line)
        if m:
            found[resolve.canonical(m.group("name"))] = line
    return found


def _norm(line: str) -> str:
    name, _, rest = line.replace(" ", "").partition(";")
    m = _PIP_LINE.match(name)
    head = resolve.canonical(m.group("name")) + m.group("rest") if m else name
    return head + (";" + rest.replace("'", '"') if rest else "")


def ours(path: Path) -> bool:
    """Written by `remotebook reqs` (so it may be rewritten): its first line is our header."""
    with path.open(encoding="utf-8", errors="replace") as f:
        return f.readline().rstrip("\n") == HEADER


def write(target: Path, text: str, *, force: bool = False) -> None:
    """Atomically for a regular file; a hand-written one only with force."""
    if target.is_file() and not force and not ours(target):
        raise UsageError(
            f"{target} exists and was not written by remotebook",
            hint="compare with `remotebook reqs --check`, print with `-o -`, or overwrite with --force",
        )
    target = target.resolve()  # a symlinked requirements.txt is written through, not replaced
    if target.exists() and not target.is_file():  # /dev/stdout, a pipe: never replace those
        with target.open("w", encoding="utf-8") as out:
            out.write(text)
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)  # a reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
