#!/usr/bin/env python3
"""Check src/remotebook/deps/known_imports.txt, the import-name -> distribution table.

Usage:
    python3 scripts/check_known_imports.py [--table PATH] [PYPI_NAMES]

Always checked:
  * the file is UTF-8 and ends with a newline;
  * every line is a comment (starting with '#'), or exactly
    'IMPORT_NAME DISTRIBUTION' separated by one space, with no other whitespace;
  * IMPORT_NAME is a dotted path of Python identifiers (ASCII);
  * DISTRIBUTION is a valid project name (PEP 508);
  * entries are sorted by import name in byte order (what `LC_ALL=C sort` gives)
    and no import name appears twice;
  * no entry is a bare shared namespace root (google, azure, zope, ...), and
    no entry is a proper dotted prefix of another entry that maps to a different
    distribution (lookup is by longest dotted prefix, so such a root would
    silently claim every unlisted submodule of a shared namespace).

When PYPI_NAMES is given (a file whose lines start with a project name, e.g. a
tab-separated listing with a header line), every DISTRIBUTION must appear in it,
compared after PEP 503 normalisation.

Exit status: 0 if everything passes, 1 otherwise (each problem is printed).
Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "src/remotebook/deps/known_imports.txt"
# Namespaces shared by several distributions: only their dotted children may be listed.
NAMESPACE_ROOTS = frozenset(
    [
        "autogluon",
        "azure",
        "azureml",
        "backports",
        "braket",
        "databricks",
        "google",
        "jaraco",
        "ligo",
        "mpl_toolkits",
        "odc",
        "opentelemetry",
        "paho",
        "pyannote",
        "ruamel",
        "snowflake",
        "sphinxcontrib",
        "zope",
    ]
)
_DIST_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def normalize(name: str) -> str:
    """PEP 503 normalised form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def check_table(path: Path) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Return (entries as (line number, import, dist), problems)."""
    problems: list[str] = []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8: {exc}"]
    if text and not text.endswith("\n"):
        problems.append(f"{path}: no newline at end of file")
    entries: list[tuple[int, str, str]] = []
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        if line.startswith("#"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or any(not p or p != p.strip() for p in parts):
            problems.append(f"line {no}: expected 'IMPORT_NAME DISTRIBUTION': {line!r}")
            continue
        mod, dist = parts
        if not mod.isascii() or not all(c.isidentifier() for c in mod.split(".")):
            problems.append(f"line {no}: bad import name {mod!r}")
        if not _DIST_RE.match(dist):
            problems.append(f"line {no}: bad distribution name {dist!r}")
        entries.append((no, mod, dist))

    seen: dict[str, int] = {}
    prev: str | None = None
    for no, mod, _ in entries:
        if mod in seen:
            problems.append(f"line {no}: duplicate import name {mod!r} (first on line {seen[mod]})")
        else:
            seen[mod] = no
        if prev is not None and mod.encode() < prev.encode():
            problems.append(f"line {no}: {mod!r} is out of order (after {prev!r})")
        prev = mod

    for no, mod, _ in entries:
        if mod in NAMESPACE_ROOTS:
            problems.append(f"line {no}: {mod!r} is a shared namespace root; list its dotted children instead")
    dist_of = {mod: dist for _, mod, dist in entries}
    for _, mod, dist in entries:
        parts = mod.split(".")
        for i in range(1, len(parts)):
            root = ".".join(parts[:i])
            if root in dist_of and normalize(dist_of[root]) != normalize(dist):
                problems.append(
                    f"line {seen[root]}: {root!r} -> {dist_of[root]} is a prefix of "
                    f"{mod!r} -> {dist} (ambiguous namespace root)"
                )
    return entries, problems


def load_names(path: Path) -> set[str]:
    """Normalised project names: the first tab/space-separated field of each line."""
    names: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            field = line.split("\t", 1)[0].split(" ", 1)[0].strip()
            if field:
                names.add(normalize(field))
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pypi_names", nargs="?", type=Path, help="listing of PyPI project names")
    ap.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="table to check")
    args = ap.parse_args(argv)

    entries, problems = check_table(args.table)
    if args.pypi_names is not None:
        names = load_names(args.pypi_names)
        for no, mod, dist in entries:
            if normalize(dist) not in names:
                problems.append(f"line {no}: distribution {dist!r} (for {mod!r}) not in {args.pypi_names}")
    for p in problems:
        print(p)
    dists = {normalize(d) for _, _, d in entries}
    print(f"{len(entries)} entries, {len(dists)} distributions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
