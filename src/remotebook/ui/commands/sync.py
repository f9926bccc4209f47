"""`remotebook sync push|pull`: rsync over the target's master, keeping both versions on conflict."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import UsageError
from remotebook.ui.commands.context import AppContext, progress

if TYPE_CHECKING:
    from remotebook.sync.engine import Outcome


@click.command()
@click.argument("direction", type=click.Choice(["push", "pull"]))
@click.argument("args", nargs=-1)
@click.option("-n", "--dry-run", is_flag=True, help="List what would change; change nothing.")
@click.option(
    "--delete",
    is_flag=True,
    help="Also delete what the other side no longer has (asks first; deletes exactly the list shown).",
)
@click.option("--yes", is_flag=True, help="With --delete: do not ask.")
@click.option("--watch", is_flag=True, help="push: push again on every change, until Ctrl-C.")
@click.pass_obj
def sync(
    app: AppContext, direction: str, args: tuple[str, ...], dry_run: bool, delete: bool, yes: bool, watch: bool
) -> None:
    """Push the project to TARGET's remote_dir, or pull results and notebooks back: sync push|pull [TARGET] [PATH...].

    A file changed on both sides since the last sync is never overwritten: the other
    side's version is kept beside it (name.remote-DATE.ext on pull, name.local-DATE.ext on push).
    """
    from remotebook.sync import engine as syncing

    target, paths = _split_target(list(args))
    sess = app.session(target)

    def go(dry: bool, confirm: Callable[[list[str]], None] | None = None) -> Outcome:
        return syncing.run(
            sess,
            direction,
            paths=paths,
            dry_run=dry,
            delete=delete,
            progress=sys.stderr.isatty(),
            confirm=confirm,
        )

    if watch:
        if direction != "push" or delete or dry_run:
            raise UsageError("--watch goes with a plain `sync push`", hint="drop --delete/--dry-run, or use push")
        report_sync(go(False))
        try:
            syncing.watch(sess.profile.project_dir, lambda: report_sync(go(False)), say=progress(False))
        except KeyboardInterrupt:
            click.echo("» stopped watching", err=True)
        return

    # The list shown is the list deleted: the prompt sits between the plan and its transfer.
    report_sync(go(dry_run, None if yes else _ask))


def _ask(doomed: list[str]) -> None:
    click.echo("--delete would remove:\n" + "\n".join(f"  {name}" for name in doomed), err=True)
    if not sys.stdin.isatty() or not click.confirm("delete these?", err=True):
        raise UsageError("nothing was deleted or transferred", hint="add --yes to delete without asking")


def _split_target(args: list[str]) -> tuple[str | None, list[str]]:
    """The first argument is TARGET unless it names something in the current folder."""
    import os

    if args and not os.path.exists(args[0]):
        return args[0], args[1:]
    return None, args


def report_sync(outcome: Outcome) -> None:
    for name in outcome.plan.updates if outcome.dry_run else []:
        click.echo(f"  {name}")
    for name in outcome.plan.conflicts:
        where = outcome.kept.get(name, "(would be kept beside it)")
        click.echo(f"conflict: {name} changed on both sides; the other version is kept as {where}", err=True)
    click.echo(outcome.summary())
