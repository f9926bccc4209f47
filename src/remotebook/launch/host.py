"""The server on the ssh target itself: the bootstrap starts it detached (setsid, nohup) and finds it again."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from remotebook import durable, ssh
from remotebook.config import Profile, kernel_name
from remotebook.launch import Location, Server, Stopped, Waiting
from remotebook.remote.door import Request, call, stream

if TYPE_CHECKING:
    from remotebook.launch.slurm_text import Job

QUERY_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
FOLLOW_BACKSTOP = 7 * 86400.0  # `logs -f` runs until the user stops it; this only bounds a lost one


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
        "DURABLE": "yes" if profile.durable_outputs else "no",  # browser cells run on the server (durable.py)
        "DURABLE_PINS": " ".join(durable.requirements()),
    }
    values.update(extra)
    return values


class HostLauncher:
    """Jupyter runs on the ssh target, detached so that it outlives the connection."""

    kind = "host"

    def __init__(self, target: ssh.Target, profile: Profile) -> None:
        self.target = target
        self.profile = profile
        self.wait_seconds = profile.start_timeout + 15
        self.job: Job | None = None  # never a batch job
        self.ended: Job | None = None
        self.notes: list[str] = []  # the bootstrap's warning travels on the Server instead

    def abandon(self) -> str:
        """A server on the host outlives a failed `up` (the next one finds it)."""
        return ""

    def _request(self, action: str, **values: str) -> Request:
        args = (*self.profile.jupyter_args, *idle_args(self.profile.idle_timeout)) if action == "ensure" else ()
        return Request("bootstrap", action, bootstrap_values(self.profile, **values), args)

    def ensure(self, token: str, *, batch: bool = False, restart_shut_down: bool = True) -> Server | Waiting:
        """Find this project's server or start one, in one round trip; may create the master (and prompt, unless batch).

        restart_shut_down=False: a server that shut itself down (idle, or File > Shut Down)
        stays down (NotRunningError); only a crashed one is started again.
        """
        request = self._request("ensure", TOKEN=token, RESTART="yes" if restart_shut_down else "no")
        answer = call(self.target, request, timeout=self.profile.start_timeout + 15, batch=batch)
        return Server.from_answer(answer.data, Location("host", str(answer.data.get("host", ""))))

    def query(self, *, through_master: bool) -> Server | None:
        """The running server, or None. Never prompts: no master means a BatchMode connection."""
        answer = call(
            self.target,
            self._request("query"),
            timeout=QUERY_TIMEOUT,
            may_create_master=False,
            batch=not through_master,
        )
        return Server.from_answer(answer.data) if answer.data.get("action") == "running" else None

    def stop(self) -> Stopped:
        """Shutdown API, then TERM, then KILL on the remote; removes its socket and state."""
        data = call(self.target, self._request("stop"), timeout=STOP_TIMEOUT, may_create_master=False).data
        pid = data.get("pid")
        return Stopped(str(data.get("action", "")), int(pid) if pid else None, str(data.get("how", "")))

    def logs(self, *, follow: bool, lines: int, write: Callable[[str], None]) -> None:
        """The server's log, line by line (follow: until Ctrl-C); never the login shell's output."""
        request = self._request("logs", FOLLOW="yes" if follow else "no", LINES=str(lines))
        stream(self.target, request, write=write, timeout=FOLLOW_BACKSTOP if follow else 60)
