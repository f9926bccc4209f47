"""`remotebook up`: start or reuse the server, forward, then watch over it (or leave a supervisor)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import RemotebookError
from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, open_browser, progress
from remotebook.ui.commands.sync import report_sync

if TYPE_CHECKING:
    import threading

    from remotebook.launch.base import Waiting
    from remotebook.project.handle import Session
    from remotebook.supervisor.loop import Supervisor


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--port", type=click.IntRange(1, 65535), help="Local port to use; fail if it is taken.")
@click.option("--detach", is_flag=True, help="Return once ready; the forward lives on in the ssh master.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object once ready.")
@click.option("--stop", "stop_server", is_flag=True, help="Foreground: Ctrl-C also stops the remote server.")
@click.option("--sync", "sync_first", is_flag=True, help="`sync push` the project before the server starts.")
@click.option(
    "--env", "env_first", is_flag=True, help="`reqs` + `env` before the server starts: the project's kernel, ready."
)
@click.option(
    "--durable",
    is_flag=True,
    help="Durable outputs (as durable_outputs = true): cells run on the server, which saves what they print.",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=1),
    help="Seconds to wait for the server; a batch job still queued then is cancelled (default: slurm.queue_timeout).",
)
@click.option(
    "--keep-job", is_flag=True, help="Slurm: Ctrl-C while the job is queued leaves it queued (default: cancel)."
)
@click.pass_obj
def up(
    app: AppContext,
    target: str | None,
    port: int | None,
    detach: bool,
    no_browser: bool,
    as_json: bool,
    stop_server: bool,
    sync_first: bool,
    env_first: bool,
    durable: bool,
    wait_timeout: float | None,
    keep_job: bool,
) -> None:
    """Start (or reuse) Jupyter on TARGET and forward a local port to it."""
    from remotebook.actions import session
    from remotebook.supervisor import loop as supervise

    sess = app.session(target, durable=durable)
    if not detach:  # a closed terminal (SIGHUP) or a plain kill ends a foreground `up` like Ctrl-C
        _interrupt_on(signal.SIGHUP, signal.SIGTERM)
    supervise.try_now(sess, progress(as_json))  # a supervisor waiting between tries tries now, not a second `up`
    if sync_first:
        _push_first(sess, quiet=as_json)
    if env_first:
        _env_first(sess, quiet=as_json)
    if sess.profile.durable_outputs and not _saved_durable(sess):
        _durable_first(sess, quiet=as_json)
    if keep_job and hasattr(sess.launcher, "keep_job"):
        sess.launcher.keep_job = True
    waits = session.Waits(show=_waiting_line(as_json), timeout=wait_timeout)
    result = session.up(sess, port=port, progress=progress(as_json), waits=waits)
    if sess.profile.durable_outputs and not result.server.durable:
        progress(as_json)(
            f"warning: this server was started without durable outputs; `remotebook down {sess.profile.name} "
            "--server`, then `up` again, restarts it with them (its kernels stop)"
        )
    supervisor = supervise.Supervisor(sess, batch=False, say=progress(as_json))
    try:
        if as_json:
            click.echo(json.dumps(result.report.as_json()))
        else:
            click.echo(f"Jupyter is up: {result.report.url}")
        if not no_browser and result.report.url:
            open_browser(app, sess.profile.name, result.report.url, quiet=as_json)
        if detach:
            _spawn_supervisor(app, sess)
        else:
            stop_server = _supervise_here(app, sess, supervisor, stop_server=stop_server, quiet=as_json)
    except KeyboardInterrupt:  # the way to end a foreground `up`: not an error
        if not as_json:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                click.echo("\n» closing the tunnel" + (" and stopping the server" if stop_server else ""), err=True)
    finally:
        if not detach:  # after a reconnect, what to take down is what the supervisor made
            session.foreground_exit(sess, supervisor.last_result or result, stop_server=stop_server)


def _waiting_line(quiet: bool) -> Callable[[Waiting], None]:
    """While the job waits: one line that updates in place on a terminal (a line per change elsewhere)."""
    import logging
    import time

    shown = {"text": ""}

    def show(waiting: Waiting) -> None:
        logging.getLogger("remotebook").info(waiting.line())
        if quiet:
            return
        text = f"» {waiting.line()}"
        if sys.stderr.isatty():
            click.echo(f"\r\033[K{text}", err=True, nl=False)
            return
        changed = waiting.line(now=waiting.since).split(",")[0]  # state and reason, without the clock
        if changed != shown["text"]:
            shown["text"] = changed
            click.echo(f"{text} ({time.strftime('%H:%M:%S')})", err=True)

    return show


def _interrupt_on(*signals: signal.Signals) -> None:
    """Turn these signals into KeyboardInterrupt, so the same clean-up runs as for Ctrl-C."""

    def interrupt(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # a second one must not interrupt the clean-up
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, interrupt)


def _push_first(sess: Session, *, quiet: bool) -> None:
    """`up --sync`: the code is on the server before Jupyter starts there."""
    from remotebook.project.handle import master_lease
    from remotebook.sync import engine as sync

    with master_lease(sess):  # sync's own short-lived master; `up` opens the one that stays
        outcome = sync.run(sess, "push")
    if not quiet:
        report_sync(outcome)


def _env_first(sess: Session, *, quiet: bool) -> None:
    """`up --env`: requirements.txt brought up to date (unless written by hand), then the env."""
    from remotebook.deps import reqs
    from remotebook.env import remote_env
    from remotebook.project.handle import master_lease
    from remotebook.ui.commands.env import describe

    say = progress(quiet)
    path = sess.profile.project_dir / "requirements.txt"
    if path.is_file() and not reqs.ours(path):
        say(f"using {path.name} as written by hand (`remotebook reqs --check` compares it with the imports)")
    else:
        report = reqs.build(sess.profile.project_dir)
        reqs.write(path, report.text)
        say(f"wrote {path.name}: {len(report.requirements)} requirements from {report.files} files")
        for name, where in report.unresolved:
            say(f"unresolved: import {name} ({where}): add its distribution to {path.name} by hand")
    with master_lease(sess) as lease:  # `up` goes on with the connection: one 2FA prompt
        outcome = remote_env.run(sess, progress=say)
        lease.keep()
    say(describe(outcome).splitlines()[0])


def _saved_durable(sess: Session) -> bool:
    """The last server was started with durable outputs: its env has the extensions, so a warm `up` asks nothing more.

    Should they have gone since, the bootstrap's start of a new server says so (durable_missing).
    """
    from remotebook.actions import session

    server = session.saved_server(sess.store.load() or {})
    return server is not None and server.durable


def _durable_first(sess: Session, *, quiet: bool) -> None:
    """Durable outputs: the extensions are beside the server's Jupyter (installed into the project env if need be)."""
    from remotebook.env import durable
    from remotebook.project.handle import master_lease

    with master_lease(sess) as lease:  # a refused `up` leaves no connection behind
        durable.ensure(sess, progress(quiet))
        lease.keep()


