"""`remotebook init`: a commented remotebook.toml to start from."""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from remotebook.core.errors import UsageError
from remotebook.local import trust
from remotebook.local.config import APPS, PROJECT_FILE, host_problem, kernel_name, project_name
from remotebook.local.paths import Paths, default_paths

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

TEMPLATE = """\
# remotebook.toml: how `remotebook up` reaches this project's remote Jupyter.
# `remotebook up` uses the profile named by `default` (or the only one).
default = {profile}

[profiles.{profile}]
# An ssh destination: host, user@host, or a Host alias from ~/.ssh/config.
host = {host}

# The notebook root on the remote (created if missing). ~ is the remote home.
remote_dir = {remote_dir}

# "lab" (JupyterLab) or "notebook" (Notebook 7).
app = {app}

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


@dataclass(frozen=True)
class Answers:
    """What the wizard asks (each also a flag of `remotebook init`)."""

    host: str
    profile: str
    remote_dir: str
    app: str = "lab"


def default_profile(folder: Path) -> str:
    """The project's folder name as a profile name: two projects do not both call theirs `server`."""
    return kernel_name(folder).removeprefix("rb-")


def defaults(folder: Path, host: str = "") -> Answers:
    return Answers(host or "my-server", default_profile(folder), "~/" + project_name(folder))


def render(answers: Answers) -> str:
    """The commented file; every value is a TOML string (json's quoting is TOML's basic string)."""
    if not PROFILE_NAME.fullmatch(answers.profile):
        raise UsageError(
            f"profile name {answers.profile!r} has characters a shell would trip on",
            hint="use letters, digits, '.', '_' and '-'",
        )
    problem = host_problem(answers.host)
    if problem:
        raise UsageError(f"host `{answers.host}` {problem}", hint="give an ssh destination like user@host")
    if answers.app not in APPS:
        raise UsageError(f"app must be one of {', '.join(APPS)}, not {answers.app!r}")
    values = {key: json.dumps(value) for key, value in asdict(answers).items()}
    return TEMPLATE.format(**values).replace(f"[profiles.{values['profile']}]", f"[profiles.{answers.profile}]")


def changes(folder: Path, text: str) -> str | None:
    """A unified diff from the existing remotebook.toml to `text`; None when there is no file, "" when equal."""
    path = folder / PROJECT_FILE
    if not path.exists():
        return None
    old = path.read_text(encoding="utf-8", errors="replace")
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), text.splitlines(keepends=True), f"{PROJECT_FILE} (now)", f"{PROJECT_FILE} (new)"
    )
    return "".join(diff)


def write(
    folder: Path, *, host: str = "", force: bool = False, paths: Paths | None = None, text: str | None = None
) -> Path:
    """Write the file and approve it: what remotebook wrote needs no `remotebook trust`."""
    path = folder / PROJECT_FILE
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="edit it, or use --force to overwrite it")
    if text is None:
        text = render(defaults(folder, host))
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode & ~0o022)  # a umask of 002 would make it a file remotebook refuses
    tmp.replace(path)
    real = Path(os.path.realpath(path))
    trust.record(paths or default_paths(), trust.Checked(path, real, text.encode("utf-8")), by="init")
    return path
