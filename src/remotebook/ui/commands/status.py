"""`remotebook status`: is this project's server running, does its tunnel answer, what is it doing."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import EXIT_NOT_RUNNING
from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext
from remotebook.ui.commands.list import list_projects, shown_path

if TYPE_CHECKING:
    from remotebook.launch.slurm_text import Job
    from remotebook.project.reports import Activity, ProjectReport


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(app: AppContext, target: str | None, as_json: bool) -> None:
    """Show whether TARGET's server and tunnel are up (no TARGET: list all known targets)."""
    from remotebook.actions import session

    if target is None and not app.in_project():
        list_projects(app, as_json)
        return
    report = session.status(app.session(target, existing=True))
    click.echo(json.dumps(report.as_json()) if as_json else status_text(report))
    if not report.is_up:
        sys.exit(EXIT_NOT_RUNNING)


def status_text(r: ProjectReport) -> str:
    s, t = r.server, r.tunnel
    lines = [f"{r.target} ({r.host}) for {shown_path(r.project_dir)}"]
    if s is not None:
        how = "unix socket" if s.transport == "unix" else "TCP on the remote's 127.0.0.1 (no --sock support)"
        lines.append(f"  server: running, Jupyter {s.version}, pid {s.pid}, {how} {s.endpoint}")
        where = "unix sockets in the private runtime dir" if s.kernel_transport == "ipc" else "the remote's 127.0.0.1"
        lines.append(f"  kernel: transport {s.kernel_transport} ({where})")
        lines.append(f"  root:   {s.root_dir}")
        lines.append("  outputs: " + outputs_text(s.durable))
        if r.activity is not None:
            lines.append("  usage:  " + activity_text(r.activity))
    else:
        lines.append("  server: not running")
    if r.job is not None:
        lines.append("  job:    " + job_text(r.job, s.location.via if s else ""))
    lines.append(
        f"  tunnel: {'up on 127.0.0.1:' + str(t.local_port) if t.up else 'down'}"
        f" (ssh master {'alive' if t.master else 'not running'})"
    )
    if r.url:
        lines.append(f"  url:    {r.url}")
    lines += [f"  note:   {n}" for n in r.notes]
    lines += [f"  warning: {w}" for w in r.warnings]
    if r.supervisor:
        lines.append("  watch:  " + supervisor_text(r.supervisor))
    return "\n".join(lines)


def outputs_text(durable: bool) -> str:
    if durable:
        return "durable (cells run on the server, which saves what they print while no browser is open)"
    return "not durable (a cell's output reaches the notebook only through an open browser; see `up --durable`)"


_VIA = {
    "node-ssh": "tunnel through the login node, then ssh to the node's unix socket",
    "tcp": "tunnel through the login node to TCP on the node (other cluster users can reach it; the token protects it)",
    "tcp-relay": "tunnel through the login node to a TCP relay in the job (ssh to the node was refused; other cluster "
    "users can reach it; the token protects it)",
}


def job_text(job: Job, via: str) -> str:
    from remotebook.launch.slurm import clock, describe_end

    if not job.live:
        return f"{job.job_id} ended: {describe_end(job)}; `remotebook up` submits a new one"
    text = f"{job.job_id} {job.state}" + (f" ({job.reason})" if job.reason else "")
    if job.node:
        text += f" on {job.node}, {clock(job.run_time)} used, {clock(job.time_left)} left"
    return text + (f"; {_VIA[via]}" if via in _VIA else "")


def ago(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def activity_text(a: Activity) -> str:
    text = f"{len(a.kernels)} kernel(s)" + (f" ({a.busy} busy)" if a.busy else "")
    return text + f", idle {ago(a.idle_s)}, server up {ago(a.uptime_s)}"


def supervisor_text(h: Mapping[str, object]) -> str:
    from remotebook.supervisor import outage

    text = {
        "watching": "supervisor watching",
        "reconnecting": "supervisor reconnecting",
        "offline": "supervisor waiting to reconnect",
        "gave_up": "supervisor gave up",
        "stopped": "no supervisor",
    }.get(str(h.get("state", "")), "?")
    if h.get("state") in ("offline", "reconnecting") and h.get("offline_since"):
        return f"{text}; {outage.describe(h, time.time())}"  # "offline since 10:42 (3 min), 7 tries, next in 12 s: ..."
    if h.get("reconnects"):
        last = h.get("last_reconnect")
        when = time.strftime("%H:%M:%S", time.localtime(last)) if isinstance(last, (int, float)) else "?"
        text += f"; {h['reconnects']} reconnect(s), last at {when} ({h.get('last_reason', '')})"
    if h.get("message"):
        text += f"; {h['message']}"
    return text
