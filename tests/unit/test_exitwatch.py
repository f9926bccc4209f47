"""exitwatch: a pidfd wakes the waiter when a process that is not our child exits (a real process, not a mock)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from remotebook.platform import exitwatch

needs_pidfd = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfd on this platform")


def grandchild() -> tuple[subprocess.Popen[str], int]:
    """A `sleep` whose parent exited at once: not our child, as an `ssh -f` master is not remotebook's."""
    shell = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, text=True)
    assert shell.stdout is not None
    pid = int(shell.stdout.readline())
    shell.wait(timeout=10)
    return shell, pid


@needs_pidfd
def test_exit_of_a_process_that_is_not_our_child_sets_wake() -> None:
    _, pid = grandchild()
    wake, stop = threading.Event(), threading.Event()
    try:
        assert exitwatch.watch_exit(pid, wake, stop, interval=0.2)
        assert not wake.wait(0.3)  # alive: nothing to say
        os.kill(pid, 9)
        assert wake.wait(30)  # a generous bound: the assertion is that it comes without any check loop
    finally:
        stop.set()


@needs_pidfd
def test_stop_ends_the_watcher_thread_of_a_live_process() -> None:
    _, pid = grandchild()
    wake, stop = threading.Event(), threading.Event()
    try:
        assert exitwatch.watch_exit(pid, wake, stop, interval=0.05)
        watcher = next(t for t in threading.enumerate() if t.name == f"exit-watch-{pid}")
        stop.set()
        watcher.join(10)
        assert not watcher.is_alive()
        assert not wake.is_set()
    finally:
        os.kill(pid, 9)


def test_a_pid_that_does_not_exist_cannot_be_watched() -> None:
    wake, stop = threading.Event(), threading.Event()
    pid_max = Path("/proc/sys/kernel/pid_max")
    free = int(pid_max.read_text()) - 1 if pid_max.exists() else 99999  # the last pid: almost never in use
    assert exitwatch.watch_exit(free, wake, stop, interval=0.05) is False
