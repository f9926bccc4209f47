"""Command line: arguments -> profile -> session calls; errors -> one line and a fixed exit code."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from remotebook import __version__
from remotebook.commands import Env, open_browser, progress
from remotebook.commands.env import env_command
from remotebook.commands.reqs import reqs
from remotebook.commands.sync import sync
from remotebook.commands.trust import trust, untrust
from remotebook.commands.up import supervise_, up
from remotebook.errors import (
    EXIT_CONFIG,
    EXIT_DIFFERS,
    EXIT_ERROR,
    EXIT_INSECURE,
    EXIT_INSTALL,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUNNING,
    EXIT_REMOTE,
    EXIT_SERVER,
    EXIT_SSH,
    EXIT_SYNC,
    EXIT_TUNNEL,
    EXIT_UNTRUSTED,
    EXIT_USAGE,
    RemotebookError,
)

log = logging.getLogger("remotebook")

EXIT_CODES_HELP = f"""\b
Exit codes:
  0    success
  {EXIT_ERROR}    unexpected error (run with -v for details)
  {EXIT_USAGE}    bad command-line usage
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
       commands you have not approved (`remotebook trust`)
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
        from remotebook.paths import private_dir

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
    env = Env(ssh_config, verbose)
    _setup_logging(env.paths.state_dir, verbose)
    ctx.obj = env


@cli.command()
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(env: Env, target: str | None, as_json: bool) -> None:
    """Show whether TARGET's server and tunnel are up (no TARGET: list all known targets)."""
    from remotebook import session as core

    if target is None and not env.in_project():
        _list_targets(env, as_json)
        return
    report = core.status(env.session(target, existing=True))
    up_now = report["tunnel"]["up"] and report["server"]["running"]
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(_status_text(report))
    if not up_now:
        sys.exit(EXIT_NOT_RUNNING)


def _status_text(r: dict[str, Any]) -> str:
    s, t = r["server"], r["tunnel"]
    lines = [f"{r['target']} ({r['host']}) for {_home(r.get('project_dir') or '')}"]
    if s["running"]:
        how = "unix socket" if s["transport"] == "unix" else "TCP on the remote's 127.0.0.1 (no --sock support)"
        lines.append(f"  server: running, Jupyter {s['version']}, pid {s['pid']}, {how} {s['endpoint']}")
        if s.get("kernel_transport"):
            where = (
                "unix sockets in the private runtime dir"
                if s["kernel_transport"] == "ipc"
                else "the remote's 127.0.0.1"
            )
            lines.append(f"  kernel: transport {s['kernel_transport']} ({where})")
        lines.append(f"  root:   {s['root_dir']}")
        if "kernels" in s:
            lines.append("  usage:  " + _activity_text(s))
    else:
        lines.append("  server: not running")
    lines.append(
        f"  tunnel: {'up on 127.0.0.1:' + str(t['local_port']) if t['up'] else 'down'}"
        f" (ssh master {'alive' if t['master'] else 'not running'})"
    )
    if r.get("url"):
        lines.append(f"  url:    {r['url']}")
    lines += [f"  note:   {n}" for n in r.get("notes", [])]
    if r.get("supervisor"):
        lines.append("  watch:  " + _supervisor_text(r["supervisor"]))
    return "\n".join(lines)


