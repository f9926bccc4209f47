"""`remotebook init`: a commented remotebook.toml to start from."""

from __future__ import annotations

import os
from pathlib import Path

from remotebook import trust
from remotebook.config import PROJECT_FILE, project_name
from remotebook.errors import UsageError
from remotebook.paths import Paths, default_paths

TEMPLATE = """\
# remotebook.toml: how `remotebook up` reaches this project's remote Jupyter.
# `remotebook up` uses the profile named by `default` (or the only one).
default = "server"

[profiles.server]
# An ssh destination: host, user@host, or a Host alias from ~/.ssh/config.
host = "{host}"

# The notebook root on the remote (created if missing). ~ is the remote home.
remote_dir = "~/{project}"

# "lab" (JupyterLab) or "notebook" (Notebook 7).
app = "lab"

# Preferred local port; a free one is used when it is taken.
# local_port = 8888

# Where Jupyter is on the remote, if a login shell does not find it:
# jupyter = "/opt/jupyter/bin/jupyter"
# venv = "~/venvs/lab"
# conda_env = "lab"

# Shell commands run first on the remote (environment modules, etc.):
# setup = ["module load cuda/12.2"]

# Extra arguments for the Jupyter server:
# jupyter_args = ["--ServerApp.iopub_data_rate_limit=1e10"]

# An ssh config file to use instead of ~/.ssh/config (as `ssh -F`):
# ssh_config = "~/.ssh/config-work"

# Seconds to wait for Jupyter to start (slow NFS homes may need more):
# start_timeout = 60
"""


def write(folder: Path, *, host: str = "", force: bool = False, paths: Paths | None = None) -> Path:
    """Write the template and approve it: what remotebook wrote needs no `remotebook trust`."""
    path = folder / PROJECT_FILE
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="edit it, or use --force to overwrite it")
    text = TEMPLATE.format(host=host or "my-server", project=project_name(folder))
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode & ~0o022)  # a umask of 002 would make it a file remotebook refuses
    tmp.replace(path)
    real = Path(os.path.realpath(path))
    trust.record(paths or default_paths(), trust.Checked(path, real, text.encode("utf-8")), by="init")
    return path
