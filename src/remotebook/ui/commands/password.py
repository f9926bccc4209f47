"""`remotebook password`: set (or --clear) a Jupyter password for this project's server; asked without echo."""

from __future__ import annotations

import getpass
import json
import sys
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import UsageError
from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, progress

if TYPE_CHECKING:
    from remotebook.actions.password import PasswordReport, Secret


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin (one line), not a prompt.")
@click.option("--clear", is_flag=True, help="Remove the password: only the token logs in, from the next start.")
@click.option("--restart", is_flag=True, help="Restart the server now so the change applies (it stays up if it was).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def password(app: AppContext, target: str | None, from_stdin: bool, clear: bool, restart: bool, as_json: bool) -> None:
    """Set a Jupyter password for TARGET's server (hashed there, argon2); used from its next start."""
    from remotebook.actions import password as passwords

    if clear and from_stdin:
        raise UsageError("--clear takes no password", hint="drop --stdin")
    secret = None if clear else _read(from_stdin)  # before any connection: a bad entry leaves nothing behind
    sess = app.session(target)
    if secret is not None:  # still before any connection: `ssh -G` alone told the names
        names = (sess.profile.name, sess.profile.host, sess.target.user, sess.target.hostname, getpass.getuser())
        passwords.refuse_names(secret, names)
    say = progress(as_json)
    say(f"connecting to {sess.profile.host}")
    report, restarted = passwords.change(sess, secret, restart=restart, progress=say)
    if as_json:
        click.echo(
            json.dumps({**report.as_json(), "restarted": restart, "url": restarted.report.url if restarted else None})
        )
        return
    click.echo(_summary(report, restart))
    if restarted is not None:
        click.echo(f"Jupyter is up: {restarted.report.url}")


def _read(from_stdin: bool) -> Secret:
    from remotebook.actions import password as passwords

    if from_stdin:
        return passwords.from_stdin(sys.stdin.read(passwords.MAX_LENGTH + 3))
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("no terminal to ask for the password on", hint="pipe it in with `--stdin`")
    first = getpass.getpass("New Jupyter password: ", stream=sys.stderr)
    passwords.checked(first)  # say "empty" before asking again
    return passwords.from_prompts(first, getpass.getpass("Again: ", stream=sys.stderr))


def _summary(r: PasswordReport, restarted: bool) -> str:
    if r.action == "cleared":
        done = f"{r.target}: password removed" if r.had_password else f"{r.target}: no password was set"
        effect = "the token alone logs in"
    else:
        done = f"{r.target}: password set (hashed on the server with {r.algorithm or 'Jupyter'})"
        effect = (
            "the login page asks for it and locks after 5 wrong ones in a row (for a minute); "
            "the token keeps working and stays the stronger door"
        )
    if restarted:
        return f"{done}; the server restarted: {effect}"
    if r.server_running:
        return (
            f"{done}; the running server keeps its old login until it restarts: "
            f"`remotebook down {r.target} --server`, then `remotebook up {r.target}` (or use --restart)"
        )
    return f"{done}; from the next `remotebook up {r.target}`, {effect}"
