"""`remotebook trust [FILE]`: approve what a project file makes remotebook run, pinned to its sha256."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from remotebook.core.errors import RemotebookError, UsageError
from remotebook.ui.commands.context import AppContext

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("file", required=False, type=FILE)
@click.option("--list", "list_", is_flag=True, help="List the approved files, and which changed since.")
@click.option("--revoke", is_flag=True, help="Forget FILE's approval (the same as `remotebook untrust`).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (without a terminal trust never asks).")
@click.pass_obj
def trust(app: AppContext, file: Path | None, list_: bool, revoke: bool, yes: bool) -> None:
    """Approve FILE (default: the remotebook.toml found from here upward) after showing what it runs.

    A project file's ssh_config, setup, jupyter, venv, conda_env and jupyter_args make
    remotebook run commands here or on the server; a remote_dir that is the server's
    home (or holds it, or is in ~/.ssh, ~/.config, ...) lets it write your start-up
    files, and transport = "tcp" opens a port; they take effect only once you approved
    the file's content. An edit asks again. Running `trust` is consent: without
    a terminal (or with --yes) it records the approval without asking, like `direnv allow`.
    """
    if list_:
        if file or revoke:
            raise UsageError("--list takes no FILE and no --revoke")
        _list(app)
    elif revoke:
        _revoke(app, file)
    else:
        _approve(app, _project_file(file), ask=sys.stdin.isatty() and not yes)


@click.command()
@click.argument("file", required=False, type=FILE)
@click.pass_obj
def untrust(app: AppContext, file: Path | None) -> None:
    """Forget the approval of FILE (default: the remotebook.toml found from here upward)."""
    _revoke(app, file)


def _project_file(file: Path | None) -> Path:
    from remotebook.local.config import find_project_file

    found = file or find_project_file(Path.cwd())
    if found is None:
        raise UsageError(f"no remotebook.toml in {Path.cwd()} or above", hint="name it: `remotebook trust FILE`")
    if not found.is_file():
        raise UsageError(f"{found}: no such file")
    return found


def _approve(app: AppContext, path: Path, *, ask: bool) -> None:
    from remotebook.local import config
    from remotebook.local import trust as approvals

    checked, _, tables = config.read(path)  # refuses a file of another user, or writable by others
    runs = approvals.commands_of(tables)
    risks = approvals.risks_of(tables)
    if runs:
        click.echo(f"{checked.real} makes remotebook run:")
        for name, key, value in runs:
            click.echo(f"  profiles.{name}.{key} = {json.dumps(value)}")
            click.echo(f"      {approvals.COMMAND_KEYS[key]}")
    if risks:
        click.echo(f"{checked.real} {'also ' if runs else ''}sets:")
        for name, key, value, why in risks:
            click.echo(f"  profiles.{name}.{key} = {json.dumps(value)}")
            click.echo(f"      {_risk_line(key, value, why)}")
    if not runs and not risks:
        click.echo(f"{checked.real} sets nothing that runs commands or is risky (it needs no approval)")
    if (runs or risks) and ask and not click.confirm("approve this file as it is now?", err=True):
        raise UsageError("not approved; nothing was recorded", hint="add --yes to approve without asking")
    approvals.record(app.paths, checked)
    click.echo(f"approved {checked.real} (sha256 {checked.sha256[:16]}…); an edit asks again")


def _risk_line(key: str, value: object, why: str) -> str:
    """What approving a risky data key lets the file do, in words."""
    if key == "remote_dir" and not str(value).startswith("/"):
        where = why.partition(":")[0]  # roots.risk: "is your home folder on the server: ..."
        return f"remote_dir = {value!r} lets this file write your shell start-up files and ~/.ssh on the server (it {where})"
    if key == "remote_dir":
        return why + " (start-up files are never pushed)"
    return why


def _revoke(app: AppContext, file: Path | None) -> None:
    from remotebook.local import trust as approvals

    real = Path(os.path.realpath(_project_file(file) if file is None else file))
    if approvals.revoke(app.paths, real):
        click.echo(f"revoked the approval of {real}")
    else:
        click.echo(f"{real} was not approved")


def _list(app: AppContext) -> None:
    from remotebook.local import trust as approvals

    found = approvals.entries(app.paths)
    if not found:
        click.echo("no approved files (approve one with `remotebook trust`)")
    for path, entry in sorted(found.items()):
        click.echo(f"{_state(path, entry['sha256']):<9} {entry.get('approved', '?'):<20} {path}")


def _state(path: str, sha256: str) -> str:
    """approved / changed (asks again) / missing / refused (now another user's, or writable by others)."""
    from remotebook.local import trust as approvals

    try:
        checked = approvals.read_owned(Path(path))
    except FileNotFoundError:
        return "missing"
    except (OSError, RemotebookError):
        return "refused"
    return "approved" if checked.sha256 == sha256 else "changed"
