"""The launcher seam that up, status, down and the supervisor use: its protocol and the types it returns.

A launcher ensures, queries and stops the server of one project and reads its log. What
it returns describes the server with an endpoint that is reachable *from the ssh target*
(a unix socket or 127.0.0.1:PORT there today; a node's socket through the login node
later) and where it runs. A server that is not there yet (a batch job in the queue) is a
`Waiting`, which the caller shows and polls: `ensure` never blocks for longer than one
remote call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from remotebook.core.deadline import Deadline
from remotebook.core.errors import ServerError

if TYPE_CHECKING:
    from remotebook.launch.slurm_text import Job


@dataclass(frozen=True)
class Location:
    """Where the server runs: "host" (the ssh target itself) or, later, "job" (a batch job on a node)."""

    kind: str = "host"
    node: str = ""  # the machine's own name for itself (`hostname` there)
    job: str = ""  # the scheduler's job id, for kind "job"
    via: str = ""  # how the tunnel reaches a job's node: "node-ssh" or "tcp"
    login: str = ""  # the login node that holds the relay (a round-robin alias may land elsewhere next time)
    ends_at: float = 0.0  # when the job's walltime ends (this computer's clock, from Slurm's time left); 0: never


@dataclass(frozen=True)
class Server:
    """A running remote server, as Jupyter itself describes it (jpserver-<pid>.json)."""

    pid: int
    transport: str  # "unix" or "tcp"
    endpoint: str  # socket path, or 127.0.0.1:PORT, as seen from the ssh target
    token: str
    version: str
    root_dir: str
    base_url: str
    log: str
    host: str
    action: str  # "started" or "running" (found)
    warning: str = ""  # e.g. the host kills processes at logout
    kernel_transport: str = "tcp"  # "ipc": kernels talk ZMQ over unix sockets in the private runtime dir
    durable: bool = False  # started with durable outputs: browser cells run on the server, which saves them
    location: Location = field(default_factory=Location)
    password: bool = False  # started with the project's password (`remotebook password`): the login page asks for it

    @classmethod
    def from_answer(cls, data: dict[str, Any], location: Location | None = None) -> Server:
        info = data["info"]
        sock = info.get("sock") or ""
        host = str(data.get("host", ""))
        return cls(
            pid=int(data["pid"]),
            transport="unix" if sock else "tcp",
            endpoint=sock or f"127.0.0.1:{info['port']}",
            token=str(info.get("token", "")),
            version=str(info.get("version", "")),
            root_dir=str(info.get("root_dir", data.get("root_dir", ""))),
            base_url=str(info.get("base_url", "/")),
            log=str(data.get("log", "")),
            host=host,
            action=str(data.get("action", "")),
            warning=str(data.get("warning", "")),
            kernel_transport=str(data.get("kernel_transport") or "tcp"),
            durable=data.get("durable") is True,
            location=location or Location("host", host),
            password=data.get("password") is True,
        )

    @classmethod
    def from_saved(cls, saved: dict[str, Any], token: str) -> Server | None:
        """The server as this project's state recorded it (`as_json`), or None if the record is not whole."""
        try:
            loc = saved.get("location") or {}
            return cls(
                pid=int(saved["pid"]),
                transport=str(saved["transport"]),
                endpoint=str(saved["endpoint"]),
                token=token,
                version=str(saved.get("version", "")),
                root_dir=str(saved.get("root_dir", "")),
                base_url=str(saved["base_url"]),
                log=str(saved.get("log", "")),
                host=str(saved.get("host", "")),
                action="running",
                kernel_transport=str(saved.get("kernel_transport") or "tcp"),
                durable=saved.get("durable_outputs") is True,
                password=saved.get("password") is True,
                location=Location(
                    str(loc.get("kind", "host")),
                    str(loc.get("node", "")),
                    str(loc.get("job", "")),
                    str(loc.get("via", "")),
                    str(loc.get("login", "")),
                    float(loc.get("ends_at") or 0.0),
                ),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def started(self) -> bool:
        return self.action == "started"

    def as_json(self) -> dict[str, Any]:
        return {
            "running": True,
            "pid": self.pid,
            "transport": self.transport,
            "kernel_transport": self.kernel_transport,
            "durable_outputs": self.durable,
            "endpoint": self.endpoint,
            "base_url": self.base_url,
            "version": self.version,
            "root_dir": self.root_dir,
            "log": self.log,
            "host": self.host,
            "started": self.started,
            "password": self.password,
            "location": {
                "kind": self.location.kind,
                "node": self.location.node,
                "job": self.location.job,
                "via": self.location.via,
                "login": self.location.login,
                "ends_at": self.location.ends_at,
            },
        }


@dataclass(frozen=True)
class Waiting:
    """The server is not there yet: what the user should see, and when to ask again."""

    state: str  # e.g. "PENDING"
    reason: str = ""  # e.g. "Priority", "Resources"
    since: float = field(default_factory=time.time)
    retry_after: float = 5.0  # seconds until the next ensure is worth its round trip
    estimate: str = ""  # an expected start time, when the launcher knows one
    job: str = ""  # the batch job we wait for

    def line(self, now: float | None = None) -> str:
        waited = int((time.time() if now is None else now) - self.since)
        text = f"waiting for job {self.job}: {self.state}" if self.job else f"waiting for the server: {self.state}"
        text += f" ({self.reason})" if self.reason else ""
        text += f", {waited}s so far"
        return text + (f", expected to start {self.estimate}" if self.estimate else "")


@dataclass(frozen=True)
class Stopped:
    """What a stop did: "stopped" (how: api, term or kill) or "not_running"."""

    action: str
    pid: int | None = None
    how: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "pid": self.pid, "how": self.how}


