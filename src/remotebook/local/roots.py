"""What a remote_dir may be: a folder of the project's own on the server, never the account's home or settings.

A push writes the project's files into remote_dir, and `up`/`env`/`run` write and run
there. Were it the home (`remote_dir = "~"`), a cloned repo's `.bash_profile` would run at
the next login and its `.ssh/authorized_keys2` would let its author in. So:

- risk(): a remote_dir that is the home, holds it (`/`, `/home`), or lies in one of its
  dotted folders (`~/.ssh`, `~/.config/x`) is refused unless the user chose it (their own
  config.toml) or approved it with `remotebook trust`. This judges what the text says;
  the server judges the real path (symlinks followed) in common.sh's rb_judge, for an
  absolute path too, in the same round trip as the action.
- sync/skips.py: even a remote_dir the user chose gets no start-up files from a push (what the
  login shell, sshd, git or Jupyter would read there); the push says what it skipped.
"""

from __future__ import annotations

# Settings folders of the home where anything a push put would be read by a tool: a remote_dir
# inside one gets nothing pushed, even when approved. (Any dotted top-level folder needs approval.)
SETTINGS_DIRS = (".ssh", ".config", ".local", ".jupyter", ".ipython", ".remotebook", ".conda", ".git")


# The actions that make, write or run something in remote_dir: judged before they do (the others only read).
JUDGED_ACTIONS = {
    "bootstrap": ("ensure", "durable", "password_set", "password_clear"),
    "env": ("probe", "install"),
    "run": ("start",),
    "slurm": ("ensure", "query", "stop", "logs"),  # slurm.sh makes remote_dir before any action
    "sync": ("mkdir", "check", "restore"),
}


_HOME_RISK = "a project's files there can be your shell start-up files (.bash_profile) and ~/.ssh keys"


def risk(remote_dir: str) -> str:
    """Why this remote_dir is the account's rather than a project's, as far as its text tells ("" if it is not).

    `~`, `~/...` and relative paths are the home's (as the remote scripts read them); an
    absolute path other than `/` needs the server's home, so the server judges it.
    """
    if remote_dir.startswith("/"):
        return "holds your home folder on the server: " + _HOME_RISK if not remote_dir.strip("/") else ""
    parts, climbed = _below_home(remote_dir)
    if climbed:
        return "holds your home folder on the server (it goes up from ~ with ..)"
    if not parts:
        return "is your home folder on the server: " + _HOME_RISK
    if parts[0].startswith("."):
        return f"is inside ~/{parts[0]} on the server, where ssh, your shell or your tools read their settings"
    return ""


def _below_home(remote_dir: str) -> tuple[list[str], bool]:
    """The folders below the home that remote_dir names (`..` applied as written); True if it climbs above."""
    rest = remote_dir[1:] if remote_dir == "~" or remote_dir.startswith("~/") else remote_dir
    parts: list[str] = []
    for part in rest.split("/"):
        if part == "..":
            if not parts:
                return [], True
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts, False
