"""sync against a destination that changes while it runs: the --delete prompt holds a real sync
between its plan and its transfer, and the test edits the destination in that gap."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Runner
from tests.integration.test_sync import answer_prompt, as_remote_user, remote_dir, write


def answer_after(rb: Runner, meanwhile: Callable[[], None], *args: str) -> tuple[int, str]:
    """Run on a pty, wait for the --delete prompt (the plan is made), call `meanwhile`, type y."""
    return answer_prompt(rb, "y", *args, meanwhile=meanwhile)


@pytest.fixture
def synced(rb: Runner) -> Path:
    rb.write_config('[profiles.s]\nhost = "rbremote"\npull = ["results/"]\n')
    for name in ("results/a.csv", "results/b.csv", "results/old/one.txt", "results/gone.txt"):
        write(rb.project / name, f"v1 {name}\n", mtime=time.time() - 60)
    out = rb.run("sync", "push", "s")
    assert out.returncode == 0, out.stderr
    return rb.project


def test_push_delete_removes_only_what_was_confirmed_and_keeps_a_late_server_edit(rb: Runner, synced: Path) -> None:
    r = remote_dir(rb) / "results"
    (synced / "results" / "gone.txt").unlink()
    (synced / "results" / "old" / "one.txt").unlink()
    (synced / "results" / "old").rmdir()
    write(synced / "results" / "a.csv", "laptop a\n", mtime=time.time() + 10)  # a plain update, planned
    write(synced / "results" / "new.csv", "laptop new\n")  # not on the server when planned

    def meanwhile() -> None:  # the server changes after the plan, before the transfer
        write(r / "a.csv", "server saved a meanwhile\n", mtime=time.time() + 20)
        write(r / "new.csv", "server made new meanwhile\n")
        write(r / "appeared.txt", "new on the server\n")
        write(r / "old" / "late.txt", "new in a folder being deleted\n")
        for path in (r / "a.csv", r / "new.csv", r / "appeared.txt", r / "old" / "late.txt"):
            as_remote_user(path)

    code, err = answer_after(rb, meanwhile, "sync", "push", "s", "--delete")
    assert code == 0, err
    listed = err.split("--delete would remove:\n", 1)[1].split("delete these?", 1)[0]
    assert sorted(listed.split("\n")) == ["", "  results/gone.txt", "  results/old", "  results/old/one.txt"]
    assert not (r / "gone.txt").exists() and not (r / "old" / "one.txt").exists()
    assert (r / "appeared.txt").read_text() == "new on the server\n"  # never listed, never deleted
    assert (r / "old" / "late.txt").read_text() == "new in a folder being deleted\n"
    assert (r / "a.csv").read_text() == "server saved a meanwhile\n"  # the late edit is not overwritten
    (kept,) = r.glob("a.local-*.csv")
    assert kept.read_text() == "laptop a\n"
    assert (r / "new.csv").read_text() == "server made new meanwhile\n"
    assert [k.read_text() for k in r.glob("new.local-*.csv")] == ["laptop new\n"]
    assert (r / "b.csv").read_text() == "v1 results/b.csv\n"
    assert not (remote_dir(rb) / ".rsync-backup").exists()


def test_pull_delete_removes_only_what_was_confirmed_and_keeps_a_late_local_edit(rb: Runner, synced: Path) -> None:
    r, here = remote_dir(rb) / "results", synced / "results"
    (r / "gone.txt").unlink()
    write(r / "b.csv", "server b\n", mtime=time.time() + 10)
    write(r / "new.csv", "server new\n")
    as_remote_user(r / "b.csv")
    as_remote_user(r / "new.csv")

    def meanwhile() -> None:  # Jupyter autosaves on the laptop after the plan
        write(here / "b.csv", "laptop saved b meanwhile\n", mtime=time.time() + 20)
        write(here / "new.csv", "laptop made new meanwhile\n")
        write(here / "appeared.txt", "new on the laptop\n")

    code, err = answer_after(rb, meanwhile, "sync", "pull", "s", "--delete")
    assert code == 0, err
    assert "--delete would remove:\n  results/gone.txt\n" in err and "appeared" not in err
    assert not (here / "gone.txt").exists()
    assert (here / "appeared.txt").read_text() == "new on the laptop\n"
    assert (here / "b.csv").read_text() == "laptop saved b meanwhile\n"
    (kept,) = here.glob("b.remote-*.csv")
    assert kept.read_text() == "server b\n"
    assert "b.csv changed on both sides" in err
    assert (here / "new.csv").read_text() == "laptop made new meanwhile\n"
    assert [k.read_text() for k in here.glob("new.remote-*.csv")] == ["server new\n"]
    assert not (synced / ".rsync-backup").exists()


def test_a_deletion_confirmed_for_a_file_that_changed_meanwhile_is_undone(rb: Runner, synced: Path) -> None:
    here = synced / "results"
    (remote_dir(rb) / "results" / "gone.txt").unlink()

    def meanwhile() -> None:
        write(here / "gone.txt", "edited after the prompt listed it\n", mtime=time.time() + 20)

    code, err = answer_after(rb, meanwhile, "sync", "pull", "s", "--delete")
    assert code == 0, err
    assert (here / "gone.txt").read_text() == "edited after the prompt listed it\n"
    assert "0 deletion(s)" not in err and not (synced / ".rsync-backup").exists()


def test_pull_delete_removes_a_confirmed_folder_only_if_nothing_new_is_in_it(rb: Runner, synced: Path) -> None:
    r, here = remote_dir(rb) / "results", synced / "results"
    (r / "old" / "one.txt").unlink()
    (r / "old").rmdir()
    (r / "gone.txt").unlink()
    (here / "deep" / "er").mkdir(parents=True)  # an empty folder tree only here: deleted too
    code, err = answer_after(rb, lambda: None, "sync", "pull", "s", "--delete")
    assert code == 0, err
    assert not (here / "old").exists() and not (here / "gone.txt").exists() and not (here / "deep").exists()

    write(r / "keep" / "f.txt", "x\n")
    as_remote_user(r / "keep" / "f.txt")
    assert rb.run("sync", "pull", "s").returncode == 0
    (r / "keep" / "f.txt").unlink()
    (r / "keep").rmdir()
    code, err = answer_after(
        rb, lambda: write(here / "keep" / "new.txt", "made after the prompt\n"), "sync", "pull", "s", "--delete"
    )
    assert code == 0, err
    assert not (here / "keep" / "f.txt").exists()
    assert (here / "keep" / "new.txt").read_text() == "made after the prompt\n"
