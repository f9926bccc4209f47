"""`remotebook logs`: the remote Jupyter server's own log (never what the login shell prints)."""

from __future__ import annotations

import click

from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("-n", "--lines", default=200, show_default=True, type=click.IntRange(0, 100000))
@click.pass_obj
def logs(app: AppContext, target: str | None, follow: bool, lines: int) -> None:
    """Print the remote Jupyter server's log."""
    from remotebook.actions import session

    sess = app.session(target, existing=True)
    session.logs(sess, follow=follow, lines=lines, write=lambda line: click.echo(line, nl=False))
