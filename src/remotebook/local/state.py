"""Local state per project (profile + project folder + destination): one private folder each.

What `up` made (port, token, forward), the supervisor's health and lock, the sync
manifest: all hang off the project's identity, never off a profile name alone, so two
projects whose profiles are both called `server` never share a port, a token or a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remotebook.core.deadline import poll
from remotebook.local.paths import Paths, private_dir

log = logging.getLogger(__name__)

STATE = "state.json"  # what `up` made: port, token, forward, the server's description
HEALTH = "health.json"  # a supervisor's last word about its project, for `status`
UP_LOCK = "up.lock"  # held while an `up` (or a supervisor's reconnect) works on the project
SUPERVISOR_LOCK = "supervisor.lock"  # held while a supervisor runs: one per project


@dataclass(frozen=True)
class Identity:
    """What a project *is*: its profile, its folder on this computer, and where it connects."""

    profile: str
    project_dir: str  # the real path of the folder holding remotebook.toml (or the cwd)
    destination: str  # the ssh destination the profile names
    ssh_config: str = ""  # an `ssh -F` file changes where a destination leads

    @property
    def key(self) -> str:
        text = json.dumps([self.profile, self.project_dir, self.destination, self.ssh_config])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def as_json(self) -> dict[str, str]:
        return {
            "target": self.profile,
            "project_dir": self.project_dir,
            "host": self.destination,
            "ssh_config": self.ssh_config,
        }


class Store:
    """One project's private state folder: small JSON files written atomically, and flocks."""

    def __init__(self, paths: Paths, identity: Identity) -> None:
        self.paths = paths
        self.identity = identity
        self.dir = projects_dir(paths) / identity.key

    def path(self, what: str) -> Path:
        return self.dir / what

    def load(self, what: str = STATE) -> dict[str, Any] | None:
        return _read(self.path(what))

    def save(self, data: dict[str, Any], what: str = STATE) -> None:
        """Write via a temp file and rename: a crash or Ctrl-C never leaves half a file."""
        folder = private_dir(self.dir)
        tmp = folder / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600: it may hold a token
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path(what))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def remove(self, what: str = STATE) -> None:
        self.path(what).unlink(missing_ok=True)

    def locked(self, what: str = UP_LOCK, timeout: float = 300.0) -> contextlib.AbstractContextManager[None]:
        """Hold an exclusive lock (flock: the kernel releases it when the holder dies)."""
        private_dir(self.dir)
        return locked_file(self.path(what), timeout)

    def try_lock(self, what: str) -> int | None:
        """A held lock's fd (close it to release), or None when another process holds it."""
        fd = self._lock_fd(what)
        if _try_flock(fd):
            return fd
        os.close(fd)
        return None

    def is_locked(self, what: str) -> bool:
        """Does some process hold this lock now? (Never creates the folder.)"""
        return is_locked(self.path(what))

    def _lock_fd(self, what: str) -> int:
        private_dir(self.dir)
        return os.open(self.path(what), os.O_RDWR | os.O_CREAT, 0o600)


@contextlib.contextmanager
def locked_file(path: Path, timeout: float, busy: Callable[[], Exception] | None = None) -> Iterator[None]:
    """Hold an flock on `path` (created 0600), waiting at most `timeout` s.

    After that, raise `busy()` (default: TimeoutError); only the wait is translated, not the body.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if poll(lambda: True if _try_flock(fd) else None, timeout=timeout, interval=0.05) is None:
            raise busy() if busy else TimeoutError(f"another remotebook holds {path}")
        yield
    finally:
        os.close(fd)


def projects_dir(paths: Paths) -> Path:
    return paths.state_dir / "projects"


def is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # no lock file: nobody ever held it
    try:
        return not _try_flock(fd)  # if we got it, nobody held it (closing the fd lets it go)
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable state is the same as none: it is only a cache
    return data if isinstance(data, dict) else None


def all_projects(paths: Paths) -> list[tuple[str, dict[str, Any]]]:
    """(key, state) of every project with a state file, oldest folder name first."""
    folder = projects_dir(paths)
    out = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        data = _read(sub / STATE)
        if data is not None and isinstance(data.get("target"), str):
            out.append((sub.name, data))
    return out


def health_of(paths: Paths, key: str) -> dict[str, Any] | None:
    return _read(projects_dir(paths) / key / HEALTH)


def drop_old_layout(paths: Paths) -> bool:
    """State from remotebook < 0.3 was filed under the profile name alone (targets/NAME-CRC.json).

    It cannot be mapped to a project folder, so it is dropped: its background supervisors
    are stopped (they would fight the new ones), its files removed. The ssh masters and
    forwards it made live on in the shared control sockets until `down` or a reconnect.
    """
    old = paths.state_dir / "targets"
    if not old.is_dir():
        return False
    for health in old.glob("*.health.json"):
        lock = old / (health.name.removesuffix(".health.json") + ".supervisor.lock")
        pid = (_read(health) or {}).get("pid")
        if isinstance(pid, int) and pid > 0 and is_locked(lock):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
    shutil.rmtree(old, ignore_errors=True)
    log.info("dropped the state of an older remotebook in %s", old)
    return True
