"""sync: rsync's itemized, log and listing outputs (recorded from rsync 3.5.0), conflicts, names, versions."""

from __future__ import annotations

import calendar
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.sync import engine as sync
from remotebook.sync import rsync, rsync_text

ITEMIZED = """\
cd+++++++++|4096|./
>f+++++++++|6|a.txt
>f.st......|1228800|data dir/naïve.csv
cL+++++++++|5|link
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
    plan = rsync_text.parse_itemized(ITEMIZED)
    assert plan.updates == ["a.txt", "data dir/naïve.csv"]
    assert plan.deletions == ["old.txt"]
    assert plan.bytes == 1228806
    assert plan.created == {"a.txt"}  # the other update already exists at the destination
    assert plan.changes == 7
    assert rsync_text.parse_itemized(".d..t......|4096|./\n").changes == 0  # only the root's time: nothing to do


def test_parse_listing_keeps_regular_files_with_spaces() -> None:
    files = rsync_text.parse_listing(LISTING)
    stamp = calendar.timegm(time.strptime("2026/11/26 12:25:11", "%Y/%m/%d %H:%M:%S"))  # listed under TZ=UTC
    assert files == {"a.txt": (6, stamp - 1), "with space/big file": (1228800, stamp)}


def test_conflicts_only_when_the_destination_changed_since_the_last_sync() -> None:
    plan = rsync_text.Plan(updates=["same", "changed", "new", "never-synced"])
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
    outcome = sync.Outcome("pull", rsync_text.Plan(["a"], ["b"], []), {"b": "b.remote-x"}, 1.26, 2048, False)
    assert outcome.summary() == "pull: transferred 1 file(s), 2,048 bytes in 1.3s; 1 conflict(s), both versions kept"


def test_a_touched_but_unchanged_destination_is_not_a_conflict() -> None:
    plan = rsync_text.Plan(updates=["touched", "edited", "unhashed"])
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


DATA = Path(__file__).parent / "data" / "rsync"
# The names in the recorded outputs below (tests/unit/data/rsync, rsync 3.5.0 under LC_ALL=C).
RECORDED = [
    " lead space.txt", "-leading.txt", "März.ipynb", "a*b?.py", "back\\slash.txt", "fig[1].ipynb",
    "latin\udce9.txt", "lit\\#012.txt", "new\nline.txt", "pipe|x -> y.txt", "tab\tname.txt",
    "with space.txt", "日本.txt", "sub/naïve.csv",
]  # fmt: skip


def test_unescape_reads_rsyncs_octal_escapes_back_to_the_bytes_on_disk() -> None:
    assert rsync_text.unescape("M\\#303\\#244rz.ipynb") == "März.ipynb"
    assert rsync_text.unescape("new\\#012line.txt") == "new\nline.txt"
    assert rsync_text.unescape("lit\\#134#012.txt") == "lit\\#012.txt"  # a real backslash before #ddd is escaped
    assert rsync_text.unescape("back\\slash.txt") == "back\\slash.txt"  # any other backslash is itself
    assert rsync_text.unescape("latin\\#351.txt") == "latin\udce9.txt"  # not UTF-8: the surrogate os.fsencode reverses


def test_parse_itemized_of_a_recorded_dry_run_with_nasty_names() -> None:
    plan = rsync_text.parse_itemized((DATA / "itemized-dry-run.txt").read_text())
    assert sorted(plan.updates) == sorted(RECORDED)
    assert plan.deletions == ["olddir/x", "olddir", "old.txt"] and plan.deleted_dirs == {"olddir"}
    assert plan.created == set(RECORDED) - {"fig[1].ipynb"}  # the only one already at the destination
    assert set(plan.items) == {*RECORDED, "link", "sub"}  # what the transfer's --files-from list holds
    assert plan.sizes["new\nline.txt"] == 14
    assert rsync_text.parse_protocol((DATA / "itemized-dry-run.txt").read_text()) == 32


def test_parse_itemized_of_a_recorded_log_file() -> None:
    """rsync's --log-file leaves bytes >= 0xa0 raw even under LC_ALL=C, and escapes 0x80-0x9f."""
    text = rsync_text.LOG_PREFIX.sub("", (DATA / "transfer.log").read_bytes().decode("utf-8", "surrogateescape"))
    plan = rsync_text.parse_itemized(text)
    assert sorted(plan.updates) == sorted(RECORDED)
    assert plan.created == set(RECORDED) - {"fig[1].ipynb"}


