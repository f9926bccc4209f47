"""sync keeps both versions of a conflicting file whatever its name, under any locale (real rsync, real sshd)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Runner
from tests.integration.test_sync import as_remote_user, remote_dir, write

# Each is a file name rsync once mistook: a filter pattern ([ ] * ? \), an escape in its
# output (non-ASCII under C, control characters), an option (-), a word split.
NASTY = [
    "fig[1].ipynb",
    "a*b?.py",
    "back\\slash.txt",
    "März.ipynb",
    "日本.txt",
    "-leading.txt",
    "with space.txt",
    "tab\tname.txt",
    "new\nline.txt",
    "lit\\#012.txt",  # looks like one of rsync's own escapes
    "pipe|x -> y.txt",  # our itemize separator, and a symlink's arrow
]
DECOY = "fig1.ipynb"  # what the pattern fig[1].ipynb matched: changed on the source only, a plain update
LOCALES = ["C", "C.UTF-8"]


def beside(folder: Path, name: str, side: str) -> list[str]:
    """Names of the kept copies of `name` in `folder` (name.SIDE-DATE.ext), read without globbing."""
    stem, suffix = os.path.splitext(name)
    return [entry for entry in os.listdir(folder) if entry.startswith(f"{stem}.{side}-") and entry.endswith(suffix)]


def synced_then_edited_on_both_sides(rb: Runner, folder: str) -> tuple[Path, Path]:
    """Every nasty name pushed once, then edited on the server and on the laptop."""
    rb.write_config(f'[profiles.s]\nhost = "rbremote"\npull = ["{folder}"]\n')
    local, remote = rb.project / folder, remote_dir(rb) / folder
    for name in [*NASTY, DECOY]:
        write(local / name, f"v1 {name}\n", mtime=time.time() - 60)
    out = rb.run("sync", "push", "s")
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(remote)) == sorted([*NASTY, DECOY])
    for name in NASTY:
        write(remote / name, f"server {name}\n", mtime=time.time() + 5)
        as_remote_user(remote / name)
        write(local / name, f"laptop {name}\n", mtime=time.time() + 10)
    return local, remote


@pytest.mark.parametrize("lc_all", LOCALES)
def test_pull_keeps_both_versions_of_every_nasty_name(rb: Runner, lc_all: str) -> None:
    local, remote = synced_then_edited_on_both_sides(rb, "results")
    write(remote / DECOY, "server only\n", mtime=time.time() + 5)
    as_remote_user(remote / DECOY)
    rb.env["LC_ALL"] = lc_all
    out = rb.run("sync", "pull", "s")
    assert out.returncode == 0, out.stderr
    assert f"{len(NASTY)} conflict(s), both versions kept" in out.stdout
    for name in NASTY:
        assert (local / name).read_text() == f"laptop {name}\n", name
        (kept,) = beside(local, name, "remote")
        assert (local / kept).read_text() == f"server {name}\n", name
    assert (local / DECOY).read_text() == "server only\n"  # updated, not taken for fig[1].ipynb
    assert beside(local, DECOY, "remote") == []
    assert not (local / ".rsync-backup").exists()


@pytest.mark.parametrize("lc_all", LOCALES)
def test_push_keeps_both_versions_of_every_nasty_name(rb: Runner, lc_all: str) -> None:
    local, remote = synced_then_edited_on_both_sides(rb, "results")
    write(local / DECOY, "laptop only\n", mtime=time.time() + 10)
    rb.env["LC_ALL"] = lc_all
    out = rb.run("sync", "push", "s")
    assert out.returncode == 0, out.stderr
    assert f"{len(NASTY)} conflict(s), both versions kept" in out.stdout
    for name in NASTY:
        assert (remote / name).read_text() == f"server {name}\n", name
        (kept,) = beside(remote, name, "local")
        assert (remote / kept).read_text() == f"laptop {name}\n", name
    assert (remote / DECOY).read_text() == "laptop only\n"
    assert not (remote_dir(rb) / ".rsync-backup").exists()
    again = rb.run("sync", "push", "s")  # the kept copies went over; nothing else is left to send
    assert again.returncode == 0, again.stderr
    assert "transferred 0 file(s)" in again.stdout or "conflict" in again.stderr


def test_a_path_argument_with_glob_characters_means_that_file_only(rb: Runner) -> None:
    rb.write_config('[profiles.s]\nhost = "rbremote"\n')
    for name in ("fig[1].ipynb", DECOY, "back\\slash.txt", "backslash.txt"):
        write(rb.project / name, f"{name}\n")
    for wanted in ("fig[1].ipynb", "back\\slash.txt"):
        out = rb.run("sync", "push", "s", wanted)
        assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(remote_dir(rb))) == ["back\\slash.txt", "fig[1].ipynb"]


def test_a_remote_dir_with_spaces_and_glob_characters(rb: Runner) -> None:
    """The remote path is an argument, not a list entry: rsync 3.2.4+ protects it from the remote shell."""
    rb.write_config('[profiles.odd]\nhost = "rbremote"\nremote_dir = "~/odd dir [1]*"\n')
    rb.env["RSYNC_OLD_ARGS"] = "1"  # a user's setting that would unprotect it again
    write(rb.project / "analysis.ipynb", "v1\n", mtime=time.time() - 60)
    assert rb.run("sync", "push", "odd").returncode == 0
    there = rb.host.home("rbtest") / "odd dir [1]*"
    assert (there / "analysis.ipynb").read_text() == "v1\n"
    write(there / "analysis.ipynb", "server\n", mtime=time.time() + 5)
    as_remote_user(there / "analysis.ipynb")
    write(rb.project / "analysis.ipynb", "laptop\n", mtime=time.time() + 10)
    out = rb.run("sync", "push", "odd")
    assert out.returncode == 0, out.stderr
    assert (there / "analysis.ipynb").read_text() == "server\n"
    assert [(there / k).read_text() for k in beside(there, "analysis.ipynb", "local")] == ["laptop\n"]
    out = rb.run("sync", "pull", "odd")
    assert out.returncode == 0, out.stderr
    assert [(rb.project / k).read_text() for k in beside(rb.project, "analysis.ipynb", "remote")] == ["server\n"]


def test_a_local_rsync_too_old_to_protect_names_is_refused_before_anything_is_sent(rb: Runner) -> None:
    rb.write_config('[profiles.s]\nhost = "rbremote"\n')
    write(rb.project / "fig[1].ipynb", "v1\n")
    fake = rb.project.parent / "old-rsync"
    fake.mkdir()
    (fake / "rsync").write_text("#!/bin/sh\necho 'rsync  version 3.1.3  protocol version 31'\nexit 1\n")
    (fake / "rsync").chmod(0o755)
    rb.env["PATH"] = f"{fake}:{rb.env['PATH']}"
    out = rb.run("sync", "push", "s")
    assert out.returncode == 9
    assert "the rsync on this computer is too old (3.1.3): sync needs 3.2.4 or newer" in out.stderr
    assert "brew install rsync" in out.stderr and "Traceback" not in out.stderr
    assert not remote_dir(rb).exists()
