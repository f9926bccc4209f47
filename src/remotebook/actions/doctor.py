"""`doctor`: what stands between this computer and a working server, checked in order, screen-free.

One ssh connection (BatchMode: a check never prompts) runs remote/doctor.sh, which answers
every remote question in one JSON; server_checks.py judges it in pure functions of that
answer, so each can be tested against recorded answers. A host that cannot be reached marks every
later check skipped: they were not run, so they did not fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from remotebook.actions.server_checks import fail, ok, remote_checks, skipped, warn
from remotebook.connection import direct, mux, ssh
from remotebook.core import proc
from remotebook.core.errors import EXIT_SSH, EXIT_TUNNEL, RemotebookError, SSHError
from remotebook.project.reports import Check, DoctorReport

CONNECT_TIMEOUT = 5.0  # the TCP probe; ssh's own (batch) is ConnectTimeout=5 too


SCRIPT_TIMEOUT = 8.0  # doctor.sh itself: a few light commands


PROBE_TIMEOUT = 5.0  # one `ssh -W` through the master


PERSIST = "15"  # a master doctor makes lingers this long, unless doctor closes it


ORDER = (
    "ssh reachable",
    "host key known",
    "authentication",
    "multiplexing",
    "TCP forwarding",
    "unix-socket forwarding",
    "login shell",
    "remote python",
    "Jupyter",
    "remote_dir writable",
    "disk and quota",
    "rsync",
    "systemd linger",
    "clock",
)


CONNECT_KINDS = ("unresolved", "refused", "timeout", "no_route")  # ssh's failure kinds that mean "not reached"


def reachable(target: ssh.Target) -> Check:
    """A TCP connection that gets an SSH banner, unless ssh reaches the host through a proxy (then ssh decides)."""
    name = "ssh reachable"
    via = target.options.get("proxyjump") or target.options.get("proxycommand")
    if via and via != "none":
        return ok(name, f"through {via} (decided by the connection below)")
    where = f"{target.hostname}:{target.port}"
    try:
        with socket.create_connection((target.hostname, target.port), timeout=CONNECT_TIMEOUT) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            banner = sock.recv(256).decode("ascii", "replace").strip()
    except socket.gaierror:
        return fail(
            name,
            f"cannot resolve {target.hostname}",
            "check the spelling, HostName in your ssh config, or your VPN",
            EXIT_SSH,
        )
    except TimeoutError:
        return fail(
            name,
            f"no answer from {where} within {CONNECT_TIMEOUT:.0f} s",
            "is the host up, and the VPN or firewall open?",
            EXIT_SSH,
        )
    except OSError as e:
        return fail(
            name, f"{where}: {e.strerror or e}", f"check the host and port (`ssh -G {target.destination}`)", EXIT_SSH
        )
    if not banner.startswith("SSH-"):
        return fail(name, f"{where} answers, but not as an ssh server ({banner[:40]!r})", "check the port", EXIT_SSH)
    return ok(name, f"{where} ({banner})")


def host_key(target: ssh.Target, connection: SSHError | None) -> Check:
    name = "host key known"
    if connection is not None and connection.kind == "host_key_changed":
        return fail(name, "the host key does NOT match your known_hosts", connection.hint, EXIT_SSH)
    known = direct.known_host(target)
    if connection is not None and connection.kind == "host_key_unknown":
        return fail(
            name,
            "not in your known_hosts",
            f"connect once with `ssh {target.destination}`, check the fingerprint and accept it",
            EXIT_SSH,
        )
    if known:
        return ok(name, "in known_hosts")
    strict = target.options.get("stricthostkeychecking", "ask")
    return warn(
        name,
        f"not found in known_hosts (StrictHostKeyChecking {strict}: ssh accepted it)",
        "make sure it is the host you mean: `ssh-keygen -lF HOST`",
    )


def authentication(target: ssh.Target, connection: SSHError | None) -> Check:
    name = "authentication"
    if connection is None:
        return ok(name, f"logged in as {target.user or 'you'} without a prompt")
    if connection.kind == "auth":
        return fail(
            name,
            "no key or agent identity is accepted (a password alone is not enough here)",
            "run `remotebook init` to make a key and install it, or check `ssh -v " + target.destination + "`",
            EXIT_SSH,
        )
    return fail(name, connection.message, connection.hint, EXIT_SSH)


def multiplexing(target: ssh.Target, reused: int | None) -> Check:
    name = "multiplexing"
    pid = mux.master_pid(target)
    if pid is None:
        return fail(
            name,
            "ssh kept no control master",
            "the control dir must be on a local filesystem; check ControlPath/ControlMaster in your ssh config",
            EXIT_SSH,
        )
    return ok(name, f"one master (pid {pid}) carries every command" + (" (already running)" if reused else ""))


def through_forward(target: ssh.Target, endpoint: str) -> tuple[str, str]:
    """Forward a free local port to ENDPOINT over the master, as `up` does, and read the listener's greeting.

    (what came through, what the master logged meanwhile): sshd refuses a channel only
    when one opens, so a forward that was added is no proof until a connection crosses it.
    """
    from remotebook.connection import tunnel

    spec = tunnel.forward_spec(tunnel.free_port(), endpoint)
    offset = target.log_size()
    try:
        mux.forward(target, spec)
    except RemotebookError as e:
        return "", e.message
    try:
        with socket.create_connection((tunnel.LOOPBACK, int(spec.split(":")[1])), timeout=PROBE_TIMEOUT) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            got = sock.recv(64).decode("ascii", "replace")
    except OSError as e:
        got = f"({e})"
    finally:
        mux.cancel(target, spec)
    return got, target.log_since(offset)


def forwarding(name: str, probe: tuple[str, str] | None) -> Check:
    """What a connection through a forward to the doctor's listener got: its greeting, a refusal, or an error."""
    if probe is None:
        return Check(name, "skip", "no python on the remote to listen with")
    got, master_log = probe
    if "remotebook-doctor" in got:
        return ok(name, "allowed (a test connection went through)")
    tcp = name.startswith("TCP")
    if "administratively prohibited" in master_log or "open failed" in master_log:
        what = "AllowTcpForwarding" if tcp else "AllowStreamLocalForwarding"
        fix = "ask the admin to allow forwarding for your user, or use another login node"
        if not tcp:
            fix = 'set transport = "tcp" in the profile if TCP forwarding is allowed; ' + fix
        return fail(name, f"refused by the ssh server ({what} is off for you)", fix, EXIT_TUNNEL)
    shown = (master_log.strip().splitlines() or [got or "no answer"])[-1][:200]
    return fail(
        name, f"the test connection failed: {shown}", "run `remotebook doctor -v` to see ssh's messages", EXIT_TUNNEL
    )