class Launcher(Protocol):
    """Ensure / query / stop one project's server, and read its log."""

    kind: str
    wait_seconds: float  # how long `up` waits for ensure to return a Server (a queue takes longer)
    job: Job | None  # the scheduler's last word on the batch job (None for a server on the host)
    ended: Job | None  # a job of ours that ended since (walltime, scancel...); None for a server on the host
    notes: list[str]  # what ensure found worth telling the user (e.g. a TCP tunnel on a node)

    def abandon(self) -> str:
        """`up` failed or was interrupted before the server came: undo what ensure started (a queued job); what it did."""

    def ensure(self, token: str, *, batch: bool, restart_shut_down: bool) -> Server | Waiting: ...

    def query(self, *, through_master: bool) -> Server | None: ...

    def stop(self) -> Stopped: ...

    def logs(self, *, follow: bool, lines: int, write: Callable[[str], None]) -> None: ...


def walltime_warning(job: str, ends_at: float, warn_before: float, now: float) -> str:
    """The warning once a job is within `warn_before` seconds of its walltime; "" before that (or no limit)."""
    if not ends_at or not job or now < ends_at - warn_before:
        return ""
    left = max(0, int(ends_at - now))
    when = time.strftime("%H:%M", time.localtime(ends_at))
    return (
        f"batch job {job} reaches its walltime in {left // 60} min {left % 60:02d} s (at {when}): Slurm then ends it "
        "and its kernels; save your work (a new `remotebook up` after that submits a new job)"
    )


def wait_for_server(
    launcher: Launcher,
    token: str,
    *,
    batch: bool,
    restart_shut_down: bool,
    deadline: Deadline,
    show: Callable[[Waiting], None],
    pause: Callable[[float], object] = time.sleep,
) -> Server:
    """ensure until it returns a Server, showing each Waiting; the deadline bounds the whole wait."""
    while True:
        found = launcher.ensure(token, batch=batch, restart_shut_down=restart_shut_down)
        if isinstance(found, Server):
            return found
        show(found)
        if deadline.expired():
            raise ServerError(
                f"the server did not start in {deadline.seconds:.0f}s ({found.state})",
                hint="see `remotebook status` and `remotebook logs`",
            )
        pause(min(found.retry_after, max(0.0, deadline.left())))
