"""Local state per target (what `up` made): written atomically, private, removed by `down`."""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from pathlib import Path
from typing import Any

from remotebook.paths import Paths, private_dir


def _file_name(target: str) -> str:
    """A readable, safe file name for a target name (which may be user@host:port)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", target)[:60]
    return f"{safe}-{zlib.crc32(target.encode()):08x}.json"  # the checksum keeps a@b and a_b apart


def path_for(paths: Paths, target: str) -> Path:
    return paths.targets_dir / _file_name(target)


def save(paths: Paths, target: str, data: dict[str, Any]) -> None:
    """Write via a temp file and rename: a crash or Ctrl-C never leaves half a file."""
    folder = private_dir(paths.targets_dir)
    tmp = folder / f".tmp-{os.getpid()}-{time.monotonic_ns()}.json"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600: it holds a token
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, path_for(paths, target))
    except BaseException:
        os.unlink(tmp)
        raise


def load(paths: Paths, target: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path_for(paths, target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable state is the same as none: it is only a cache
    return data if isinstance(data, dict) else None


def remove(paths: Paths, target: str) -> None:
    path_for(paths, target).unlink(missing_ok=True)


def all_targets(paths: Paths) -> list[dict[str, Any]]:
    out = []
    for path in sorted(paths.targets_dir.glob("*.json")) if paths.targets_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "target" in data:
            out.append(data)
    return out
