"""Ensure, query and stop the remote Jupyter server for a profile, through the bootstrap."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from remotebook import remote, ssh
from remotebook.config import Profile, kernel_name
from remotebook.errors import InsecureServerError, NotRunningError, RemoteEnvError, ServerError, SSHError

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 20.0


@dataclass(frozen=True)
class Server:
    """A running remote server, as Jupyter itself describes it (jpserver-<pid>.json)."""

    pid: int
    transport: str  # "unix" or "tcp"
    endpoint: str  # socket path, or 127.0.0.1:PORT on the remote
    token: str
    version: str
    root_dir: str
    base_url: str
    log: str
    host: str
    action: str  # "started" or "running" (found)
    warning: str = ""  # e.g. the host kills processes at logout
    kernel_transport: str = "tcp"  # "ipc": kernels talk ZMQ over unix sockets in the private runtime dir

    @classmethod
    def from_answer(cls, data: dict[str, Any]) -> Server:
        info = data["info"]
        sock = info.get("sock") or ""
        return cls(
            pid=int(data["pid"]),
            transport="unix" if sock else "tcp",
            endpoint=sock or f"127.0.0.1:{info['port']}",
            token=str(info.get("token", "")),
            version=str(info.get("version", "")),
            root_dir=str(info.get("root_dir", data.get("root_dir", ""))),
            base_url=str(info.get("base_url", "/")),
            log=str(data.get("log", "")),
            host=str(data.get("host", "")),
            action=str(data.get("action", "")),
            warning=str(data.get("warning", "")),
            kernel_transport=str(data.get("kernel_transport") or "tcp"),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "running": True,
            "pid": self.pid,
            "transport": self.transport,
            "kernel_transport": self.kernel_transport,
            "endpoint": self.endpoint,
            "version": self.version,
            "root_dir": self.root_dir,
            "log": self.log,
            "host": self.host,
            "started": self.action == "started",
        }


def idle_args(idle_timeout: int) -> tuple[str, ...]:
    """Jupyter's own culling: idle kernels go after idle_timeout, then the idle server itself."""
    if idle_timeout <= 0:
        return ()
    interval = max(1, min(60, idle_timeout // 3))
    return (
        f"--MappingKernelManager.cull_idle_timeout={idle_timeout}",
        f"--MappingKernelManager.cull_interval={interval}",
        f"--ServerApp.shutdown_no_activity_timeout={idle_timeout}",
    )


def _values(profile: Profile, **extra: str) -> dict[str, str]:
    values = {
        "ROOT": profile.remote_dir,
        "APP": profile.app,
        "JUPYTER": profile.jupyter,
        "VENV": profile.venv,
        "CONDA_ENV": profile.conda_env,
        "SETUP": "\n".join(profile.setup),
        "TRANSPORT": profile.transport,
        "TIMEOUT": str(math.ceil(profile.start_timeout)),  # the shell counts whole seconds: 0.5 is 1, not 0
        "TOKEN": "",
        "FOLLOW": "no",
        "RESTART": "yes",
        "LINES": "200",
        "KERNEL": kernel_name(profile.project_dir),  # names this project's env (`remotebook env`)
    }
    values.update(extra)
    return values


def ensure(
    target: ssh.Target, profile: Profile, token: str, *, batch: bool = False, restart_shut_down: bool = True
) -> Server:
    """Find this profile's server or start one; may create the ssh master (and prompt, unless batch).

    restart_shut_down=False: a server that shut itself down (idle, or File > Shut Down)
    stays down (NotRunningError); only a crashed one is started again.
    """
    values = _values(profile, TOKEN=token, RESTART="yes" if restart_shut_down else "no")
    script = remote.render("ensure", values, (*profile.jupyter_args, *idle_args(profile.idle_timeout)))
    result = ssh.run_script(target, script.text, timeout=profile.start_timeout + 15, batch=batch)
    answer = read_answer(script, result.stdout, result.stderr)
    if not answer.ok:
        raise translate(answer, target.destination)
    return Server.from_answer(answer.data)


def query(target: ssh.Target, profile: Profile, *, through_master: bool) -> Server | None:
    """The running server, or None. Never prompts: no master means a BatchMode connection."""
    script = remote.render("query", _values(profile))
    result = ssh.run_script(
        target, script.text, timeout=QUERY_TIMEOUT, may_create_master=False, batch=not through_master
    )
    answer = read_answer(script, result.stdout, result.stderr)
    if not answer.ok:
        raise translate(answer, target.destination)
    return Server.from_answer(answer.data) if answer.data.get("action") == "running" else None


def stop(target: ssh.Target, profile: Profile) -> dict[str, Any]:
    """Shutdown API, then TERM, then KILL on the remote; removes its socket and state."""
    script = remote.render("stop", _values(profile))
    result = ssh.run_script(target, script.text, timeout=30, may_create_master=False)
    answer = read_answer(script, result.stdout, result.stderr)
    if not answer.ok:
        raise translate(answer, target.destination)
    return answer.data


def logs_script(profile: Profile, *, follow: bool, lines: int) -> remote.Script:
    return remote.render("logs", _values(profile, FOLLOW="yes" if follow else "no", LINES=str(lines)))


def read_answer(script: remote.Script, stdout: str, stderr: str) -> remote.Answer:
    """The remote script's answer; no answer at all means ssh or the login shell got in the way."""
    try:
        answer = remote.parse(stdout, script.nonce)
    except remote.AnswerError as e:
        raise SSHError(
            f"{e}", hint="run with -v to see what the remote printed", detail=stderr.strip()[-2000:]
        ) from None
    if answer.noise:
        log.debug("remote login scripts printed: %s", answer.noise[:2000])
    return answer


_HINT_JUPYTER = (
    "run `remotebook env --jupyter` to install JupyterLab in this project's env there, or install it on the "
    "server (`python3 -m pip install --user jupyterlab`), or point the profile at one: "
    'jupyter = "/path/bin/jupyter", venv = "~/venv" or conda_env = "NAME"'
)
_REMOTE_HINTS = {
    "no_python": "install Python 3 on the server, or set venv / conda_env / jupyter in the profile",
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
}


def translate(answer: remote.Answer, destination: str) -> Exception:
    where = f"{destination}: {answer.message}"
    if answer.error in _REMOTE_HINTS:
        return RemoteEnvError(where, hint=_REMOTE_HINTS[answer.error], detail=answer.log_tail)
    if answer.error == "auth_off":
        return InsecureServerError(
            where, hint="remove the token setting from that Jupyter config: remotebook hands Jupyter a token of its own"
        )
    if answer.error == "shut_down":
        return NotRunningError(where, hint="start it again with `remotebook up`")
    if answer.error == "no_log":
        return NotRunningError(where, hint=f"start it with `remotebook up {destination}`")
    return ServerError(where, hint="see the server log above, or `remotebook logs`", detail=answer.log_tail)
