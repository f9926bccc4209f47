"""What the commands do, screen-free: up, status, down, open, logs for one target."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from remotebook.connection import mux, tunnel
from remotebook.core.deadline import Deadline
from remotebook.core.errors import InsecureServerError, NotRunningError, RemotebookError, TunnelError
from remotebook.launch import base as launch
from remotebook.local import state
from remotebook.project import endpoint, reports
from remotebook.project.handle import Progress, Session, master_lease, release_master
from remotebook.project.handle import quiet as _quiet

if TYPE_CHECKING:
    from remotebook.launch.slurm_text import Job

log = logging.getLogger(__name__)


@dataclass
class UpResult:
    server: launch.Server
    local_port: int
    spec: str
    created_master: bool
    added_forward: bool
    report: reports.ProjectReport


@dataclass(frozen=True)
class Waits:
    """How `up` shows and bounds the wait for a server: each Waiting goes to `show`; None: the launcher's limit."""

    show: Callable[[launch.Waiting], None] | None = None
    timeout: float | None = None


def up(
    session: Session,
    *,
    port: int | None = None,
    progress: Progress = _quiet,
    batch: bool = False,
    restart_shut_down: bool = True,
    waits: Waits = Waits(),
) -> UpResult:
    """Ensure the server, forward a local port to it, wait until it answers; record state.

    One `up` per project at a time on this computer (a lock in its state folder); `batch`
    forbids ssh prompts (a background supervisor has nobody to ask).
    """
    try:
        with session.store.locked(state.UP_LOCK):
            return _up(session, port, progress, batch, restart_shut_down, waits)
    except TimeoutError as e:
        raise TunnelError(str(e), hint="wait for the other `remotebook up` to finish") from None


def _up(
    session: Session, port: int | None, progress: Progress, batch: bool, restart_shut_down: bool, waits: Waits
) -> UpResult:
    target = session.target
    previous = session.store.load() or {}
    if port is not None:  # the user insisted on this port: fail before touching the remote
        tunnel.choose_port(port, strict=True)
    reused = connect(session, previous, progress, batch=batch)  # the pid of a master that ran already
    added = ""
    with master_lease(session, had_master=reused is not None) as lease:
        try:
            resumed = _resume(session, previous, reused, port)
            if resumed is not None:
                server, local_port, spec, added = resumed
                progress(f"Jupyter {server.version} answers on 127.0.0.1:{local_port} (pid {server.pid}, as last time)")
                lease.keep()
                return _record(session, server, local_port, spec, bool(added), lease.opened)
            # A fresh token for every ask: a server found running answers with its own (it keeps it),
            # a server started anew (after a crash or an idle shutdown) gets this one, so a token
            # that leaked once dies with the server that had it.
            token = new_token()
            server = launch.wait_for_server(
                session.launcher,
                token,
                batch=batch,
                restart_shut_down=restart_shut_down,
                deadline=Deadline(waits.timeout or session.launcher.wait_seconds),
                show=waits.show or (lambda waiting: progress(waiting.line())),
            )
            for note in session.launcher.notes:
                session.notes.append(note)
                progress(note)
            progress(_server_line(server))
            if server.warning:
                session.notes.append(server.warning)
                progress("warning: " + server.warning)
            local_port, spec, new_forward = _forward(session, server, previous, reused, port, progress)
            added = spec if new_forward else ""
            _check_auth(session, server, local_port, previous)
        except BaseException as exc:
            # Nothing of ours may outlive a failed or interrupted `up`; other projects' forwards stay.
            undone = session.launcher.abandon()  # a job this `up` queued, which never started
            if undone:
                progress(undone)
                if isinstance(exc, RemotebookError):
                    exc.message += f"; {undone}"
            if added:
                mux.cancel(target, added)
            _restore(session, previous)  # before the lease counts the master's users
            raise
        lease.keep()
        return _record(session, server, local_port, spec, bool(added), lease.opened)


def _record(
    session: Session, server: launch.Server, local_port: int, spec: str, added: bool, opened_master: bool
) -> UpResult:
    target = session.target
    report = describe(session, server, local_port, tunnel_up=True, master=True)
    session.store.save(
        {
            **report.as_json(),
            **session.store.identity.as_json(),
            "control_path": target.control_path,
            "forward": spec,
            "auth_checked_pid": server.pid,
        }
    )
    return UpResult(server, local_port, spec, opened_master, added, report)