def test_parse_listing_of_a_recorded_listing_with_nasty_names() -> None:
    files = rsync_text.parse_listing((DATA / "listing-utc.txt").read_text())
    assert sorted(files) == sorted(RECORDED)  # regular files only: not ".", "sub" or "link"
    assert files["new\nline.txt"] == (14, 1764600000)  # printed under TZ=UTC, read back exactly
    assert files[" lead space.txt"] == (17, 1764600000)  # a leading space is part of the name


def test_version_checks() -> None:
    assert rsync_text.parse_version((DATA / "version-3.5.0.txt").read_text()) == (3, 5, 0)
    assert rsync_text.parse_version("openrsync: protocol version 29\n") is None
    rsync.require_local_rsync((3, 2, 4))
    with pytest.raises(rsync.SyncError) as too_old:
        rsync.require_local_rsync((3, 1, 3))
    assert too_old.value.exit_code == 9 and "3.1.3" in str(too_old.value) and "3.2.4" in str(too_old.value)
    assert "brew install rsync" in too_old.value.hint
    with pytest.raises(rsync.SyncError):
        rsync.require_local_rsync(None)
    assert rsync_text.parse_protocol("(Server) Protocol versions: remote=30, negotiated=30\n") is None


def test_literal_patterns_match_only_the_name() -> None:
    assert rsync_text.literal("/fig[1].ipynb") == "/fig\\[1\\].ipynb"
    assert rsync_text.literal("/back\\slash.txt") == "/back\\slash.txt"  # no wildcard: rsync reads \ as itself
    assert rsync_text.literal("/back\\slash.txt", "/***") == "/back\\\\slash.txt/***"
    assert rsync_text.literal("/plain") == "/plain"


def test_a_remote_rsync_too_old_for_our_options_is_named() -> None:
    # what rsync 3.0 answers to --debug (made by hand: no rsync that old here to record)
    stderr = (
        "rsync: on remote machine: --debug=proto: unknown option\n"
        "rsync error: syntax or usage error (code 1) at main.c(1554) [server=3.0.9]\n"
        "rsync error: error in rsync protocol data stream (code 12) at io.c(226) [Receiver=3.5.0]\n"
    )
    error = sync._translate(sync.proc.Result(["rsync"], 12, "", stderr, 0.1), "gpu-box")
    assert error.exit_code == 9
    assert str(error) == (
        "the rsync on gpu-box is too old (it does not know an option sync uses): sync needs 3.1.0 or newer there"
    )
    assert error.hint == "upgrade rsync on gpu-box"


def test_a_line_ends_at_a_newline_only() -> None:
    """str.splitlines() would also cut at U+2028 or \\x1c; rsync promises only that a newline in a name is escaped."""
    assert rsync_text.parse_itemized(">f+++++++++|3|a\u2028b\x1cc.txt\n").updates == ["a\u2028b\x1cc.txt"]
    assert list(rsync_text.parse_listing("-rw-r--r--   3 2026/11/26 12:25:10 a\u2028b.txt\n")) == ["a\u2028b.txt"]


def test_the_servers_restore_script_in_a_real_sh(tmp_path: Path) -> None:
    """After a push: an unchanged backup goes, a changed one is put back (beside a same-minute copy), a deletion is undone."""
    b = tmp_path / ".rsync-backup" / "r1"
    for name, text in [
        ("sub/x y.csv", "pushed"), ("sub/x y.local-S.csv", "kept earlier"), (".rsync-backup/r1/sub/x y.csv", "server edit"),
        ("same.txt", "pushed"), (".rsync-backup/r1/same.txt", "as planned"), (".rsync-backup/r1/-gone", "edited"),
    ]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    os.utime(b / "same.txt", (1000, 1000))
    calls = [
        ["sub/x y.csv", "11 2", "0", "sub/x y.local-S", ".csv"],
        ["same.txt", "10 1000", "1", "same.local-S", ".txt"],
        ["-gone", "-", "2", "-gone.local-S", ""],
        ["never-backed-up", "1 1", "3", "never.local-S", ""],
    ]
    values = {"ROOT": str(tmp_path), "BACKUP": ".rsync-backup/r1", "KEEP": shlex.join(sum(calls, [])), "DIRS": ""}
    script = remote.render("restore", values, script="sync")
    out = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True, timeout=30, check=True)
    assert remote.parse(out.stdout, script.nonce).data["done"] == "kept.0.2 back.2.0"
    assert (tmp_path / "sub" / "x y.csv").read_text() == "server edit"
    assert (tmp_path / "sub" / "x y.local-S-2.csv").read_text() == "pushed"
    assert (tmp_path / "sub" / "x y.local-S.csv").read_text() == "kept earlier"
    assert (tmp_path / "same.txt").read_text() == "pushed" and (tmp_path / "-gone").read_text() == "edited"
    assert not (tmp_path / ".rsync-backup").exists()
