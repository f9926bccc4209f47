"""Import names -> distributions: ask the project's Python what it has installed, then a curated table."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from remotebook.core import proc
from remotebook.core.errors import CommandError, UsageError

log = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("known_imports.txt")
POPULAR = Path(__file__).with_name("popular_names.txt")
PROBE_TIMEOUT = 60.0

# Runs in the project's interpreter (3.8+, stdlib only). stdin: {"modules": [...], "dists": [...]}.
# stdout: {"modules": {dotted: [dist, version] | null}, "versions": {dist: version | null}}.
# Not `-I`: that would hide `pip install --user` packages; the cwd is dropped from sys.path
# instead, so a project's own json.py cannot break the probe.
PROBE = r"""
import sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
import json
from importlib import metadata
ask = json.load(sys.stdin)
tops = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    text = dist.read_text("top_level.txt")
    names = set(text.split()) if text else set()
    if not names:
        for f in dist.files or ():
            parts = f.parts
            if parts and not parts[0].endswith((".dist-info", ".egg-info", "..")) and parts[0] != "bin":
                top = parts[0][:-3] if len(parts) == 1 and parts[0].endswith(".py") else parts[0]
                if len(parts) > 1 or parts[0].endswith((".py", ".so", ".pyd")):
                    names.add(top.split(".")[0])
    for top in names:
        tops.setdefault(top, []).append(dist)
def provides(dist, dotted):
    want = dotted.replace(".", "/")
    return any(str(f).replace("\\", "/").startswith((want + "/", want + ".")) for f in dist.files or ())
modules = {}
for dotted in ask["modules"]:
    found = tops.get(dotted.split(".")[0], [])
    if len(found) > 1:  # a namespace (google, azure): the dist that has the deepest part
        parts = dotted.split(".")
        for depth in range(len(parts), 1, -1):
            deeper = [d for d in found if provides(d, ".".join(parts[:depth]))]
            if deeper:
                found = deeper
                break
    modules[dotted] = [found[0].metadata["Name"], found[0].version] if found else None
versions = {}
for name in ask["dists"]:
    try:
        versions[name] = metadata.version(name)
    except Exception:
        versions[name] = None
json.dump({"modules": modules, "versions": versions}, sys.stdout)
"""


@dataclass
class Installed:
    """What the project's interpreter has: import name -> (distribution, version)."""

    python: str = ""  # "" when no interpreter was asked
    modules: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)


def find_python(root: Path, explicit: str | None) -> str:
    """The interpreter whose packages describe the project: --python, the active env, the project's venv, python3."""
    if explicit:
        found = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if not found:
            raise UsageError(f"--python {explicit}: no such interpreter", hint="give the path of a python executable")
        return found
    candidates = [os.environ.get("VIRTUAL_ENV", ""), os.environ.get("CONDA_PREFIX", "")]
    candidates += [str(root / d) for d in (".venv", "venv", "env", ".env")]
    for env in filter(None, candidates):
        python = Path(env) / "bin" / "python"
        if python.is_file() and ((Path(env) / "pyvenv.cfg").exists() or (Path(env) / "conda-meta").is_dir()):
            return str(python)
    return shutil.which("python3") or ""


def ask_installed(python: str, modules: list[str], dists: list[str]) -> Installed:
    """One run of `python -` with the probe; an interpreter that fails is reported, not fatal."""
    if not python:
        return Installed()
    try:
        result = proc.run(
            [python, "-c", PROBE],
            input=json.dumps({"modules": modules, "dists": dists}),
            timeout=PROBE_TIMEOUT,
            check=True,
        )
        answer = json.loads(result.stdout)
    except (CommandError, OSError, ValueError) as e:
        log.warning("could not ask %s for its installed packages (%s); using the table only", python, e)
        return Installed()
    found = {k: (v[0], v[1]) if v else None for k, v in answer["modules"].items()}
    return Installed(python, found, answer["versions"])


@cache
def table() -> dict[str, str]:
    """known_imports.txt: import name (dotted for namespace packages) -> distribution."""
    entries = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            module, dist = line.split()
            entries[module] = dist
    return entries


def from_table(dotted: str) -> str | None:
    """The longest dotted prefix in the table: google.cloud.storage.blob -> google-cloud-storage."""
    known = table()
    parts = dotted.split(".")
    for depth in range(len(parts), 0, -1):
        dist = known.get(".".join(parts[:depth]))
        if dist:
            return dist
    return None


@cache
def popular() -> frozenset[str]:
    """popular_names.txt: normalised names of PyPI's most-downloaded projects that are import names too."""
    lines = POPULAR.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


@cache
def namespace_roots() -> frozenset[str]:
    """google, azure, zope...: roots the table knows only by their dotted parts (never one project)."""
    return frozenset(module.partition(".")[0] for module in table() if "." in module)


def by_name(top: str) -> str | None:
    """The last resort for an unknown import: a most-downloaded PyPI project of that very name.

    Not for a namespace root: `azure.datalake` unknown to the table is not the `azure` project.
    """
    name = canonical(top)
    return name if name in popular() and top not in namespace_roots() else None


def canonical(name: str) -> str:
    """PEP 503: the form in which two spellings of a distribution name compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()
