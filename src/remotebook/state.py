"""Local state per target (what `up` made): written atomically, private, removed by `down`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remotebook.deadline import poll
from remotebook.paths import Paths, private_dir

HEALTH = ".health.json"  # a supervisor's last word about its target, for `status`
SUPERVISOR_LOCK = ".supervisor.lock"  # held while a supervisor runs: one per target


def _file_name(target: str) -> str:
    """A readable, safe file name for a target name (which may be user@host:port)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", target)[:60]
    return f"{safe}-{zlib.crc32(target.encode()):08x}.json"  # the checksum keeps a@b and a_b apart


def path_for(paths: Paths, target: str, suffix: str = ".json") -> Path:
    return paths.targets_dir / (_file_name(target).removesuffix(".json") + suffix)


@contextlib.contextmanager
def locked(paths: Paths, target: str, what: str = ".lock", timeout: float = 300.0) -> Iterator[None]:
    """Hold an exclusive lock for one target (one `up` at a time on this computer).

    flock is released by the kernel when the holder dies, so a crash leaves no stale lock.
    """
    fd = _lock_fd(paths, target, what)
    try:
        if poll(lambda: True if _try_flock(fd) else None, timeout=timeout, interval=0.05) is None:
            raise TimeoutError(f"another remotebook holds {path_for(paths, target, what)}")
        yield
    finally:
        os.close(fd)


def try_lock(paths: Paths, target: str, what: str) -> int | None:
    """A held lock's fd (close it to release), or None when another process holds it."""
    fd = _lock_fd(paths, target, what)
    if _try_flock(fd):
        return fd
    os.close(fd)
    return None


def _lock_fd(paths: Paths, target: str, what: str) -> int:
    private_dir(paths.targets_dir)
    return os.open(path_for(paths, target, what), os.O_RDWR | os.O_CREAT, 0o600)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def save(paths: Paths, target: str, data: dict[str, Any], suffix: str = ".json") -> None:
    """Write via a temp file and rename: a crash or Ctrl-C never leaves half a file."""
    folder = private_dir(paths.targets_dir)
    tmp = folder / f".tmp-{os.getpid()}-{time.monotonic_ns()}.json"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600: it holds a token
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, path_for(paths, target, suffix))
    except BaseException:
        os.unlink(tmp)
        raise


def load(paths: Paths, target: str, suffix: str = ".json") -> dict[str, Any] | None:
    try:
        data = json.loads(path_for(paths, target, suffix).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable state is the same as none: it is only a cache
    return data if isinstance(data, dict) else None


def remove(paths: Paths, target: str, suffix: str = ".json") -> None:
    path_for(paths, target, suffix).unlink(missing_ok=True)


def all_targets(paths: Paths) -> list[dict[str, Any]]:
    out = []
    for path in sorted(paths.targets_dir.glob("*.json")) if paths.targets_dir.is_dir() else []:
        if path.name.endswith(".health.json"):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "target" in data:
            out.append(data)
    return out
