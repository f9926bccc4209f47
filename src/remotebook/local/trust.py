"""Which config files remotebook obeys: yours, writable only by you, and (when they run commands) approved.

Two rules, after git's `safe.directory` and `direnv allow` / `mise trust`:

- A config file owned by another user (root included: root is refused another user's
  file, as git does) or writable by group or others is refused outright. The file is
  opened once and judged on that open descriptor (fstat), and the bytes read from it
  are the bytes parsed and hashed: a symlink is judged by the file it leads to, and
  swapping the file between the check and the read is not possible.
- A project file whose profile sets a key that makes remotebook run something
  (COMMAND_KEYS), or a data key with a risky value (risky_data: a remote_dir that is the
  server's home or in ~/.ssh, transport = "tcp"), is obeyed only once the user approved
  that content: its sha256 is pinned in the trust store; a changed file asks again.
  Harmless data (remote_dir = "~/proj") needs no approval, so a fresh clone just works.

The folder that holds the file is not judged: whoever can write it can only replace
the file with one they own (refused) or with other content (another hash: asks again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remotebook.core.errors import UntrustedError
from remotebook.local.paths import Paths, private_dir
from remotebook.local.state import locked_file

log = logging.getLogger(__name__)

# What each key makes remotebook run; `trust` shows it next to the value.
COMMAND_KEYS = {
    "ssh_config": "read by ssh on this computer (`ssh -F`): Match exec, ProxyCommand, LocalCommand run here",
    "setup": "shell commands run on the server before Jupyter",
    "jupyter": "the program started on the server as Jupyter",
    "venv": "a venv on the server whose bin/ is put first on PATH",
    "conda_env": "a conda env activated on the server (its activation scripts run)",
    "jupyter_args": "arguments for the Jupyter server (they can load extensions and run code)",
    "scheduler": "submits batch jobs on the cluster, charged to your account",
    "slurm": "sbatch arguments for those jobs (extra_args can set their environment, account, or what they depend on)",
}
# Data keys that are harmless in most values; the risky ones need approval as the command keys do.
# exclude and pull need none: sync makes each of their patterns a plain one (never an include or a
# `!` that clears the always-skipped list), and they reach only into remote_dir, which is judged.
TCP_RISK = "puts Jupyter on a TCP port on the server that its other users can reach (only the token guards it)"
STORE_NAME = "trusted.json"


@dataclass(frozen=True)
class Checked:
    """A config file read after its owner and mode were judged: what was read, from where."""

    path: Path  # as found (may be a symlink)
    real: Path  # the file really read
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def problem(st: os.stat_result, uid: int) -> str:
    """Why a file with this stat must not be obeyed by user `uid` ("" when it may)."""
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_uid != uid:
        return f"is owned by {_user_name(st.st_uid)}, not by you"
    writable = [who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if st.st_mode & bit]
    return f"is writable by {' and '.join(writable)}" if writable else ""


def read_owned(path: Path) -> Checked:
    """Open `path` once, judge the opened file, read it: UntrustedError, or OSError if unreadable."""
    real = Path(os.path.realpath(path))
    # O_NONBLOCK: a FIFO put in the file's place must not hang us; it is then refused as not regular.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as f:
        why = problem(os.fstat(f.fileno()), os.geteuid())
        if why:
            raise refusal(path, real, why)
        return Checked(path, real, f.read())


def refusal(path: Path, real: Path, why: str) -> UntrustedError:
    shown = f"{path} (a symlink to {real})" if real != Path(os.path.abspath(path)) else str(real)
    if why.startswith("is writable"):
        hint = f"if the file is yours to keep: `chmod go-w {real}`"
    else:
        hint = "read it; if you want it, copy it to a file of your own, else remove it or work elsewhere"
    return UntrustedError(f"{shown} {why}; remotebook does not read it, as it could make remotebook run commands", hint)


def command_keys(table: Mapping[str, Any], ssh_config_override: str = "") -> list[str]:
    """The keys of one profile table that would run something (an --ssh-config replaces ssh_config)."""
    return sorted(k for k in COMMAND_KEYS if table.get(k) and not (k == "ssh_config" and ssh_config_override))


def risky_data(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, what it risks) of a profile's data keys whose value is not harmless: these need approval too."""
    from remotebook.local.roots import risk

    found = []
    why = risk(table["remote_dir"]) if isinstance(table.get("remote_dir"), str) else ""
    if why:
        found.append(("remote_dir", why))
    if table.get("transport") == "tcp":
        found.append(("transport", TCP_RISK))
    return found


def risks_of(tables: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, Any, str]]:
    """(profile, key, value, what approving it allows) of every risky data key: what `trust` names."""
    found = [(name, key, table[key], why) for name, table in tables.items() for key, why in risky_data(table)]
    for name, table in tables.items():
        value = table.get("remote_dir")
        if (
            isinstance(value, str) and value.startswith("/") and value.strip("/")
        ):  # judged on the server, unless approved
            why = "if that is your home on the server, or holds it, or is in a dotted folder of it, this file may write there"
            found.append((name, "remote_dir", value, why))
    return found


def commands_of(tables: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, Any]]:
    """(profile, key, value) of every command key in a file, in file order: what `trust` shows."""
    return [(name, key, table[key]) for name, table in tables.items() for key in table if key in COMMAND_KEYS]


# The trust store: {"files": {real path: {"sha256": ..., "approved": ISO time, "by": "trust"|"init"}}}


def store_file(paths: Paths) -> Path:
    return paths.state_dir / STORE_NAME


def entries(paths: Paths) -> dict[str, dict[str, str]]:
    """The approvals recorded; a store that is missing, damaged or not safely yours counts as empty."""
    try:
        data = json.loads(read_owned(store_file(paths)).data)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UntrustedError) as e:
        log.warning("ignoring the trust store %s: %s", store_file(paths), e)
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(v, dict) and isinstance(v.get("sha256"), str)}


def approvals(paths: Paths) -> dict[str, str]:
    """Real path -> approved sha256, for config.load."""
    return {path: entry["sha256"] for path, entry in entries(paths).items()}


def verdict(approved: Mapping[str, str], checked: Checked) -> str:
    """ "approved", "changed" (approved with other content) or "new"."""
    pinned = approved.get(str(checked.real))
    if pinned is None:
        return "new"
    return "approved" if pinned == checked.sha256 else "changed"


def record(paths: Paths, checked: Checked, by: str = "trust") -> None:
    """Pin this content of this file as approved."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with _locked(paths):
        files = entries(paths)
        files[str(checked.real)] = {"sha256": checked.sha256, "approved": when, "by": by}
        _write(paths, files)


def revoke(paths: Paths, real: Path) -> bool:
    """Forget the approval of that file; False if there was none."""
    with _locked(paths):
        files = entries(paths)
        if files.pop(str(real), None) is None:
            return False
        _write(paths, files)
    return True


def _write(paths: Paths, files: dict[str, dict[str, str]]) -> None:
    folder = private_dir(paths.state_dir)
    tmp = folder / f".{STORE_NAME}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"files": files}, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, store_file(paths))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _locked(paths: Paths) -> contextlib.AbstractContextManager[None]:
    """Two `trust` at once must not lose an approval: read-modify-write under a flock."""
    return locked_file(private_dir(paths.state_dir) / f"{STORE_NAME}.lock", timeout=10)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
