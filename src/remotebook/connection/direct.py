"""ssh without the master, for the first login: is the host key known, does a key log in, install one."""

from __future__ import annotations

import shlex
from pathlib import Path

from remotebook.connection.ssh import BATCH_CONNECT, MASTER_TIMEOUT, MUX_TIMEOUT, Target, connecting
from remotebook.core import proc
from remotebook.core.errors import SSHError, last_line


def known_host(target: Target) -> bool | None:
    """Is the target's host key in a known_hosts file ssh reads for it? None when ssh would not say (hashed files, etc.)."""
    name = target.options.get("hostkeyalias") or target.hostname
    if target.port != 22 and not target.options.get("hostkeyalias"):
        name = f"[{name}]:{target.port}"
    files = (
        target.options.get("userknownhostsfile", "").split() + target.options.get("globalknownhostsfile", "").split()
    )
    for file in files:
        path = Path(file).expanduser()
        lookup = ["ssh-keygen", "-F", name, "-f", str(path)]
        if file != "/dev/null" and path.is_file() and proc.run(lookup, timeout=MUX_TIMEOUT).ok:
            return True
    return False if files else None


def direct_argv(target: Target, *extra: str) -> list[str]:
    """ssh argv for a connection of its own: no master of ours (nor one a user left) answers it for the host."""
    base = ["ssh"] + (["-F", target.config_file] if target.config_file else [])
    return [*base, "-o", "ControlPath=none", "-o", "ControlMaster=no", *extra]


def try_login(target: Target, identity: str = "") -> SSHError | None:
    """Can we log in without anyone typing (BatchMode)? None if so, else why not (its `kind` says what)."""
    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] + (["-i", identity] if identity else [])
    argv = direct_argv(target, *extra, "-T", "--", target.destination, "true")
    try:
        connecting(target, argv, timeout=BATCH_CONNECT, own_exit=True)
    except SSHError as e:
        return e
    return None


# Appends the key unless that exact line is there (a second run adds nothing), after a newline if the
# file lacks its last one, in files only the user can read: what ssh-copy-id does. $1 is the key.
_INSTALL_KEY = """umask 077
mkdir -p "$HOME/.ssh" && touch "$HOME/.ssh/authorized_keys" || exit 1
keys="$HOME/.ssh/authorized_keys"
grep -qxF -- "$1" "$keys" && exit 0
if [ -s "$keys" ] && [ -n "$(tail -c 1 "$keys")" ]; then printf '\\n' >> "$keys"; fi
printf '%s\\n' "$1" >> "$keys"
"""


def install_key(target: Target, public_line: str, *, timeout: float = MASTER_TIMEOUT) -> None:
    """Add `public_line` to the remote ~/.ssh/authorized_keys over a connection that may ask a password.

    ssh asks on the terminal (or SSH_ASKPASS) itself: a password once, and an unknown host
    key's fingerprint as the user's StrictHostKeyChecking says, which is never weakened here.
    """
    # The script goes on stdin and the remote command is one line: a csh-family login shell, common
    # on clusters, cannot parse a quoted multi-line `sh -c` argument. ssh asks on /dev/tty, not stdin.
    remote = shlex.join(["sh", "-s", "--", public_line.strip()])
    argv = direct_argv(target, "-T", "--", target.destination, remote)
    result = connecting(target, argv, timeout=timeout, input=_INSTALL_KEY)
    if not result.ok:
        raise SSHError(
            f"could not add the key to ~/.ssh/authorized_keys on {target.destination}: "
            f"{last_line(result.stderr) or f'exit {result.returncode}'}",
            hint="is the remote home writable? add the key by hand (its .pub file)",
        )