def _ago(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _activity_text(s: dict[str, Any]) -> str:
    kernels = s.get("kernels", [])
    busy = sum(1 for k in kernels if k.get("state") == "busy")
    text = f"{len(kernels)} kernel(s)" + (f" ({busy} busy)" if busy else "")
    return text + f", idle {_ago(s.get('idle_s'))}, server up {_ago(s.get('uptime_s'))}"


def _supervisor_text(h: dict[str, Any]) -> str:
    import time

    from remotebook import outage

    text = {
        "watching": "supervisor watching",
        "reconnecting": "supervisor reconnecting",
        "offline": "supervisor waiting to reconnect",
        "gave_up": "supervisor gave up",
        "stopped": "no supervisor",
    }.get(h.get("state", ""), "?")
    if h.get("state") in ("offline", "reconnecting") and h.get("offline_since"):
        return f"{text}; {outage.describe(h, time.time())}"  # "offline since 10:42 (3 min), 7 tries, next in 12 s: ..."
    if h.get("reconnects"):
        when = time.strftime("%H:%M:%S", time.localtime(h["last_reconnect"])) if h.get("last_reconnect") else "?"
        text += f"; {h['reconnects']} reconnect(s), last at {when} ({h.get('last_reason', '')})"
    if h.get("message"):
        text += f"; {h['message']}"
    return text


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(env: Env, as_json: bool) -> None:
    """Every known target, one line each (the same as `status` with no target)."""
    _list_targets(env, as_json)


def _list_targets(env: Env, as_json: bool) -> None:
    from remotebook import state, tunnel

    rows = []
    for key, data in state.all_projects(env.paths):
        port, token = data.get("local_port"), data.get("token")
        # The token goes only to a port our master holds, never to whatever took it since.
        alive = bool(
            port
            and token
            and tunnel.forward_is_ours(str(data.get("control_path", "")), port)
            and tunnel.api_status(port, token) == 200
        )
        watch = state.health_of(env.paths, key) or {}
        rows.append(
            {
                "target": data["target"],
                "host": data.get("host"),
                "project_dir": data.get("project_dir"),
                "local_port": port,
                "up": alive,
                "url": data.get("url") if alive else None,
                "supervisor": watch.get("state"),
            }
        )
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no targets are up (start one with `remotebook up TARGET`)")
    for row in rows:
        tag = f"[{row['supervisor']}]" if row["supervisor"] else ""
        line = (
            f"{row['target']:<16} {'up' if row['up'] else 'down':<5} 127.0.0.1:{row['local_port'] or '-':<6} {tag:<14}"
        )
        click.echo(f"{line} {_home(row['project_dir'] or '')}  {row['url'] or ''}".rstrip())


def _home(path: str) -> str:
    """A folder as a person writes it: ~/projects/x rather than /home/me/projects/x."""
    home = str(Path.home())
    return "~" + path[len(home) :] if path == home or path.startswith(home + "/") else path


@cli.command()
@click.argument("target", required=False)
@click.option("--server", "stop_server", is_flag=True, help="Also stop the remote Jupyter server.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def down(env: Env, target: str | None, stop_server: bool, as_json: bool) -> None:
    """Remove the forward and close the ssh connection (--server: stop Jupyter too)."""
    from remotebook import session as core
    from remotebook import supervise

    sess = env.session(target, existing=True)
    supervise.stop_detached(sess)  # first, or it would reconnect what we take down
    result = core.down(sess, stop_server=stop_server, progress=progress(as_json))
    if as_json:
        click.echo(json.dumps(result))
        return
    done = [
        "forward removed" if result["forward_removed"] else "no forward",
        "ssh connection closed"
        if result["master_closed"]
        else f"ssh connection kept for {len(result['master_kept_for'])} other project(s)"
        if result["master_kept_for"]
        else "no ssh connection",
    ]
    if stop_server:
        action = result.get("server", {}).get("action")
        done.append("server stopped" if action == "stopped" else "no server was running")
    click.echo(f"{result['target']}: " + ", ".join(done))


@cli.command(name="open")
@click.argument("target", required=False)
@click.pass_obj
def open_(env: Env, target: str | None) -> None:
    """Open the browser at TARGET's running notebook."""
    from remotebook import session as core

    sess = env.session(target, existing=True)
    url = core.saved_url(sess)
    click.echo(url)
    open_browser(env, sess.profile.name, url, quiet=False)


@cli.command()
@click.argument("target", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("-n", "--lines", default=200, show_default=True, type=click.IntRange(0, 100000))
@click.pass_obj
def logs(env: Env, target: str | None, follow: bool, lines: int) -> None:
    """Print the remote Jupyter server's log."""
    from remotebook import session as core

    core.logs(env.session(target, existing=True), follow=follow, lines=lines, write=lambda s: click.echo(s, nl=False))


@cli.command()
@click.option("--host", default="", help="ssh destination for the first profile.")
@click.option("--force", is_flag=True, help="Overwrite an existing remotebook.toml.")
def init(host: str, force: bool) -> None:
    """Write a commented remotebook.toml in the current directory."""
    from remotebook import init as init_core

    path = init_core.write(Path.cwd(), host=host, force=force)
    click.echo(f"wrote {path}; edit it, then run `remotebook up`")


for _command in (up, supervise_, sync, reqs, env_command, trust, untrust):
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
        cli.main(args=argv, prog_name="remotebook", standalone_mode=False)
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
    sys.exit(0)


if __name__ == "__main__":
    main()
