"""A `Host` block for ~/.ssh/config: built from what `ssh -G` resolved, added once, after a backup."""

from __future__ import annotations

import getpass
import ipaddress
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from remotebook.connection.ssh import Target
from remotebook.core.errors import UsageError


def default_file() -> Path:
    return Path.home() / ".ssh" / "config"


def alias_for(target: Target, fallback: str) -> str:
    """A short name for the host: the first label of its name (`gpu-box.example.org` -> gpu-box), else `fallback`."""
    try:
        ipaddress.ip_address(target.hostname.strip("[]"))
        return fallback
    except ValueError:
        return target.hostname.split(".", 1)[0] or fallback


def configured(target: Target) -> bool:
    """Does some ssh config already map the destination to another HostName (an alias, maybe from an Include)?"""
    return target.hostname.lower() != host_part(target.destination).lower()


def host_part(destination: str) -> str:
    """The host of `user@host` or `ssh://user@host:port` (`[v6]` unbracketed)."""
    uri = destination.startswith("ssh://")
    rest = destination.removeprefix("ssh://").rpartition("@")[2]
    if uri and rest.startswith("[") and "]" in rest:
        return rest[1 : rest.index("]")]
    return rest.partition(":")[0] if uri else rest


_ALIAS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def block(alias: str, target: Target, identity: str = "") -> str:
    """The Host block: only what differs from ssh's defaults for this user.

    A line ssh cannot read would break every ssh command of the user, so the alias must be a
    plain name and a value with spaces is quoted (ssh_config reads "..."); UsageError otherwise.
    """
    check_alias(alias)
    lines = [f"Host {alias}", f"    HostName {_value(target.hostname)}"]
    if target.user and target.user != getpass.getuser():
        lines.append(f"    User {_value(target.user)}")
    if target.port != 22:
        lines.append(f"    Port {target.port}")
    if identity:
        lines.append(f"    IdentityFile {_value(identity)}")
    return "# added by `remotebook init`\n" + "\n".join(lines) + "\n"


def check_alias(alias: str) -> None:
    """UsageError unless `alias` is a plain name for a `Host` line (no pattern, no option, one word)."""
    if not _ALIAS.fullmatch(alias):
        raise UsageError(
            f"--alias {alias!r} is not a plain host name for ssh config",
            hint="use letters, digits, '.', '_' and '-', not starting with '-'",
        )


def _value(text: str) -> str:
    """A value as ssh_config reads it: quoted when it has whitespace; a double quote cannot be written."""
    if '"' in text or any(c in text for c in "\n\r"):
        raise UsageError(f"{text!r} cannot be written into an ssh config", hint="use a path or name without quotes")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def hosts(text: str) -> set[str]:
    """Every name a `Host` line lists (patterns included, `!` negations not), case as written."""
    names: set[str] = set()
    for line in text.splitlines():
        words = line.replace("=", " ", 1).split()
        if len(words) > 1 and words[0].lower() == "host":
            names.update(word for word in words[1:] if not word.startswith("!"))
    return names


def insert(text: str, new_block: str) -> str:
    """`text` with the block before its first Host/Match section: ssh keeps the first value it reads for a setting,
    so a `Host *` further down supplies defaults without overriding this host's own."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        first = line.split(None, 1)[:1]
        if first and first[0].lower() in ("host", "match"):
            return "".join(lines[:i]) + new_block + "\n" + "".join(lines[i:])
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + new_block


def _backup_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):  # never over an earlier backup, even within one second
        candidate = path.with_name(f"{path.name}.remotebook-{stamp}{f'-{n}' if n else ''}.bak")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"too many backups of {path} this second")


@dataclass(frozen=True)
class Written:
    path: Path
    backup: Path | None  # None when the file did not exist


def add(path: Path, alias: str, new_block: str) -> Written | None:
    """Add the block to `path`, after a backup; None (nothing written) when a `Host alias` is already there."""
    path = Path(os.path.realpath(path))  # a symlinked config (dotfiles) stays a symlink
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if alias in hosts(old):
        return None
    backup = None
    if path.exists():
        backup = _backup_name(path)
        shutil.copy2(path, backup)  # mode and times kept: ssh refuses a config others can write
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.remotebook-{os.getpid()}.tmp")
    tmp.write_text(insert(old, new_block), encoding="utf-8")
    tmp.chmod(path.stat().st_mode & 0o777 if path.exists() else 0o600)
    tmp.replace(path)
    return Written(path, backup)
