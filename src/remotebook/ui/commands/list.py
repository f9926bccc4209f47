"""`remotebook list`: every known project, one line each, asked over HTTP only (no remote call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from remotebook.ui.commands.context import AppContext

if TYPE_CHECKING:
    from remotebook.project.reports import ListRow


@click.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(app: AppContext, as_json: bool) -> None:
    """Every known target, one line each (the same as `status` with no target)."""
    list_projects(app, as_json)


def rows(app: AppContext) -> list[ListRow]:
    from remotebook.connection import tunnel
    from remotebook.local import state
    from remotebook.project.reports import ListRow

    found = []
    for key, data in state.all_projects(app.paths):
        port, token = data.get("local_port"), data.get("token")
        # The token goes only to a port our master holds, never to whatever took it since; and
        # never to a saved TCP endpoint (another user may hold it now): there any HTTP answer will do.
        unix = (data.get("server") or {}).get("transport") == "unix"
        alive = bool(
            port
            and token
            and tunnel.forward_is_ours(str(data.get("control_path", "")), port)
            and (tunnel.api_status(port, token) == 200 if unix else tunnel.api_status(port, "") != 0)
        )
        watch = state.health_of(app.paths, key) or {}
        found.append(
            ListRow(
                target=str(data["target"]),
                host=str(data.get("host") or ""),
                project_dir=str(data.get("project_dir") or ""),
                local_port=port,
                up=alive,
                url=data.get("url") if alive else None,
                supervisor=watch.get("state"),
            )
        )
    return found


def list_projects(app: AppContext, as_json: bool) -> None:
    found = rows(app)
    if as_json:
        click.echo(json.dumps([row.as_json() for row in found]))
        return
    if not found:
        click.echo("no targets are up (start one with `remotebook up TARGET`)")
    for row in found:
        tag = f"[{row.supervisor}]" if row.supervisor else ""
        line = f"{row.target:<16} {'up' if row.up else 'down':<5} 127.0.0.1:{row.local_port or '-':<6} {tag:<14}"
        click.echo(f"{line} {shown_path(row.project_dir)}  {row.url or ''}".rstrip())


def shown_path(path: str) -> str:
    """A folder as a person writes it: ~/projects/x rather than /home/me/projects/x."""
    home = str(Path.home())
    return "~" + path[len(home) :] if path == home or path.startswith(home + "/") else path