def _resume(
    session: Session, previous: dict[str, Any], master: int | None, port: int | None
) -> tuple[launch.Server, int, str, str] | None:
    """The warm path, as a person does it by hand: forward the last endpoint, one GET with the token.

    Only this project's server knows its token, so a 200 proves the server is alive and
    ours, without a remote shell. Taken only for a unix socket (it lives in our private
    dir there: nobody else can listen on it; a TCP port on the remote could be squatted,
    and would receive the token) and for a server whose auth was already checked.
    Returns (server, port, spec, the spec if this call added the forward), or None: then
    the bootstrap runs as on a cold start.
    """
    old_port = previous.get("local_port")
    server = saved_server(previous)
    if (
        server is None
        or not isinstance(old_port, int)
        or server.transport != "unix"
        or previous.get("auth_checked_pid") != server.pid
        or port not in (None, old_port)
    ):
        return None
    target, spec = session.target, tunnel.forward_spec(old_port, server.endpoint)
    pid = master or mux.master_pid(target)
    if pid is None:
        return None
    added = ""
    if not (master and previous.get("forward") == spec and tunnel.held_by_master(pid, old_port)):
        if not tunnel.port_is_free(old_port):
            return None
        try:
            mux.forward(target, spec)
        except TunnelError:
            return None
        added = spec
    try:
        if tunnel.held_by_master(pid, old_port) and tunnel.api_status(old_port, server.token, timeout=5.0) == 200:
            return server, old_port, spec, added
    except BaseException:
        if added:
            mux.cancel(target, added)
        raise
    if added:
        mux.cancel(target, added)
    return None


def saved_server(previous: dict[str, Any]) -> launch.Server | None:
    """The server this project's state describes (with its token), or None if the state has no whole one."""
    saved, token = previous.get("server"), previous.get("token")
    return launch.Server.from_saved(saved, str(token)) if isinstance(saved, dict) and token else None


def connect(session: Session, previous: dict[str, Any], progress: Progress, *, batch: bool) -> int | None:
    """Make sure the destination's shared master runs; the pid of the one that already did, else None.

    This project is recorded as a user of that master before the lock is let go, so a
    `down` of another project never closes the connection under an `up` in progress.
    """
    target = session.target
    with mux.host_lock(target):
        session.store.save({**previous, **session.store.identity.as_json(), "control_path": target.control_path})
        pid = mux.master_pid(target)
        progress(f"connecting to {session.profile.host}" + (" (reusing the ssh connection)" if pid else ""))
        if pid is None:
            try:
                mux.ensure_master(target, batch=batch)
            except BaseException:
                _restore(session, previous)
                raise
    return pid


def _restore(session: Session, previous: dict[str, Any]) -> None:
    """A failed `up` leaves the state as it found it (`connect` recorded the master's user early)."""
    if previous:
        session.store.save(previous)
    else:
        session.store.remove()


