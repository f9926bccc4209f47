"""Where remotebook keeps its config, state, logs and ssh control sockets (redirectable for tests)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

APP = "remotebook"

# A unix socket path must fit in sockaddr_un (104 bytes on macOS, 108 on Linux); ssh
# appends a random suffix while it creates the control socket, so keep ours well short.
MAX_CONTROL_DIR_LEN = 50


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    state_dir: Path
    runtime_dir: Path  # ssh control sockets live here: short, private

    @property
    def user_config(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def targets_dir(self) -> Path:
        return self.state_dir / "targets"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "remotebook.log"


def default_paths() -> Paths:
    """Platform dirs, each overridable by an environment variable (tests use them)."""
    import platformdirs  # imported here: `remotebook --help` should not pay for it

    config = os.environ.get("REMOTEBOOK_CONFIG_DIR") or platformdirs.user_config_dir(APP)
    state = os.environ.get("REMOTEBOOK_STATE_DIR") or platformdirs.user_state_dir(APP)
    runtime = os.environ.get("REMOTEBOOK_RUNTIME_DIR") or _default_runtime_dir()
    return Paths(Path(config), Path(state), Path(runtime))


def _default_runtime_dir() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and len(xdg) + 12 <= MAX_CONTROL_DIR_LEN:
        return os.path.join(xdg, APP)
    # macOS's per-user temp dir is too long for a socket path: use /tmp with our uid.
    return f"/tmp/{APP}-{os.getuid()}"


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) if needed and refuse one that another user could touch."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory owned by you; remove it and retry")
    if st.st_mode & 0o077:
        path.chmod(0o700)
    return path
