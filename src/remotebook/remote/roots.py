"""What a remote_dir may be: a folder of the project's own on the server, never the account's home or settings.

A push writes the project's files into remote_dir, and `up`/`env`/`run` write and run
there. Were it the home (`remote_dir = "~"`), a cloned repo's `.bash_profile` would run at
the next login and its `.ssh/authorized_keys2` would let its author in. So:

- risk(): a remote_dir that is the home, holds it (`/`, `/home`), or lies in one of its
  dotted folders (`~/.ssh`, `~/.config/x`) is refused unless the user chose it (their own
  config.toml) or approved it with `remotebook trust`. This judges what the text says;
  the server judges the real path (symlinks followed) in common.sh's rb_judge, for an
  absolute path too, in the same round trip as the action.
- Skip: even a remote_dir the user chose gets no start-up files from a push (what the
  login shell, sshd, git or Jupyter would read there); the push says what it skipped.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from remotebook.rsync_text import literal

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


@dataclass(frozen=True)
class Skip:
    """What a push into a remote_dir the user chose must leave out: start-up files of the server's home."""

    folder: str  # in the project, where the home's entries would land: "" (remote_dir is the home), "home/u"
    everything: bool  # remote_dir is inside a settings folder: every file pushed would be read by a tool
    why: str

    def pattern(self) -> str:
        """The rsync exclude, anchored at the transfer's root."""
        if self.everything:
            return "/*"
        return literal("/" + self.folder, "/.*") if self.folder else "/.*"


def skip_for(root: str, homes: Sequence[str]) -> Skip | None:
    """What a push into `root` (the server's real path of remote_dir) must skip, given the home's paths there.

    The home's dotted entries (.bash_profile, .bashrc, .profile, .zshrc, .login, .ssh/, .jupyter/,
    .ipython/, .config/, .local/, .gitconfig, ...) are never pushed into the home; nothing is
    pushed into a settings folder (~/.ssh, ~/.config/x, ~/.local/bin, ...). `.git/` (hooks) is
    never pushed anywhere (sync.ALWAYS_SKIPPED).
    """
    root = posixpath.normpath(root)
    for home in dict.fromkeys(posixpath.normpath(h) for h in homes if h.startswith("/")):  # the real one first
        if root == home:
            return Skip("", False, "remote_dir is your home there")
        if _inside(home, root):
            folder = home[len(root) :].strip("/")
            return Skip(folder, False, f"remote_dir holds your home there ({folder})")
        for name in SETTINGS_DIRS:
            if _inside(root, posixpath.join(home, name)) or root == posixpath.join(home, name):
                return Skip("", True, f"remote_dir is inside ~/{name} there")
    return None


def _inside(path: str, folder: str) -> bool:
    return folder == "/" and path != "/" or path.startswith(folder.rstrip("/") + "/")
