"""`remotebook open`: the browser at a project that is up (the token goes only to our own forward)."""

from __future__ import annotations

import click

from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, open_browser


@click.command(name="open")
@click.argument("target", required=False, shell_complete=complete_target)
@click.pass_obj
def open_(app: AppContext, target: str | None) -> None:
    """Open the browser at TARGET's running notebook."""
    from remotebook.actions import session

    sess = app.session(target, existing=True)
    url = session.saved_url(sess)
    click.echo(url)
    open_browser(app, sess.profile.name, url, quiet=False)
