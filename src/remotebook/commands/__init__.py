"""What the command modules share: the global options and paths, progress lines, the browser."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click


class Env:
    """What every command needs: the paths and the global options."""

    def __init__(self, ssh_config: str, verbose: bool) -> None:
        from remotebook.paths import default_paths

        self.paths = default_paths()
        self.ssh_config = ssh_config
        self.verbose = verbose

    def session(self, target: str | None) -> Any:
        from remotebook import config, session

        cfg = config.load(Path.cwd(), self.paths.user_config)
        profile = config.resolve(cfg, target, self.ssh_config)
        return session.Session.open(self.paths, profile)


def progress(quiet: bool) -> Any:
    def say(message: str) -> None:
        if not quiet:
            click.echo(f"» {message}", err=True)
        logging.getLogger("remotebook").info(message)

    return say


def open_browser(env: Env, name: str, url: str, *, quiet: bool) -> None:
    from remotebook import browser

    if not browser.open_url(env.paths, name, url) and not quiet:
        click.echo("» no browser found here; open the URL above yourself", err=True)


def report_sync(outcome: Any) -> None:
    for name in outcome.plan.updates if outcome.dry_run else []:
        click.echo(f"  {name}")
    for name in outcome.plan.conflicts:
        where = outcome.kept.get(name, "(would be kept beside it)")
        click.echo(f"conflict: {name} changed on both sides; the other version is kept as {where}", err=True)
    click.echo(outcome.summary())
