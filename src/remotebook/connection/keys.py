"""The user's ssh key for a first login: make an ed25519 key with ssh-keygen, read its public line."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

from remotebook.core import proc
from remotebook.core.errors import CommandError, RemotebookError

KEYGEN_TIMEOUT = 300.0  # a human may type a passphrase twice


def default_key() -> Path:
    return Path.home() / ".ssh" / "id_ed25519"


def public_line(key: Path) -> str:
    """The one line that goes into authorized_keys, from KEY.pub."""
    pub = key.with_name(key.name + ".pub")
    try:
        line = pub.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise RemotebookError(
            f"cannot read {pub}: {e.strerror}", hint=f"make it again with `ssh-keygen -y -f {key}`"
        ) from None
    if not line.startswith(("ssh-", "ecdsa-", "sk-")) or "\n" in line:
        raise RemotebookError(f"{pub} is not one public key line", hint="give another key with --key-file")
    return line


def generate(key: Path, *, ask_passphrase: bool) -> None:
    """ssh-keygen -t ed25519 at `key`; it asks the passphrase on the terminal itself, else the key has none."""
    if key.exists() or key.with_name(key.name + ".pub").exists():
        raise RemotebookError(f"{key} already exists", hint="use it (run init again), or give another --key-file")
    key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    comment = f"{getpass.getuser()}@{socket.gethostname()} (remotebook init)"
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-f", str(key), "-C", comment]
    if not ask_passphrase:
        argv += ["-N", ""]
    try:
        proc.run(argv, timeout=KEYGEN_TIMEOUT, check=True)
    except CommandError as e:
        key.unlink(missing_ok=True)  # no half of a pair left behind
        key.with_name(key.name + ".pub").unlink(missing_ok=True)
        raise RemotebookError(
            f"ssh-keygen could not make {key}: {e.message}", hint="make it yourself with ssh-keygen"
        ) from e
