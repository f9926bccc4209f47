"""The `remotebook` group: global options, logging, the commands (one module each) and the error boundary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from remotebook import __version__
from remotebook.core.errors import (
    EXIT_CONFIG,
    EXIT_DIFFERS,
    EXIT_DURABLE,
    EXIT_ERROR,
    EXIT_INSECURE,
    EXIT_INSTALL,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUNNING,
    EXIT_REMOTE,
    EXIT_RUN_FAILED,
    EXIT_SERVER,
    EXIT_SSH,
    EXIT_SYNC,
    EXIT_TUNNEL,
    EXIT_UNTRUSTED,
    EXIT_USAGE,
    RemotebookError,
)
from remotebook.ui.commands.completion import completion
from remotebook.ui.commands.context import AppContext
from remotebook.ui.commands.doctor import doctor
from remotebook.ui.commands.down import down
from remotebook.ui.commands.env import env_command
from remotebook.ui.commands.init import init
from remotebook.ui.commands.list import list_
from remotebook.ui.commands.logs import logs
from remotebook.ui.commands.open import open_
from remotebook.ui.commands.password import password
from remotebook.ui.commands.reqs import reqs
from remotebook.ui.commands.run import run
from remotebook.ui.commands.status import status
from remotebook.ui.commands.supervise import supervise_
from remotebook.ui.commands.sync import sync
from remotebook.ui.commands.trust import trust, untrust
from remotebook.ui.commands.up import up

log = logging.getLogger("remotebook")

EXIT_CODES_HELP = f"""\b
Exit codes:
  0    success
  {EXIT_ERROR}    unexpected error (run with -v for details)
  {EXIT_USAGE}    bad command-line usage (password: empty, the two differ, no terminal
       without --stdin)
  {EXIT_CONFIG}    config file malformed or invalid
  {EXIT_SSH}    cannot reach, authenticate to, or trust the host
  {EXIT_REMOTE}    the remote lacks python3 (3.8+ for env), jupyter, a writable remote_dir,
       or (env) a reachable package index
  {EXIT_SERVER}    Jupyter failed to start or to answer in time
  {EXIT_TUNNEL}    local port taken or port forwarding refused
  {EXIT_NOT_RUNNING}    status/open: the target is not up
  {EXIT_SYNC}    sync: rsync could not finish (disk full, permission, no rsync)
  {EXIT_DIFFERS}   reqs --check: requirements file differs from the imports
  {EXIT_INSTALL}   env: a package failed to install (the previous env is kept)
  {EXIT_INSECURE}   the server lets requests in without a token (auth off in its config);
       remotebook stopped what it started
  {EXIT_UNTRUSTED}   a project file is another user's or writable by others, or sets
       commands or a risky value you have not approved (`remotebook trust`), such as
       a remote_dir that is the server home or in ~/.ssh
  {EXIT_RUN_FAILED}   run: a cell raised an error or does not parse, or the kernel died
       (the outputs until then are saved in the notebook)
  {EXIT_DURABLE}   durable outputs: the server's Jupyter lacks their extensions and
       remotebook could not install them (the hint says what to run)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


def _setup_logging(paths_state_dir: Path, verbose: bool) -> None:
    root = logging.getLogger("remotebook")
    root.setLevel(logging.DEBUG)
    for old in list(root.handlers):  # main() run again in one process (tests): not twice, not to a closed stream
        root.removeHandler(old)
        old.close()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("remotebook: %(levelname)s: %(message)s"))
    root.addHandler(stderr)
    try:  # every run leaves a DEBUG log behind, to read after the fact
        from remotebook.local.paths import private_dir

        logfile = private_dir(paths_state_dir) / "remotebook.log"
        if logfile.exists() and logfile.stat().st_size > 1_000_000:
            logfile.replace(logfile.with_suffix(".log.1"))
        handler = logging.FileHandler(logfile, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    except OSError as e:
        log.warning("no log file: %s", e)


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remotebook")
@click.option(
    "--ssh-config",
    envvar="REMOTEBOOK_SSH_CONFIG",
    default="",
    metavar="FILE",
    help="ssh config file passed as `ssh -F FILE` to every ssh remotebook runs (env REMOTEBOOK_SSH_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="DEBUG log on stderr, and tracebacks.")
@click.pass_context
def cli(ctx: click.Context, ssh_config: str, verbose: bool) -> None:
    """A remote Jupyter server in your laptop's browser, in one command.

    TARGET is a profile name from remotebook.toml (or the user config), or an ssh
    destination: host, user@host, or an alias from your ~/.ssh/config.
    """
    app = AppContext(ssh_config, verbose)
    _setup_logging(app.paths.state_dir, verbose)
    ctx.obj = app


for _command in (
    up,
    supervise_,
    status,
    list_,
    down,
    open_,
    logs,
    doctor,
    init,
    sync,
    run,
    reqs,
    env_command,
    password,
    trust,
    untrust,
    completion,
):
    cli.add_command(_command)


def _fail(err: RemotebookError, verbose: bool) -> int:
    click.secho(f"remotebook: error: {err.message}", fg="red", err=True)
    if err.detail:
        click.echo("\n".join("  | " + line for line in err.detail.splitlines()), err=True)
    if err.hint:
        click.echo(f"  hint: {err.hint}", err=True)
    if verbose:
        import traceback

        traceback.print_exception(err)
    return err.exit_code


def main(argv: list[str] | None = None) -> None:
    verbose = bool({"-v", "--verbose"} & set(sys.argv[1:] if argv is None else argv))
    try:
        # A command's own exit code (doctor: its first failed check's) comes back from ctx.exit().
        code = cli.main(args=argv, prog_name="remotebook", standalone_mode=False)
    except RemotebookError as err:
        sys.exit(_fail(err, verbose))
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if isinstance(e, click.UsageError) else e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("\nremotebook: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except PermissionError as e:
        sys.exit(_fail(RemotebookError(str(e)), verbose))
    except Exception as e:  # a bug: one line for the user, the traceback with -v and in the log
        log.debug("unexpected error", exc_info=True)
        sys.exit(_fail(RemotebookError(f"unexpected error: {e!r}", hint="run with -v and report it"), verbose))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