def local_rsync_version() -> str:
    """The local rsync's version, or why there is none that will do."""
    from remotebook.sync import rsync

    try:
        exe = rsync.local_rsync()
    except RemotebookError as e:
        return e.message
    from remotebook.sync.rsync_text import parse_version

    version = parse_version(proc.run([exe, "--version"], timeout=10).stdout)
    return ".".join(map(str, version or ()))


def run(
    target: ssh.Target,
    values: Mapping[str, str],
    *,
    app: str,
    uses_slurm: bool = False,
    close_master: Callable[[], object] = lambda: None,
) -> tuple[list[Check], SSHError | None]:
    """The checks in ORDER (Slurm last); close_master runs when this call made the master."""
    from remotebook.remote.door import Request, call

    first = reachable(target)
    if first.status == "fail":
        return [first, *skipped(ORDER[1:], "not run: the host was not reached")], None
    reused = mux.master_pid(target)
    before = time.time()
    connection: SSHError | None = None
    try:
        answer = call(target, Request("doctor", "check", values), timeout=SCRIPT_TIMEOUT, batch=True, persist=PERSIST)
    except SSHError as e:
        connection = e
    after = time.time()
    if connection is not None:
        if connection.kind in CONNECT_KINDS:
            first = fail("ssh reachable", connection.message, connection.hint, EXIT_SSH)
            return [first, *skipped(ORDER[1:], "not run: the host was not reached")], connection
        keys = host_key(target, connection)
        auth = (
            authentication(target, connection)
            if keys.status != "fail"
            else Check("authentication", "skip", "not run: the host key was refused")
        )
        return [first, keys, auth, *skipped(ORDER[3:], "not run: not logged in")], connection
    try:
        checks = [first, host_key(target, None), authentication(target, None), multiplexing(target, reused)]
        checks += probes(target, answer.data)
        checks += remote_checks(
            answer, app=app, local_rsync=local_rsync_version(), local_mid=(before + after) / 2, uses_slurm=uses_slurm
        )
    finally:
        if reused is None:
            close_master()
    return checks, None


def probes(target: ssh.Target, data: Mapping[str, Any]) -> list[Check]:
    """TCP and unix-socket forwarding, each proven by one connection to the doctor's listener."""
    port, sock = str(data.get("listen_port", "")), str(data.get("listen_sock", ""))
    tcp = through_forward(target, f"127.0.0.1:{port}") if port.isdigit() else None
    unix = through_forward(target, sock) if port.isdigit() and sock else None
    return [forwarding("TCP forwarding", tcp), forwarding("unix-socket forwarding", unix)]


def report(target_name: str, destination: str, checks: list[Check], started: float) -> DoctorReport:
    return DoctorReport(target_name, destination, tuple(checks), time.monotonic() - started)
