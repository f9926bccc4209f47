"""What a remote script's error kinds mean for the user: one exception, one line and a hint, per kind."""

from __future__ import annotations

from remotebook.core.errors import (
    ConfigError,
    DurableError,
    InsecureServerError,
    InstallError,
    NotRunningError,
    RemotebookError,
    RemoteEnvError,
    RunFailedError,
    ServerError,
    SyncError,
    TunnelError,
    UntrustedError,
    UsageError,
)
from remotebook.remote import Answer

SHOWN_LINES = 25  # of an installer's output; more comes back, to find the failing requirement in

_HINT_JUPYTER = (
    "run `remotebook env --jupyter` to install JupyterLab in this project's env there, or install it on the "
    "server (`python3 -m pip install --user jupyterlab`), or point the profile at one: "
    'jupyter = "/path/bin/jupyter", venv = "~/venv" or conda_env = "NAME"'
)
# The remote lacks something the user (or their admin) can provide: exit 5.
_ENV_HINTS = {
    "no_python": "install Python 3 (3.8+ for `remotebook env`) on the server, or put one on PATH with the profile's "
    "`setup`, `venv` or `conda_env`",
    "no_jupyter": _HINT_JUPYTER,
    "no_jupyter_server": _HINT_JUPYTER,
    "no_app": "install it beside Jupyter (`pip install jupyterlab` or `pip install notebook`), or set app",
    "venv_missing": "create it, or fix `venv` in the profile",
    "conda_missing": "make conda available in a login shell, or add its setup to the profile's `setup`",
    "conda_env_missing": "check `conda env list` on the server",
    "root_not_writable": "choose a remote_dir you can write to",
    "state_dir": "check the permissions of ~/.remotebook on the server",
    "setup_failed": "fix the profile's `setup` commands",
    "no_ps": "install ps there (procps), or run on a host with /proc: remotebook must tell its server from a recycled pid",
    "no_network": "run `remotebook env --wheels` to download the wheels here and install them offline there",
    "venv_failed": "on Debian/Ubuntu the server needs `apt install python3-venv`; or install uv there",
    "busy": "wait for the other `remotebook env` to finish",
    "no_runner": "run `remotebook env` to make this project's env (it has jupyter_client), or install jupyter_client "
    "beside the server's Jupyter",
    "no_kernel": "run `remotebook env` to make this project's kernel, or install ipykernel there",
    "no_slurm": 'this profile says scheduler = "slurm": point host at a login node of the cluster, or load '
    "Slurm's module in the profile's `setup`",
    "no_node_address": "ask the admins why `scontrol show node` does not show the node's NodeAddr",
}
# `remotebook run`: what the user asked for cannot run as it is (exit 2), or a cell is at fault (exit 14).
_RUN_USAGE_HINTS = {
    "not_notebook": "run an .ipynb file (nbformat 4)",
    "no_notebook": "it was not pushed: check `exclude` in the profile and the .gitignore files",
    "run_active": "follow it with `remotebook run --attach NOTEBOOK`, or wait until it ends (`remotebook run --list`)",
    "params_language": "drop the -p options, or use a Python kernel",
}


def env_hint(kind: str) -> str:
    """The hint for a kind of missing piece on the remote (doctor shows the same fixes as a failing `up`)."""
    return _ENV_HINTS.get(kind, "")


def translate(answer: Answer, destination: str) -> RemotebookError:
    """The project's error for a remote script's `{"ok": false, "error": KIND, ...}`."""
    where = f"{destination}: {answer.message}"
    if answer.error in _ENV_HINTS:
        return RemoteEnvError(where, hint=_ENV_HINTS[answer.error], detail=answer.log_tail)
    if answer.error in _RUN_USAGE_HINTS:
        return UsageError(where, hint=_RUN_USAGE_HINTS[answer.error])
    if answer.error == "no_run":
        return NotRunningError(
            where, hint="start one with `remotebook run NOTEBOOK`; `remotebook run --list` shows the runs"
        )
    if answer.error == "cell_syntax":
        return RunFailedError(where, hint="fix that cell; nothing ran")
    if answer.error == "sbatch_rejected":  # the profile asked for something the cluster does not have
        return ConfigError(
            where,
            hint="fix the profile's [slurm] table (`sinfo -s` lists partitions, `sacctmgr show assoc user=$USER` "
            "accounts and QOS); nothing was queued",
        )
    if answer.error == "node_ssh_refused":
        return TunnelError(
            where,
            hint="this cluster may not let you ssh to your job's node (pam_slurm_adopt off), or its host key is not "
            "in known_hosts there; ask the admins, or accept a TCP port on the node that other cluster users can "
            'reach (only the token protects it): allow_tcp = true (a relay in the job) or tunnel = "tcp" in the '
            "profile's [slurm] table",
        )
    if answer.error == "relay_failed":
        return TunnelError(where, hint="`remotebook logs` shows the job's output; `sinfo` whether its node is up")
    if answer.error == "remote_dir_refused":  # exit 13, like the other trust refusals
        return UntrustedError(
            where,
            hint='give the project a folder of its own (remote_dir = "~/NAME"); if you mean it, set it in your own '
            "config.toml, or approve the project file with `remotebook trust`, which names this risk",
        )
    if answer.error == "sync_failed":  # exit 9, like rsync's own failures
        return SyncError(where, hint="choose a remote_dir you can write to, or check its permissions on the server")
    if answer.error == "install_failed":
        return install_error(answer, destination)
    if answer.error == "auth_off":
        return InsecureServerError(
            where, hint="remove the token setting from that Jupyter config: remotebook hands Jupyter a token of its own"
        )
    if answer.error == "durable_missing":  # `up` checks first (durable.ensure); a batch job's node finds it here
        return DurableError(
            where,
            hint="run `remotebook env --durable` to put them into this project's env, or install them beside that "
            "Jupyter",
        )
    if answer.error == "shut_down":
        return NotRunningError(where, hint="start it again with `remotebook up`")
    if answer.error == "no_log":
        return NotRunningError(where, hint=f"start it with `remotebook up {destination}`")
    return ServerError(where, hint="see the server log above, or `remotebook logs`", detail=answer.log_tail)


def install_error(answer: Answer, destination: str) -> InstallError:
    """Name the requirement the installer blames; say what became of the env."""
    from remotebook.deps.installer import failed_requirement

    data = answer.data
    name = failed_requirement(answer.log_tail)
    what = f"could not install {name}" if name else answer.message
    kept = "the new env was removed" if data.get("fresh") else "the previous env is unchanged and still works"
    hint = f"fix or remove {name} in the requirements, then run `remotebook env` again" if name else ""
    if data.get("log"):
        hint = (hint + "; " if hint else "") + f"the whole log is {data['log']} on the server"
    tail = "\n".join(answer.log_tail.splitlines()[-SHOWN_LINES:])
    return InstallError(f"{destination}: {data.get('installer', 'pip')} {what}; {kept}", hint=hint, detail=tail)
