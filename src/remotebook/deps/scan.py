"""Find a project's .py and .ipynb files and the modules they import (ast; IPython syntax handled)."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from remotebook.deps import notebook
from remotebook.deps.source import Import, imports_of

__all__ = ["Import", "Scan", "is_dev_file", "is_stdlib", "project_files", "scan"]

# Never the project's own code: tools' caches, environments, dependencies.
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "__pypackages__"})
# Build configuration, not what the code needs at run time.
SKIP_FILES = frozenset({"setup.py"})
# What only developers run: its imports are listed apart (tests, docs, release tooling).
DEV_DIRS = frozenset({"test", "tests", "testing"})
DEV_FILES = frozenset({"conftest.py", "versioneer.py", "noxfile.py", "fabfile.py"})


@dataclass
class Scan:
    """What a project's sources import, and what they taught us about the project itself."""

    imports: list[Import] = field(default_factory=list)
    pip: dict[str, str] = field(default_factory=dict)  # requirement string -> where (`%pip install`)
    local: set[str] = field(default_factory=set)  # top-level names of the project's own modules
    files: int = 0
    warnings: list[str] = field(default_factory=list)


def project_files(root: Path, exclude: tuple[str, ...] = ()) -> Iterator[Path]:
    """The .py and .ipynb files under root, sorted, skipping hidden dirs, envs and caches."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if _wanted_dir(here / d, exclude, root))
        for name in sorted(filenames):
            if name.endswith((".py", ".ipynb")) and not _excluded(here / name, exclude, root):
                yield here / name


def _wanted_dir(path: Path, exclude: tuple[str, ...], root: Path) -> bool:
    name = path.name
    if name.startswith(".") or name in SKIP_DIRS or _excluded(path, exclude, root):
        return False
    # A virtual env or conda env under the project is installed code, not the project's.
    return not ((path / "pyvenv.cfg").exists() or (path / "conda-meta").is_dir())


def _excluded(path: Path, exclude: tuple[str, ...], root: Path) -> bool:
    rel = path.relative_to(root).as_posix()
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in exclude)


def scan(root: Path, exclude: tuple[str, ...] = ()) -> Scan:
    """Read every source file once; a file or cell that does not parse is read line by line."""
    result = Scan()
    for path in project_files(root, exclude):
        rel = path.relative_to(root).as_posix()
        result.files += 1
        _note_local(result, path, root)
        if path.name in SKIP_FILES:
            continue
        before = len(result.imports)
        if path.suffix == ".py":
            _scan_source(result, path.read_bytes(), rel)
        else:
            _scan_notebook(result, path, rel)
        if is_dev_file(rel):
            result.imports[before:] = [dataclasses.replace(i, dev=True) for i in result.imports[before:]]
    return result


def is_dev_file(rel: str) -> bool:
    """Tests (test dirs, test_*.py, *_test.py, conftest.py), a docs folder's conf.py, release tooling."""
    parts = rel.split("/")
    name = parts[-1]
    if name in DEV_FILES or DEV_DIRS.intersection(parts[:-1]):
        return True
    if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
        return True
    return name == "conf.py" and not {"doc", "docs"}.isdisjoint(parts[:-1])  # also docs/source/conf.py


def _note_local(result: Scan, path: Path, root: Path) -> None:
    """A module or package importable by a top-level name shadows any installed one of that name.

    Only what Python would find first: a script's siblings, top-level packages, and dirs
    directly in the root or src/. A package's own `plotting/matplotlib.py` shadows nothing,
    nor does an `examples/tensorflow/` folder of scripts.
    """
    if path.suffix != ".py":
        return
    folder = path.parent
    in_package = (folder / "__init__.py").exists()
    if not in_package:
        result.local.add(path.stem)
    elif path.name == "__init__.py" and not (folder.parent / "__init__.py").exists():
        result.local.add(folder.name)
    if folder != root and folder.parent in (root, root / "src") and folder.name.isidentifier():
        result.local.add(folder.name)  # a package, or a namespace package without __init__.py


def _scan_notebook(result: Scan, path: Path, rel: str) -> None:
    try:
        cells, problems = notebook.code_cells(notebook.load(path.read_text(encoding="utf-8", errors="replace")))
    except notebook.NotebookError as e:
        result.warnings.append(f"{rel}: skipped: {e}")
        return
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        result.warnings.append(f"{rel}: read in part; left out {'; '.join(problems[:3])}{more}")
    for cell in cells:
        where = f"{rel} cell {cell.index}"
        for req in cell.pip:
            result.pip.setdefault(req, where)
        for written in cell.writes:
            if written.endswith(".py"):
                result.local.add(Path(written).stem)
        if cell.source.strip():
            _scan_source(result, cell.source, where)


def _scan_source(result: Scan, source: str | bytes, where: str) -> None:
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    found, warning = imports_of(text, where)
    result.imports.extend(found)
    if warning:
        result.warnings.append(warning)


def is_stdlib(name: str) -> bool:
    return name.partition(".")[0] in sys.stdlib_module_names
