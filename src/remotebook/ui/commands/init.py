"""`remotebook init [TARGET]`: a remotebook.toml from a short wizard (every question also a flag), a key, a Host block."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from remotebook.local.config import APPS, PROJECT_FILE
from remotebook.ui.commands.context import AppContext
from remotebook.ui.prompts import Asker, say


@click.command()
@click.argument("target", required=False)
@click.option("--host", default="", help="ssh destination for the profile (the same as TARGET).")
@click.option("--profile", "profile_name", default="", help="Profile name (default: the folder's name).")
@click.option("--remote-dir", default="", help="Notebook root on the remote (default: ~/FOLDER).")
@click.option("--app", "app_name", type=click.Choice(APPS), default=None, help="lab (default) or notebook.")
@click.option(
    "--check/--no-check",
    default=None,
    help="Try a password-free login to the host (default: on a terminal, or with --install-key).",
)
@click.option(
    "--install-key",
    is_flag=True,
    help="If the login needs a password: make the key if it is missing and install it (ssh asks the password once).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The key to install, made if missing (default: ~/.ssh/id_ed25519).",
)
@click.option("--alias", default="", help="Name of the ssh config Host block (default: the host name's first label).")
@click.option(
    "--write-ssh-config",
    is_flag=True,
    help="Add the Host block to ~/.ssh/config (or --ssh-config FILE) after a backup; else it is printed.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing remotebook.toml without asking.")
@click.option("-y", "--yes", is_flag=True, help="Ask nothing, even on a terminal: the flags and defaults decide.")
@click.pass_obj
def init(
    app: AppContext,
    target: str | None,
    host: str,
    profile_name: str,
    remote_dir: str,
    app_name: str | None,
    check: bool | None,
    install_key: bool,
    key_file: Path | None,
    alias: str,
    write_ssh_config: bool,
    force: bool,
    yes: bool,
) -> None:
    """Write remotebook.toml here, from a short wizard on a terminal (each question is also a flag).

    With a host it can check for a password-free login, make an ed25519 key and install it
    on the host (ssh asks the password once), and offer a Host block for ~/.ssh/config.
    """
    from remotebook.core.errors import UsageError
    from remotebook.local import project_file

    if target and host and target != host:
        raise UsageError(f"two hosts given: {target} and --host {host}", hint="give one")
    folder = Path.cwd()
    ask = Asker(sys.stdin.isatty() and not yes)
    base = project_file.defaults(folder)
    destination = ask.text("ssh destination (host, user@host, or a Host alias)", target or host, "")
    answers = project_file.Answers(
        host=destination or base.host,
        profile=ask.text("Profile name", profile_name, base.profile),
        remote_dir=ask.text("Notebook folder on the remote", remote_dir, base.remote_dir),
        app=ask.choice("Jupyter app", app_name, APPS, base.app),
    )
    project_file.render(answers)  # a bad profile name stops here, before anything is done
    if alias:
        from remotebook.connection import sshconfig

        sshconfig.check_alias(alias)  # and a bad --alias, before any key is made or installed
    login = check if check is not None else (ask.interactive or install_key)
    if destination and (login or write_ssh_config):
        from remotebook.ui.commands.first_login import connect

        answers = replace(
            answers, host=connect(app, ask, answers, login, install_key, key_file, alias, write_ssh_config)
        )
    path = _write_file(app, ask, folder, project_file.render(answers), force)
    if path is not None:
        click.echo(f"wrote {path}; edit it, then run `remotebook up`")


def _write_file(app: AppContext, ask: Asker, folder: Path, text: str, force: bool) -> Path | None:
    """Write it new; an existing file is replaced only with --force or, after its diff is shown, a yes."""
    from remotebook.core.errors import UsageError
    from remotebook.local import project_file

    diff = project_file.changes(folder, text)
    if diff == "":
        say(f"{folder / PROJECT_FILE} already says this; left as it is")
        return None
    if diff is not None and not force:
        if not ask.interactive:
            raise UsageError(f"{folder / PROJECT_FILE} already exists", hint="edit it, or use --force to overwrite it")
        click.echo(diff.rstrip("\n"))
        if not click.confirm("Replace remotebook.toml with this?", default=False):
            say("remotebook.toml left as it is")
            return None
    return project_file.write(folder, force=True, paths=app.paths, text=text)
