"""sync: rsync's itemized and listing outputs (recorded from rsync 3.5), conflicts, names, filters."""

from __future__ import annotations

import time
from pathlib import Path

from remotebook import sync

ITEMIZED = """\
cd+++++++++|4096|./
>f+++++++++|6|a.txt
>f.st......|1228800|data dir/naïve.csv
cL+++++++++|5|link -> a.txt
cd+++++++++|4096|empty/
*deleting  |0|old.txt
.d..t......|4096|sub/
"""

LISTING = """\
drwxr-xr-x        4096 2026/11/26 12:25:10 .
-rw-r--r--           6 2026/11/26 12:25:10 a.txt
lrwxrwxrwx           5 2026/11/26 12:25:10 link
-rw-r--r--     1228800 2026/11/26 12:25:11 with space/big file
"""


def test_parse_itemized() -> None:
    plan = sync.parse_itemized(ITEMIZED)
    assert plan.updates == ["a.txt", "data dir/naïve.csv"]
    assert plan.deletions == ["old.txt"]
    assert plan.bytes == 1228806
    assert plan.created == {"a.txt"}  # the other update already exists at the destination
    assert plan.changes == 7
    assert sync.parse_itemized(".d..t......|4096|./\n").changes == 0  # only the root's time: nothing to do


def test_parse_listing_keeps_regular_files_with_spaces() -> None:
    files = sync.parse_listing(LISTING)
    stamp = int(time.mktime(time.strptime("2026/11/26 12:25:11", "%Y/%m/%d %H:%M:%S")))
    assert files == {"a.txt": (6, stamp - 1), "with space/big file": (1228800, stamp)}


def test_conflicts_only_when_the_destination_changed_since_the_last_sync() -> None:
    plan = sync.Plan(updates=["same", "changed", "new", "never-synced"])
    dest_now = {"same": (1, 10), "changed": (2, 20), "never-synced": (3, 30)}
    manifest = {"same": [1, 10], "changed": [1, 10]}
    out = sync.conflicts(plan, dest_now, manifest)
    assert out.updates == ["same", "new"]
    assert out.conflicts == ["changed", "never-synced"]


def test_side_name() -> None:
    assert (
        sync.side_name("nb/analysis.ipynb", "remote", "2026-11-26T1032") == "nb/analysis.remote-2026-11-26T1032.ipynb"
    )
    assert sync.side_name("Makefile", "local", "T") == "Makefile.local-T"


def test_outcome_summary() -> None:
    outcome = sync.Outcome("pull", sync.Plan(["a"], ["b"], []), {"b": "b.remote-x"}, 1.26, 2048, False)
    assert outcome.summary() == "pull: transferred 1 file(s), 2,048 bytes in 1.3s; 1 conflict(s), both versions kept"


def test_a_touched_but_unchanged_destination_is_not_a_conflict() -> None:
    plan = sync.Plan(updates=["touched", "edited", "unhashed"])
    dest_now = {"touched": (5, 99), "edited": (5, 99), "unhashed": (5, 99)}
    manifest = {"touched": [5, 10, "aaa"], "edited": [5, 10, "aaa"], "unhashed": [5, 10]}
    hashes = {"touched": "aaa", "edited": "bbb", "unhashed": "aaa"}
    out = sync.conflicts(plan, dest_now, manifest, hashes.get)
    assert out.updates == ["touched"]
    assert out.conflicts == ["edited", "unhashed"]  # no recorded hash: size+mtime decide, conservatively


def test_file_hash(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert sync.file_hash(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sync.file_hash(tmp_path / "missing") is None
