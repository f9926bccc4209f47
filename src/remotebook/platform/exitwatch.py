"""Wake a waiting loop the moment a process that is not our child exits: a pidfd on Linux, nothing elsewhere."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading

log = logging.getLogger(__name__)


def watch_exit(pid: int, wake: threading.Event, stop: threading.Event, interval: float) -> bool:
    """Set `wake` when `pid` exits, from a daemon thread that ends then or once `stop` is set.

    False when it cannot watch (no `os.pidfd_open`: macOS, Linux < 5.3; the pid is gone or not
    ours to watch): the caller's periodic check then finds the exit, only later. The thread
    wakes every `interval` to look at `stop`, so it never outlives its owner's loop by more.
    """
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return False
    try:
        fd = opener(pid)
    except OSError as e:
        log.debug("cannot watch pid %d for its exit: %s", pid, e)
        return False

    def wait() -> None:
        try:
            while not stop.is_set():
                ready, _, _ = select.select([fd], [], [], interval)
                if ready:  # a pidfd turns readable when its process exits
                    wake.set()
                    return
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    threading.Thread(target=wait, name=f"exit-watch-{pid}", daemon=True).start()
    return True
