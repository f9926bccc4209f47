"""The local rsync: found, checked to be new enough, and pointed at the target through our ssh master."""

from __future__ import annotations

import functools
import shlex
import shutil

from remotebook.connection import ssh
from remotebook.core import proc
from remotebook.core.errors import SyncError
from remotebook.sync.rsync_text import parse_version

# 3.2.4 quotes the remote path for the remote shell by itself (older ones let it split or glob it).
LOCAL_RSYNC_NEEDED = (3, 2, 4)
PARTIAL_DIR = ".rsync-partial"  # an interrupted transfer waits here, never in place
# Ride the target's master; if none runs, make a short-lived one that ends 30 s after the transfer.
SHORT_PERSIST = "30"


def argv(target: ssh.Target, *extra: str, persist: str = SHORT_PERSIST) -> list[str]:
    """rsync -a with -e set to our ssh (same -F, same control socket; a master lingering `persist` if none runs)."""
    local_rsync()
    return ["rsync", "-a", f"--partial-dir={PARTIAL_DIR}", "-e", shlex.join(ssh.rsh(target, persist)), *extra]


def local_rsync() -> str:
    """The rsync on PATH, once it is known to be new enough (asked once per process)."""
    exe = shutil.which("rsync")
    if exe is None:
        raise SyncError(
            "rsync is not installed on this computer", hint="install it (apt install rsync / brew install rsync)"
        )
    require_local_rsync(_local_version(exe))
    return exe


@functools.cache
def _local_version(exe: str) -> tuple[int, ...] | None:
    return parse_version(proc.run([exe, "--version"], timeout=30).stdout)


def require_local_rsync(version: tuple[int, ...] | None) -> None:
    if version is None or version < LOCAL_RSYNC_NEEDED:
        found = ".".join(map(str, version)) if version else "not samba rsync"
        needed = ".".join(map(str, LOCAL_RSYNC_NEEDED))
        raise SyncError(
            f"the rsync on this computer is too old ({found}): sync needs {needed} or newer",
            hint=f"older ones let the remote shell split or expand file names; install rsync {needed}+"
            " (brew install rsync / apt install rsync)",
        )
