"""What a push into the home (a remote_dir the user chose or approved) must never send: the shell, ssh, Jupyter and git start-up files."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from remotebook.local.roots import SETTINGS_DIRS
from remotebook.sync.rsync_text import literal


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