def new_token() -> str:
    """32 random bytes, URL-safe: what secrets.token_urlsafe does, without its imports."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _server_line(server: launch.Server) -> str:
    verb = "started" if server.action == "started" else "found running"
    where = (
        f"unix socket {server.endpoint}"
        if server.transport == "unix"
        else f"{server.endpoint} (TCP: this Jupyter has no --sock)"
    )
    return f"Jupyter {server.version} {verb} on {server.host} (pid {server.pid}), listening on {where}"


def _forward(
    session: Session,
    server: launch.Server,
    previous: dict[str, Any],
    master: int | None,
    port: int | None,
    progress: Progress,
) -> tuple[int, str, bool]:
    """Reuse a working forward from an earlier `up`, or add a new one; wait until Jupyter answers.

    The local port of the last `up` is preferred, so an open browser tab works again.
    """
    target, profile = session.target, session.profile
    old_spec = previous.get("forward", "") if master else ""  # forwards die with their master
    old_port: int | None = previous.get("local_port")
    if (
        old_port
        and old_spec
        and old_spec == tunnel.forward_spec(old_port, server.endpoint)
        and port in (None, old_port)
        and master
        and tunnel.held_by_master(master, old_port)  # our master's port, not a squatter's
        and tunnel.api_status(old_port, server.token) == 200
    ):
        progress(f"reusing the forward on 127.0.0.1:{old_port}")
        return old_port, old_spec, False
    if old_spec:
        mux.cancel(target, old_spec)  # ours, and it points at a server that is gone (cancel matches the whole spec)
    wanted = port or profile.local_port or old_port
    choice = tunnel.choose_port(wanted, strict=port is not None)
    choice = tunnel.add_forward(target, choice, server.endpoint, strict=port is not None)
    if choice.wanted:
        note = f"local port {choice.wanted} is in use; using {choice.port} instead"
        session.notes.append(note)
        progress(note)
    spec = tunnel.forward_spec(choice.port, server.endpoint)
    progress(f"forwarding 127.0.0.1:{choice.port} -> {server.endpoint}")
    try:
        tunnel.wait_ready(target, choice.port, server.token)
    except BaseException:
        mux.cancel(target, spec)
        raise
    return choice.port, spec, True


def _check_auth(session: Session, server: launch.Server, port: int, previous: dict[str, Any]) -> None:
    """A request without the token must be refused; once per server (pid), not on every warm `up`.

    A Jupyter config that sets the token to "" wins over the token remotebook hands over,
    and then anyone who reaches the forwarded port (every local user) gets in. Such a
    server is stopped: remotebook started it, and it must not stay reachable.
    """
    if previous.get("auth_checked_pid") == server.pid and previous.get("forward"):
        return
    if tunnel.refuses_anonymous(port):
        return
    try:
        session.launcher.stop()
    except RemotebookError as e:
        log.warning("could not stop the server without auth: %s", e)
    raise InsecureServerError(
        f"the Jupyter server on {session.profile.host} answers requests without a token: authentication is off",
        hint='a Jupyter config there likely sets the token to "" (c.ServerApp.token or c.IdentityProvider.token in '
        "~/.jupyter/jupyter_server_config.py): remove that line; remotebook stopped the server it had started",
    )


def describe(
    session: Session, server: launch.Server | None, local_port: int | None, *, tunnel_up: bool, master: bool
) -> reports.ProjectReport:
    """The report that `up --json` prints and `status` builds on."""
    ok = server is not None and local_port is not None and tunnel_up
    return reports.ProjectReport(
        target=session.profile.name,
        host=session.profile.host,
        project_dir=session.store.identity.project_dir,
        app=session.profile.app,
        remote_dir=session.profile.remote_dir,
        server=server,
        tunnel=reports.Tunnel(tunnel_up, local_port if tunnel_up else None, master, session.target.control_path),
        url=session.url(local_port, server) if ok and server and local_port else None,
        notes=tuple(session.notes),
    )


def status(session: Session) -> reports.ProjectReport:
    """Health of one project: master, server, forward.

    With a live master holding our forward, the server's own API answers through it (one
    request each for status and kernels, in parallel); the remote is asked (a shell
    session) only when that does not work.
    """
    previous = session.store.load() or {}
    pid = mux.master_pid(session.target)
    port = previous.get("local_port")
    server = saved_server(previous)
    used = None
    # A saved TCP endpoint may be someone else's by now: its token waits for the remote's word below.
    mine = server is not None and not endpoint.needs_proof(server)
    if (
        mine
        and server
        and pid
        and isinstance(port, int)
        and previous.get("forward")
        and tunnel.held_by_master(pid, port)
    ):
        used = activity(port, server.token)
    if used is None or session.launcher.kind == "slurm":  # a job's state and time left: only Slurm knows them
        found = None
        try:
            found = session.launcher.query(through_master=pid is not None)
        except RemotebookError as e:
            session.notes.append(f"could not ask the remote: {e}")
        if used is None:
            server = found
    if (
        used is None
        and pid
        and server  # the remote's fresh answer: this server holds this endpoint now
        and isinstance(port, int)
        and previous.get("forward") == tunnel.forward_spec(port, server.endpoint)  # and our forward goes there
        and tunnel.held_by_master(pid, port)
    ):
        used = activity(port, server.token)  # its /api/status 200 is the proof that the tunnel works
    tunnel_up = used is not None
    report = describe(session, server, port if tunnel_up else None, tunnel_up=tunnel_up, master=pid is not None)
    job = session.launcher.job or session.launcher.ended
    return dataclasses.replace(
        report,
        activity=used,
        supervisor=session.store.load(state.HEALTH),
        asked_status=True,
        job=job,
        warnings=job_warnings(session, job),
    )


def job_warnings(session: Session, job: Job | None) -> tuple[str, ...]:
    """A running job within `warn_before` of its walltime, from Slurm's time left now."""
    left = job.time_left if job is not None and job.state == "RUNNING" else None
    if job is None or left is None:
        return ()
    now = time.time()
    text = launch.walltime_warning(job.job_id, now + left, session.profile.slurm.warn_before, now)
    return (text,) if text else ()


# Asking is not using: without this, every look (`status`, the live view's polls) would reset the
# server's idle time, and its idle_timeout would never shut it down. (/api/status never counts.)
KERNELS_UNTRACKED = "/api/kernels?no_track_activity=1"


