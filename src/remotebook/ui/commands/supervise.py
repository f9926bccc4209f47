"""`remotebook _supervise` (hidden): the background process that `up --detach` leaves to keep a tunnel alive."""

from __future__ import annotations

import sys

import click

from remotebook.ui.commands.context import AppContext


@click.command(name="_supervise", hidden=True)
@click.argument("target")
@click.option("--lock-fd", type=int, required=True)
@click.pass_obj
def supervise_(app: AppContext, target: str, lock_fd: int) -> None:
    """Keep TARGET's tunnel alive until `down` (started by `up --detach`)."""
    from remotebook.supervisor import loop as supervise

    sys.exit(supervise.run_detached(app.session(target), lock_fd))
