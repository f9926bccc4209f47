"""What the remote scripts are told of a profile: every value arrives there as a quoted literal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from remotebook.local.config import kernel_name

if TYPE_CHECKING:
    from remotebook.local.config import Profile

# Durable outputs' server extensions: name -> the version tested here (env/durable.py checks and installs them).
DURABLE_PINS = {"jupyter-collaboration": "5.0.4", "jupyter-server-nbmodel": "0.2.9"}


def durable_requirements() -> list[str]:
    """What `env` installs for durable outputs (besides JupyterLab)."""
    return [f"{name}=={version}" for name, version in DURABLE_PINS.items()]


def bootstrap_values(profile: Profile, **extra: str) -> dict[str, str]:
    """What the bootstrap needs to know of a profile (each value arrives as a literal)."""
    values = {
        **profile.root_values(),
        "APP": profile.app,
        "JUPYTER": profile.jupyter,
        "VENV": profile.venv,
        "CONDA_ENV": profile.conda_env,
        "SETUP": "\n".join(profile.setup),
        "TRANSPORT": profile.transport,
        "BIND": "127.0.0.1",  # a TCP server's address; "slurm-node": the node's own, in a batch job
        "TIMEOUT": str(math.ceil(profile.start_timeout)),  # the shell counts whole seconds: 0.5 is 1, not 0
        "TOKEN": "",
        "FOLLOW": "no",
        "RESTART": "yes",
        "LINES": "200",
        "RUN": "detached",  # how the server is run: detached here; `exec` in the foreground in a batch job
        "KERNEL": kernel_name(profile.project_dir),  # names this project's env (`remotebook env`)
        "DURABLE": "yes" if profile.durable_outputs else "no",  # browser cells run on the server (env/durable.py)
        "DURABLE_PINS": " ".join(durable_requirements()),
    }
    values.update(extra)
    return values
