"""remotebook sync against the harness: real rsync over the real sshd, as the remote user."""

from __future__ import annotations

import hashlib
import os
import pwd
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Runner


def remote_dir(rb: Runner) -> Path:
    return rb.host.home("rbtest") / "myproject"


def as_remote_user(path: Path) -> None:
    """Files the test writes "on the server" belong to the remote user, as if edited there."""
    user = pwd.getpwnam("rbtest")
    for p in [path, *path.parents]:
        if p == Path(user.pw_dir):
            break
        os.chown(p, user.pw_uid, user.pw_gid)


def write(path: Path, text: str, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def sync(rb: Runner, *args: str) -> subprocess.CompletedProcess[str]:
    return rb.run("sync", *args)


@pytest.fixture
def project(rb: Runner) -> Path:
    rb.write_config('[profiles.s]\nhost = "rbremote"\nexclude = ["secret/"]\npull = ["results/"]\n')
    p = rb.project
    write(p / "analysis.py", "print('hi')\n", mtime=1_700_000_000)
    (p / "run.sh").write_text("#!/bin/sh\necho run\n")
    (p / "run.sh").chmod(0o755)
    write(p / "data dir" / "naïve ünïcode.csv", "a,b\n1,2\n")
    (p / "link-to-analysis").symlink_to("analysis.py")
    (p / "empty").mkdir()
    write(p / ".gitignore", "*.log\n")
    write(p / "build.log", "noise\n")
    write(p / "secret" / "key.txt", "do not push\n")
    write(p / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(p / "__pycache__" / "x.pyc", "bytes")
    return p


def test_push_round_trip_keeps_content_modes_times_links_names_and_skips_what_it_should(
    rb: Runner, project: Path
) -> None:
    out = sync(rb, "push", "s")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("push: transferred")
    r = remote_dir(rb)
    assert (r / "analysis.py").read_text() == "print('hi')\n"
    assert int((r / "analysis.py").stat().st_mtime) == 1_700_000_000
    assert (r / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (r / "data dir" / "naïve ünïcode.csv").read_text() == "a,b\n1,2\n"
    assert os.readlink(r / "link-to-analysis") == "analysis.py"
    assert (r / "empty").is_dir()
    for skipped in ("build.log", "secret", ".git", "__pycache__"):
        assert not (r / skipped).exists(), skipped
    again = sync(rb, "push", "s")
    assert "transferred 0 file(s)" in again.stdout  # nothing changed, nothing sent


def test_pull_brings_back_results_and_notebooks_only(rb: Runner, project: Path) -> None:
    assert sync(rb, "push", "s").returncode == 0
    r = remote_dir(rb)
    write(r / "results" / "fig1.png", "png-bytes")
    write(r / "notebooks" / "explore.ipynb", '{"cells": []}')
    write(r / "scratch.tmp", "not wanted")
    for path in (r / "results" / "fig1.png", r / "notebooks" / "explore.ipynb", r / "scratch.tmp"):
        as_remote_user(path)
    out = sync(rb, "pull", "s")
    assert out.returncode == 0, out.stderr
    assert (project / "results" / "fig1.png").read_text() == "png-bytes"
    assert (project / "notebooks" / "explore.ipynb").read_text() == '{"cells": []}'
    assert not (project / "scratch.tmp").exists()


def test_pull_never_overwrites_a_local_change_it_keeps_both(rb: Runner, project: Path) -> None:
    write(project / "analysis.ipynb", "v1")
    assert sync(rb, "push", "s").returncode == 0
    write(remote_dir(rb) / "analysis.ipynb", "edited on the server", mtime=time.time() + 5)
    as_remote_user(remote_dir(rb) / "analysis.ipynb")
    write(project / "analysis.ipynb", "edited on the laptop", mtime=time.time() + 10)
    out = sync(rb, "pull", "s")
    assert out.returncode == 0, out.stderr
    assert "conflict: analysis.ipynb changed on both sides" in out.stderr
    assert (project / "analysis.ipynb").read_text() == "edited on the laptop"
    kept = list(project.glob("analysis.remote-*.ipynb"))
    assert [k.read_text() for k in kept] == ["edited on the server"]
    assert "1 conflict(s), both versions kept" in out.stdout


def test_push_never_overwrites_a_server_edit_it_keeps_both(rb: Runner, project: Path) -> None:
    assert sync(rb, "push", "s").returncode == 0
    write(remote_dir(rb) / "analysis.py", "edited on the server", mtime=time.time() + 5)
    as_remote_user(remote_dir(rb) / "analysis.py")
    write(project / "analysis.py", "edited on the laptop", mtime=time.time() + 10)
    out = sync(rb, "push", "s")
    assert out.returncode == 0, out.stderr
    assert (remote_dir(rb) / "analysis.py").read_text() == "edited on the server"
    kept = list(remote_dir(rb).glob("analysis.local-*.py"))
    assert [k.read_text() for k in kept] == ["edited on the laptop"]


def test_first_push_into_an_existing_remote_dir_keeps_what_is_there(rb: Runner, project: Path) -> None:
    """Only a remote dir that did not exist skips the planning pass: files already there are never overwritten."""
    theirs = remote_dir(rb) / "analysis.py"
    write(theirs, "written on the server before any sync\n")
    as_remote_user(theirs)
    out = sync(rb, "push", "s")
    assert out.returncode == 0, out.stderr
    assert theirs.read_text() == "written on the server before any sync\n"
    (beside,) = remote_dir(rb).glob("analysis.local-*.py")
    assert beside.read_text() == "print('hi')\n"
    assert (remote_dir(rb) / "run.sh").exists()  # the rest went over


def test_an_unchanged_destination_is_simply_updated(rb: Runner, project: Path) -> None:
    assert sync(rb, "push", "s").returncode == 0
    write(project / "analysis.py", "newer on the laptop", mtime=time.time() + 10)
    out = sync(rb, "push", "s")
    assert "conflict" not in out.stderr
    assert (remote_dir(rb) / "analysis.py").read_text() == "newer on the laptop"


def test_dry_run_changes_nothing_on_either_side(rb: Runner, project: Path) -> None:
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    out = sync(rb, "push", "s", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "analysis.py" in out.stdout and "would transfer" in out.stdout
    assert not (remote_dir(rb) / "analysis.py").exists()
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_delete_refuses_without_confirmation(rb: Runner, project: Path) -> None:
    assert sync(rb, "push", "s").returncode == 0
    (project / "analysis.py").unlink()
    out = sync(rb, "push", "s", "--delete")
    assert out.returncode == 2
    assert "analysis.py" in out.stderr and "--yes" in out.stderr
    assert (remote_dir(rb) / "analysis.py").exists()
    out = sync(rb, "push", "s", "--delete", "--yes")
    assert out.returncode == 0, out.stderr
    assert not (remote_dir(rb) / "analysis.py").exists()


def answer_prompt(rb: Runner, answer: str, *args: str, meanwhile: Callable[[], None] = lambda: None) -> tuple[int, str]:
    """Run with a terminal on stdin (a pty), wait for the confirmation prompt, call `meanwhile`, type the answer.

    At the prompt the sync has made its plan and not yet transferred: `meanwhile` can change a side in that gap.
    """
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        rb.argv(*args),
        cwd=rb.project,
        env=rb.env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        seen, deadline = "", time.monotonic() + 30
        assert proc.stderr is not None
        while "delete these?" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096).decode()
                if not chunk:
                    break
                seen += chunk
        assert "delete these?" in seen, seen
        meanwhile()
        os.write(master, (answer + "\n").encode())
        _, rest = proc.communicate(timeout=60)
        return proc.returncode, seen + rest
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_delete_asks_on_a_terminal_and_only_yes_deletes(rb: Runner, project: Path) -> None:
    assert sync(rb, "push", "s").returncode == 0
    (project / "analysis.py").unlink()
    (project / "new.py").write_text("x = 1\n")
    code, err = answer_prompt(rb, "n", "sync", "push", "s", "--delete")
    assert code == 2 and "--delete would remove:\n  analysis.py" in err and "nothing was deleted" in err
    assert (remote_dir(rb) / "analysis.py").exists() and not (remote_dir(rb) / "new.py").exists()
    code, err = answer_prompt(rb, "y", "sync", "push", "s", "--delete")
    assert code == 0, err
    assert not (remote_dir(rb) / "analysis.py").exists() and (remote_dir(rb) / "new.py").exists()


def test_path_outside_the_project_is_refused(rb: Runner, project: Path) -> None:
    out = sync(rb, "push", "s", "../elsewhere")
    assert out.returncode == 2
    assert "outside the project" in out.stderr


def test_killed_transfer_leaves_no_truncated_file_and_resumes(rb: Runner, project: Path) -> None:
    big = project / "big.bin"
    with big.open("wb") as f:
        for i in range(64):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 64 MiB, not compressible to nothing
    proc = rb.spawn("sync", "push", "s")
    target = remote_dir(rb) / "big.bin"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(remote_dir(rb).glob(".big.bin.*")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    assert not target.exists()  # the partial data is in rsync's temp file, never in place
    out = sync(rb, "push", "s")
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()


def test_rsync_missing_on_the_remote_is_named(rb: Runner, project: Path) -> None:
    out = sync(rb, "push", "rbnopy")  # its login PATH has basic tools only: no rsync
    assert out.returncode == 9
    assert "rsync is not installed on the remote" in out.stderr and "Traceback" not in out.stderr


def test_watch_pushes_a_change_within_its_debounce(rb: Runner, project: Path) -> None:
    proc = rb.spawn("sync", "push", "s", "--watch")
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "watching" not in line:  # after the first, full push
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            line = proc.stderr.readline() if ready else ""
        assert "watching" in line
        target = remote_dir(rb) / "analysis.py"
        for attempt in range(5):  # an event in the instant before the watcher is armed is lost: write again
            write(project / "analysis.py", f"changed while watching {attempt}\n")
            changed_at = time.monotonic()
            while time.monotonic() - changed_at < 5 and "changed while watching" not in target.read_text():
                time.sleep(0.05)
            if "changed while watching" in target.read_text():
                break
        assert target.read_text().startswith("changed while watching")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=20)
    assert code == 0
    assert rb.ssh_clients() == []


def wait_for(proc: subprocess.Popen[str], text: str, seconds: float) -> str:
    """Read the process's stderr until a line holds text (or the deadline); returns what was read."""
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and text not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
    return seen


@pytest.mark.timeout(120)
def test_watch_retries_a_failed_push_by_itself_once_the_link_is_back(rb: Runner, project: Path) -> None:
    if rb.host.host_veth is None:
        pytest.skip("needs the network namespace to take the link down")
    # The user's ssh config decides how fast a dead link is noticed (remotebook's default: 45 s).
    fast = rb.project.parent / "ssh_config_fast"
    fast.write_text(f"ServerAliveInterval 1\nServerAliveCountMax 2\nInclude {rb.host.ssh_config}\n")
    rb.env["REMOTEBOOK_SSH_CONFIG"] = str(fast)
    proc = rb.spawn("sync", "push", "s", "--watch")
    try:
        assert "watching" in wait_for(proc, "watching", 30)
        rb.host.set_link(False)
        try:
            target = remote_dir(rb) / "analysis.py"
            failed = ""
            for attempt in range(5):  # an event in the instant before the watcher is armed is lost: write again
                write(project / "analysis.py", f"written while the link was down {attempt}\n")
                failed = wait_for(proc, "push failed", 10)
                if "push failed" in failed:
                    break
            assert "push failed" in failed and "trying again in 1s" in failed
            wait_for(proc, "(nothing: let any change still queued fail too)", 3)
        finally:
            rb.host.set_link(True)
        # no further change here: the retry alone brings it over
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "written while the link was down" not in target.read_text():
            time.sleep(0.2)
        assert target.read_text().startswith("written while the link was down")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=20)
    assert code == 0


def test_up_sync_pushes_before_the_server_starts(rb: Runner, project: Path) -> None:
    report = rb.json("up", "s", "--detach", "--no-browser", "--sync")
    assert (remote_dir(rb) / "analysis.py").read_text() == "print('hi')\n"
    assert report["server"]["started"] is True
    assert len(rb.masters()) == 1  # sync's own master is gone


def test_full_remote_disk_is_said_and_leaves_no_truncated_file(rb: Runner, project: Path) -> None:
    full = rb.host.home("rbtest") / "small-disk"
    full.mkdir()
    # mount where the remote's sshd sees it: `ip netns exec` gave it its own mount namespace
    mount = rb.host.in_sshd_mounts(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(full)])
    subprocess.run(mount, check=True, timeout=10)
    try:
        rb.write_config('[profiles.tiny]\nhost = "rbremote"\nremote_dir = "~/small-disk/proj"\n')
        (project / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        out = sync(rb, "push", "tiny")
        assert out.returncode == 9
        assert "the destination disk is full" in out.stderr and "Traceback" not in out.stderr
        listing = subprocess.run(
            rb.host.in_sshd_mounts(["ls", "-a", str(full / "proj")]), capture_output=True, text=True
        )
        assert "big.bin" not in listing.stdout.split()  # no truncated file in place
    finally:
        subprocess.run(rb.host.in_sshd_mounts(["umount", "-l", str(full)]), timeout=10)


def test_remote_dir_without_permission(rb: Runner, project: Path) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\nremote_dir = "/root/not-yours"\n')
    out = sync(rb, "push", "p")
    assert out.returncode == 9
    assert "rbremote: cannot create remote_dir /root/not-yours" in out.stderr  # the words `up` uses


def test_foreground_up_keys_push_and_pull(rb: Runner, project: Path) -> None:
    import pty

    controller, terminal = pty.openpty()  # `up` reads keys from a terminal, like a person's
    proc = subprocess.Popen(
        rb.argv("up", "s", "--no-browser"), cwd=rb.project, env=rb.env, stdin=terminal,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert proc.stdout is not None
        assert "Jupyter is up" in proc.stdout.readline()
        r = remote_dir(rb)

        def press_until(key: bytes, done: Callable[[], bool]) -> None:
            for _ in range(3):  # the key reader starts right after the URL line is printed
                os.write(controller, key)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not done():
                    time.sleep(0.05)
                if done():
                    return
            raise AssertionError(f"key {key!r} had no effect")

        press_until(b"p", lambda: (r / "analysis.py").exists())
        write(r / "results" / "out.txt", "computed")
        as_remote_user(r / "results" / "out.txt")
        press_until(b"l", lambda: (project / "results" / "out.txt").exists())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)
        os.close(controller)
    assert rb.ssh_processes() == []  # the keys rode the master of `up`, which Ctrl-C closed


def test_pull_over_a_file_only_touched_locally_is_no_conflict(rb: Runner, project: Path) -> None:
    write(project / "analysis.ipynb", "v1")
    assert sync(rb, "push", "s").returncode == 0
    write(remote_dir(rb) / "analysis.ipynb", "edited on the server", mtime=time.time() + 5)
    as_remote_user(remote_dir(rb) / "analysis.ipynb")
    os.utime(project / "analysis.ipynb", (time.time() + 10, time.time() + 10))  # touched, not edited
    out = sync(rb, "pull", "s")
    assert out.returncode == 0, out.stderr
    assert "conflict" not in out.stderr
    assert (project / "analysis.ipynb").read_text() == "edited on the server"
    assert list(project.glob("analysis.remote-*")) == []
