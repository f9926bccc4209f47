"""`remotebook down`: remove this project's forward; the shared ssh connection closes when nobody else uses it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, progress

if TYPE_CHECKING:
    from remotebook.project.reports import DownReport


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--server", "stop_server", is_flag=True, help="Also stop the remote Jupyter server.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def down(app: AppContext, target: str | None, stop_server: bool, as_json: bool) -> None:
    """Remove the forward and close the ssh connection (--server: stop Jupyter too)."""
    from remotebook.actions import session
    from remotebook.supervisor import loop as supervise

    sess = app.session(target, existing=True)
    supervise.stop_detached(sess)  # first, or it would reconnect what we take down
    report = session.down(sess, stop_server=stop_server, progress=progress(as_json))
    click.echo(json.dumps(report.as_json()) if as_json else down_text(report, stop_server))


def down_text(r: DownReport, stop_server: bool) -> str:
    if r.master_closed:
        connection = "ssh connection closed"
    elif r.master_kept_for:
        connection = f"ssh connection kept for {len(r.master_kept_for)} other project(s)"
    else:
        connection = "no ssh connection"
    done = ["forward removed" if r.forward_removed else "no forward", connection]
    if stop_server:
        done.append("server stopped" if r.server and r.server.action == "stopped" else "no server was running")
    return f"{r.target}: " + ", ".join(done)