def activity(port: int, token: str) -> reports.Activity | None:
    """Uptime, idle time and kernels, as Jupyter's own API reports them; None unless it answered 200.

    The two requests go out together: on a slow link they cost one wait, not two.
    """
    from concurrent.futures import ThreadPoolExecutor  # status only: not on up's warm path

    with ThreadPoolExecutor(max_workers=2) as pool:
        asked = pool.submit(tunnel.api_get, port, token, "/api/status")
        _, kernels = tunnel.api_get(port, token, KERNELS_UNTRACKED)
        status, info = asked.result()
    if status != 200 or not isinstance(info, dict):
        return None
    now = time.time()
    found = [
        reports.Kernel(
            id=str(k.get("id", "")),
            name=str(k.get("name", "")),
            state=str(k.get("execution_state", "")),
            connections=int(k.get("connections") or 0),
            idle_s=_age(k.get("last_activity"), now),
        )
        for k in (kernels if isinstance(kernels, list) else [])
        if isinstance(k, dict)
    ]
    return reports.Activity(_age(info.get("started"), now), _age(info.get("last_activity"), now), tuple(found))


def _age(stamp: object, now: float) -> int | None:
    """Seconds since an ISO timestamp from Jupyter ("2026-11-26T11:14:22.645448Z")."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # 3.10 does not read "Z"
    except ValueError:
        return None
    return max(0, int(now - when.timestamp()))


def down(session: Session, *, stop_server: bool, progress: Progress = _quiet) -> reports.DownReport:
    """Remove this project's forward; close the master only when no other project uses it.

    With stop_server, stop Jupyter too.
    """
    target = session.target
    previous = session.store.load() or {}
    master = mux.master_alive(target)
    removed = bool(master and previous.get("forward") and mux.cancel(target, previous["forward"]))
    stopped = None
    if stop_server:
        progress(f"stopping the Jupyter server on {session.profile.host}")
        stopped = session.launcher.stop()
    _forget(session, previous, server_stopped=stop_server)  # before the count of users: it is no longer one
    others = release_master(session) if master else []
    return reports.DownReport(
        target=session.profile.name,
        project_dir=session.store.identity.project_dir,
        forward_removed=removed,
        master_closed=master and not others,
        master_kept_for=tuple(others),
        server=stopped,
    )


def _forget(session: Session, previous: dict[str, Any], *, server_stopped: bool) -> None:
    """Drop the state of a project that is down, but remember what makes the next `up` warm.

    Its port (an open tab works again) and, while the server runs on, the server's
    description, token and checked auth: the next `up` forwards that socket and asks once
    (`_resume`) instead of running the bootstrap. No forward is recorded, so nothing
    counts this project as up, or as a user of the shared master.
    """
    kept = {key: previous[key] for key in ("local_port",) if previous.get(key)}
    if not server_stopped:
        kept |= {key: previous[key] for key in ("token", "server", "auth_checked_pid") if previous.get(key)}
    if kept:
        session.store.save({**session.store.identity.as_json(), **kept})
    else:
        session.store.remove()


def foreground_exit(session: Session, result: UpResult, *, stop_server: bool) -> None:
    """Ctrl-C (or a closed terminal) on a foreground `up`: drop what this run added.

    The server lives on unless asked; the master closes unless other projects use it.
    """
    target = session.target
    if stop_server:
        try:
            session.launcher.stop()
        except RemotebookError as e:
            log.warning("could not stop the server: %s", e)
    if not (result.created_master or result.added_forward or stop_server):
        return  # an earlier `up --detach` owns the forward we reused: leave it
    if mux.master_alive(target):
        mux.cancel(target, result.spec)
    _forget(session, session.store.load() or result.report.as_json(), server_stopped=stop_server)
    release_master(session)


def saved_url(session: Session) -> str:
    """The URL of a project that is up now, for `open`.

    The token goes only to a port that our own master holds (a program that took the
    port after our forward died must not receive it), and through it only to our server
    (a saved TCP endpoint is checked on the remote first: endpoint.is_ours).
    """
    previous = session.store.load() or {}
    port, token, url = previous.get("local_port"), previous.get("token"), previous.get("url")
    control = previous.get("control_path", "")
    server = saved_server(previous)
    if (
        not (port and token and url and server)
        or not tunnel.forward_is_ours(control, port)
        or not endpoint.is_ours(session, server)
        or tunnel.api_status(port, token) != 200
    ):
        raise NotRunningError(f"{session.profile.name} is not up", hint=f"run `remotebook up {session.profile.name}`")
    return str(url)


def logs(session: Session, *, follow: bool, lines: int, write: Callable[[str], None]) -> None:
    """Hand the remote server's log to `write`, line by line (follow: until Ctrl-C)."""
    session.launcher.logs(follow=follow, lines=lines, write=write)
