"""Write src/remotebook/deps/popular_names.txt: PyPI's most-downloaded projects whose name can be imported.

Usage: python scripts/build_popular_names.py PYPI_TSV

PYPI_TSV is a tab-separated listing of PyPI projects with a header line and the columns
name, version, month, rank_among_15000_most_downloaded, summary (the rank is empty for the
rest). `remotebook reqs` uses the output for an import that neither the local Python nor the
curated table knows: when a project of exactly that name (PEP 503 normalised) is among the
most downloaded ones, that is the requirement, noted as matched by name.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "remotebook" / "deps" / "popular_names.txt"
# Names a project often gives its own modules: a match there is more likely a missing local file.
GENERIC = {
    "api",
    "app",
    "base",
    "common",
    "config",
    "core",
    "data",
    "dataset",
    "helpers",
    "lib",
    "log",
    "logger",
    "main",
    "model",
    "models",
    "plot",
    "settings",
    "src",
    "test",
    "tests",
    "tools",
    "train",
    "utils",
}


def main(tsv: Path) -> int:
    names = set()
    with tsv.open(encoding="utf-8", errors="replace") as f:
        next(f)
        for line in f:
            cols = line.split("\t")
            if len(cols) < 4 or not cols[3].strip():
                continue
            name = re.sub(r"[-_.]+", "-", cols[0]).lower()
            if name.replace("-", "_").isidentifier() and name not in GENERIC:
                names.add(name)
    header = (
        "# PyPI's most-downloaded projects (about 15,000, listed 2026-11) whose normalised name is also a\n"
        "# valid import name; written by scripts/build_popular_names.py. `reqs` uses it last, for an import\n"
        "# that the local Python and known_imports.txt do not know.\n"
    )
    OUT.write_text(header + "".join(f"{n}\n" for n in sorted(names)), encoding="utf-8")
    print(f"{len(names)} names -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
