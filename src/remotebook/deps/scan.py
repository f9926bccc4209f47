"""Find a project's .py and .ipynb files and the modules they import (ast; IPython syntax handled)."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
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
# Bigger is data or generated code, not something a person wrote imports into; reading and
# parsing it would take seconds and gigabytes. A notebook's size is mostly its outputs.
MAX_BYTES = {".py": 10 << 20, ".ipynb": 100 << 20}
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


@dataclass
class Scan:
    """What a project's sources import, and what they taught us about the project itself."""

    imports: list[Import] = field(default_factory=list)
    pip: dict[str, str] = field(default_factory=dict)  # requirement string -> where (`%pip install`)
    local: set[str] = field(default_factory=set)  # top-level names of the project's own modules
    files: int = 0
    warnings: list[str] = field(default_factory=list)


class Unreadable(Exception):
    """A file of the project that is not read: not a regular file, too big, or the OS said no."""


def project_files(root: Path, exclude: tuple[str, ...] = ()) -> Iterator[Path]:
    """The .py and .ipynb paths under root, sorted, skipping hidden dirs, envs and caches.

    Of any kind: scan() reads only the regular files (and symlinks to them) among them.
    """
    return (path for path, _ in _entries(root, exclude))


def _entries(root: Path, exclude: tuple[str, ...]) -> Iterator[tuple[Path, os.DirEntry[str]]]:
    """project_files with each one's directory entry, which tells what kind of file it is
    without a stat. Top-down in name order, as os.walk; symlinked dirs are not walked either."""
    stack = [root]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue  # an unreadable dir is skipped, as os.walk does
        dirs = []
        for entry in entries:
            path = here / entry.name
            if entry.is_dir(follow_symlinks=False):
                if _wanted_dir(path, exclude, root):
                    dirs.append(path)
            elif entry.name.endswith((".py", ".ipynb")) and not _excluded(path, exclude, root):
                yield path, entry
        stack += reversed(dirs)


def read_source(path: Path, entry: os.DirEntry[str] | None = None) -> bytes:
    """A regular file's bytes; Unreadable for a FIFO, socket or device (or a symlink to one) and a huge file.

    The entry's kind is checked before the open, so a device is never opened; the open
    cannot block (O_NONBLOCK) and its fstat is checked again, so a FIFO put in its place
    in between is not read either.
    """
    if entry is not None and not entry.is_file(follow_symlinks=False):
        _check_kind(entry)
    limit = MAX_BYTES.get(path.suffix, MAX_BYTES[".py"])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        raise Unreadable(f"cannot open it ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{_KINDS.get(stat.S_IFMT(st.st_mode), 'something else')}, not a regular file")
        too_big = Unreadable(f"over {limit >> 20} MB, too big for a source file")
        if st.st_size > limit:
            raise too_big
        data = _read_up_to(fd, limit + 1, st.st_size + 1)  # st_size says 0 for a /proc file that has more
        if len(data) > limit:
            raise too_big
        return data
    except OSError as e:
        raise Unreadable(f"cannot read it ({e.strerror})") from None
    finally:
        os.close(fd)


def _read_up_to(fd: int, most: int, hint: int) -> bytes:
    """At most `most` bytes; one read of `hint` (fstat's size + 1, to see the end) is mostly all it takes."""
    chunks, size = [], 0
    while size < most and (chunk := os.read(fd, min(max(hint - size, 1 << 16), most - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _check_kind(entry: os.DirEntry[str]) -> None:
    """Raise Unreadable unless entry is a symlink to a regular file."""
    try:
        if entry.is_symlink():
            if entry.is_file():
                return
            target = f"a symlink to {_KINDS.get(stat.S_IFMT(entry.stat().st_mode), 'something else')}"
        else:
            target = _KINDS.get(stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode), "not a file")
    except OSError:
        target = "a broken symlink"
    raise Unreadable(f"{target}, not a regular file")


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
    for path, entry in _entries(root, exclude):
        rel = path.relative_to(root).as_posix()
        try:
            data = b"" if path.name in SKIP_FILES else read_source(path, entry)
        except Unreadable as e:
            result.warnings.append(f"{rel}: skipped: {e}")
            continue
        result.files += 1
        _note_local(result, path, root)
        if path.name in SKIP_FILES:
            continue
        before = len(result.imports)
        if path.suffix == ".py":
            _scan_source(result, data, rel)
        else:
            _scan_notebook(result, data.decode("utf-8", "replace"), rel)
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


def _scan_notebook(result: Scan, text: str, rel: str) -> None:
    try:
        cells, problems = notebook.code_cells(notebook.load(text))
    except notebook.NotebookError as e:
        result.warnings.append(f"{rel}: skipped: {e}")
        return
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        result.warnings.append(f"{rel}: read in part; left out {'; '.join(problems[:3])}{more}")
    for cell in cells:
        where = f"{rel} cell {cell.index}"
        result.imports += [Import(module, f"{where}:{line}") for line, module in cell.extensions]
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
