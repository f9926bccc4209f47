"""What commands report, as typed objects: `--json` is made from them, and the human text reads them too."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from remotebook.launch.base import Server, Stopped
from remotebook.launch.slurm_text import Job


@dataclass(frozen=True)
class Kernel:
    id: str
    name: str
    state: str  # Jupyter's execution_state: idle, busy, starting...
    connections: int
    idle_s: int | None


@dataclass(frozen=True)
class Activity:
    """What Jupyter's API says of itself, through the forward."""

    uptime_s: int | None = None
    idle_s: int | None = None
    kernels: tuple[Kernel, ...] = ()

    @property
    def busy(self) -> int:
        return sum(1 for k in self.kernels if k.state == "busy")


@dataclass(frozen=True)
class Tunnel:
    up: bool
    local_port: int | None
    master: bool
    control_path: str


@dataclass(frozen=True)
class ProjectReport:
    """One project on one target: what `up --json` and `status --json` print (status adds activity and watch)."""

    target: str
    host: str
    project_dir: str
    app: str
    remote_dir: str
    server: Server | None
    tunnel: Tunnel
    url: str | None = None
    notes: tuple[str, ...] = ()
    activity: Activity | None = None  # status, when the forward works
    supervisor: dict[str, Any] | None = None  # status: the supervisor's health file, as it wrote it
    asked_status: bool = False  # made by `status`: its JSON always says what the supervisor does
    job: Job | None = None  # status, for a server in a batch job: Slurm's word on it
    warnings: tuple[str, ...] = ()  # status: what needs the user's attention soon (a job near its walltime)

    @property
    def local_port(self) -> int | None:
        return self.tunnel.local_port

    @property
    def token(self) -> str | None:
        return self.server.token if self.server else None

    @property
    def is_up(self) -> bool:
        return self.tunnel.up and self.server is not None

    def as_json(self) -> dict[str, Any]:
        server: dict[str, Any] = self.server.as_json() if self.server else {"running": False}
        if self.activity is not None:
            server.update(asdict(self.activity))
        out: dict[str, Any] = {
            "target": self.target,
            "host": self.host,
            "project_dir": self.project_dir,
            "url": self.url,
            "local_port": self.local_port,
            "token": self.token,
            "app": self.app,
            "remote_dir": self.remote_dir,
            "server": server,
            "tunnel": asdict(self.tunnel),
            "notes": list(self.notes),
        }
        if self.asked_status:
            out["supervisor"] = self.supervisor
            out["warnings"] = list(self.warnings)
        if self.job is not None:
            out["job"] = self.job.as_json()
        return out


@dataclass(frozen=True)
class ListRow:
    """One known project in `list`."""

    target: str
    host: str
    project_dir: str
    local_port: int | None
    up: bool
    url: str | None
    supervisor: str | None  # the supervisor's state, if one ever ran

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DownReport:
    target: str
    project_dir: str
    forward_removed: bool = False
    master_closed: bool = False
    master_kept_for: tuple[str, ...] = ()
    server: Stopped | None = None  # with --server

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "project_dir": self.project_dir,
            "forward_removed": self.forward_removed,
            "master_closed": self.master_closed,
            "master_kept_for": list(self.master_kept_for),
        }
        if self.server is not None:
            out["server"] = self.server.as_json()
        return out


@dataclass(frozen=True)
class Check:
    """One line of `doctor`: what was checked, its mark, what was found, and how to fix it."""

    name: str
    status: str  # "ok", "warn", "fail" or "skip"
    found: str
    fix: str = ""
    exit_code: int = 0  # a failed check's exit code (the errors.EXIT_* of its kind)


@dataclass(frozen=True)
class DoctorReport:
    target: str
    destination: str
    checks: tuple[Check, ...]
    elapsed_s: float

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def exit_code(self) -> int:
        """The first failure's kind decides (0 when none failed): a script can tell ssh from a missing Jupyter."""
        return self.failed[0].exit_code if self.failed else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "destination": self.destination,
            "ok": not self.failed,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks": [asdict(c) for c in self.checks],
        }