def _supervise_here(app: AppContext, sess: Session, supervisor: Supervisor, *, stop_server: bool, quiet: bool) -> bool:
    """Stay until Ctrl-C (or `q`), reconnecting after a drop or a sleep; True: stop the server on the way out.

    On a terminal the live view shows the state and takes keys; elsewhere plain lines.
    """
    import os
    import threading

    from remotebook.supervisor import loop as supervise
    from remotebook.ui.commands import live

    stop = threading.Event()
    view = live.LiveView(app, sess, supervisor, stop) if live.wanted(quiet) else None
    if view is None and not quiet:
        what = "stops the server too" if stop_server else "removes the forward; the server keeps running"
        click.echo(f"Press Ctrl-C to quit ({what}).", err=True)
    restore = _sync_keys(sess, stop) if view is None else view.close
    fd = sess.store.try_lock(supervise.LOCK)
    try:
        if view is not None:
            supervisor.say = view.say  # the supervisor's words go on the screen, not under it
            view.start()
        if fd is None:  # `up --detach` left a supervisor: it keeps the tunnel; we only wait
            supervisor.say("a background supervisor keeps this tunnel alive")
            stop.wait()
        else:
            supervisor.run(stop)
    finally:
        stop.set()
        restore()
        if fd is not None:
            os.close(fd)
    if view is not None and view.failed:
        raise RemotebookError(
            f"the live view failed: {view.failed}", hint="run with -v and report it; `up | cat` shows plain lines"
        )
    if view is None or not view.quit_by_key:
        return stop_server
    stop_server = stop_server or view.stop_server
    click.echo("» closing the tunnel" + (" and stopping the server" if stop_server else ""), err=True)
    return stop_server


def _sync_keys(sess: Session, done: threading.Event) -> Callable[[], None]:
    """On a terminal, `p` pushes and `l` pulls while `up` runs (Ctrl-C still quits)."""
    import os
    import select
    import termios
    import threading
    import tty

    if not sys.stdin.isatty():
        return lambda: None
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin)
    tty.setcbreak(stdin)  # keys arrive one by one, unechoed; Ctrl-C still sends SIGINT
    click.echo("Keys: p = sync push, l = sync pull.", err=True)

    def read_keys() -> None:
        while not done.is_set():
            if not select.select([stdin], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(stdin, 1)
            except OSError:  # the terminal was closed
                return
            if not data:
                return
            key = data.decode(errors="ignore").lower()
            if key in ("p", "l") and not done.is_set():
                _sync_now(sess, "push" if key == "p" else "pull")

    reader = threading.Thread(target=read_keys, name="keys", daemon=True)
    reader.start()

    def restore() -> None:
        with contextlib.suppress(termios.error, OSError):  # a hung-up terminal has no mode to restore
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        reader.join(timeout=60)  # a sync that began just before Ctrl-C finishes: no rsync left behind

    return restore


def _sync_now(sess: Session, direction: str) -> None:
    from remotebook.sync import engine as sync

    try:
        report_sync(sync.run(sess, direction))
    except RemotebookError as e:
        click.echo(f"» {direction} failed: {e}", err=True)


def _spawn_supervisor(app: AppContext, sess: Session) -> None:
    """`up --detach` leaves a small background process that reconnects after a drop or a sleep."""
    from remotebook.supervisor import loop as supervise

    argv = [sys.executable, "-m", "remotebook"]
    if app.ssh_config:
        argv += ["--ssh-config", app.ssh_config]
    supervise.spawn(sess, [*argv, "_supervise", sess.profile.name])
