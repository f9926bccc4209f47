"""The local side of the tunnel: pick a port, add the forward, wait until Jupyter answers through it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remotebook.connection import failures, mux, ssh
from remotebook.core import proc
from remotebook.core.deadline import poll
from remotebook.core.errors import ServerError, TunnelError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 15.0
POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class PortChoice:
    port: int
    wanted: int | None  # the port asked for, when we could not have it


def port_is_free(port: int) -> bool:
    """Could ssh listen there? Like ssh, with SO_REUSEADDR: old connections in TIME_WAIT don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def choose_port(wanted: int | None, *, strict: bool) -> PortChoice:
    """The wanted port if free; else a free one, unless the user insisted (`--port`)."""
    if wanted is None:
        return PortChoice(free_port(), None)
    if port_is_free(wanted):
        return PortChoice(wanted, None)
    if strict:
        raise TunnelError(
            f"local port {wanted} is already in use on this computer",
            hint="choose another with --port, or leave it out to get a free one",
        )
    return PortChoice(free_port(), wanted)


def forward_spec(local_port: int, endpoint: str) -> str:
    """`-L` spec from loopback to a remote unix socket or 127.0.0.1:PORT (loopback only)."""
    return f"{LOOPBACK}:{local_port}:{endpoint}"


def add_forward(target: ssh.Target, choice: PortChoice, endpoint: str, *, strict: bool) -> PortChoice:
    """Add the forward; if another program grabbed a free port meanwhile, try once more."""
    try:
        mux.forward(target, forward_spec(choice.port, endpoint))
        return choice
    except TunnelError:
        if strict or port_is_free(choice.port):
            raise
    retry = PortChoice(free_port(), choice.wanted or choice.port)
    mux.forward(target, forward_spec(retry.port, endpoint))
    return retry


def api_status(port: int, token: str, timeout: float = 2.0, path: str = "/api/status") -> int:
    """HTTP status of GET `path` through the forward (0 when nothing answered); token "" sends none."""
    return parse_status_line(_get(port, token, path, timeout, status_only=True) or b"")


def refuses_anonymous(port: int, timeout: float = 5.0) -> bool:
    """Does the server refuse an API request that carries no token? (It must: auth is on.)

    /api/kernels needs authentication in every jupyter_server; 401/403 (or a redirect
    to a login page) is a refusal, 200 means anyone who reaches the port is let in.
    """
    status = api_status(port, "", timeout=timeout, path="/api/kernels")
    return status != 200


def api_get(port: int, token: str, path: str, timeout: float = 3.0) -> tuple[int, Any]:
    """GET a Jupyter API path through the forward: (status, parsed JSON body or None)."""
    data = _get(port, token, path, timeout, status_only=False)
    if data is None:
        return 0, None
    head, _, body = data.partition(b"\r\n\r\n")
    status = parse_status_line(head)
    try:
        return status, json.loads(body) if status == 200 else None
    except ValueError:
        return status, None


@dataclass(frozen=True)
class Probe:
    """One GET /api/status through the forward, as the supervisor judges it."""

    status: int  # the HTTP status; 0: nothing answered
    elapsed: float  # seconds until the answer (or the give-up)
    timed_out: bool  # connected, but no answer in time: a slow (or stopped) server, or a stalled link


def probe(port: int, token: str, timeout: float) -> Probe:
    """GET /api/status (token "" sends none), telling a timeout from a refusal or a closed channel."""
    started = time.monotonic()
    try:
        data = _exchange(port, token, "/api/status", timeout, status_only=True)
    except TimeoutError:
        return Probe(0, time.monotonic() - started, True)
    except OSError:
        return Probe(0, time.monotonic() - started, False)
    return Probe(parse_status_line(data), time.monotonic() - started, False)


def _get(port: int, token: str, path: str, timeout: float, *, status_only: bool) -> bytes | None:
    try:
        return _exchange(port, token, path, timeout, status_only=status_only)
    except OSError:
        return None


def _exchange(port: int, token: str, path: str, timeout: float, *, status_only: bool) -> bytes:
    """Just enough HTTP over a socket (http.client, with the email and ssl modules it pulls in,
    would double start-up time). HTTP/1.0: the server closes after one response, never chunked.
    status_only stops reading at the end of the status line."""
    auth = f"Authorization: token {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.0\r\nHost: {LOOPBACK}:{port}\r\n{auth}\r\n"
    data = b""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
        conn.sendall(request.encode())
        while len(data) < 4_000_000 and not (status_only and b"\r\n" in data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def listened_by(pid: int, port: int) -> bool | None:
    """Is 127.0.0.1:`port` a listening socket of process `pid`? None where this cannot be told.

    Before a token goes to a saved port, this proves the listener is our ssh master and
    not some program that took the port after our forward died. Linux: the socket's inode
    from /proc/net/tcp among the master's fds; elsewhere lsof, if it is there. The kernel
    spends milliseconds writing /proc/net/tcp, and the supervisor and the live view ask
    every few seconds: while the inode found last time is still an fd of `pid`, that
    socket is still open, so still bound to the port, and the table is not read again.
    """
    known = _LISTENERS.get((pid, port))
    if known is not None and known in _socket_inodes(pid):
        return True
    _LISTENERS.pop((pid, port), None)
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return _listened_by_lsof(pid, port)
    held = listening_inodes(table, port) & _socket_inodes(pid)
    if held:
        _LISTENERS[(pid, port)] = min(held)
    return bool(held)


_LISTENERS: dict[tuple[int, int], str] = {}  # (pid, port) -> the inode of the listener found there last


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets among a process's fds (empty if it is gone)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    found = set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found


def listening_inodes(table: str, port: int) -> set[str]:
    """Inodes of sockets in /proc/net/tcp that LISTEN (state 0A) on 127.0.0.1:`port`."""
    wanted = f"0100007F:{port:04X}"
    out = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[1] == wanted and fields[3] == "0A":
            out.add(fields[9])
    return out


def _listened_by_lsof(pid: int, port: int) -> bool | None:
    if shutil.which("lsof") is None:
        return None
    argv = ["lsof", "-nP", "-a", "-p", str(pid), f"-iTCP@{LOOPBACK}:{port}", "-sTCP:LISTEN", "-t"]
    return str(pid) in proc.run(argv, timeout=10).stdout.split()


def held_by_master(pid: int, port: int) -> bool:
    """The port is a listener of the master `pid`, or this system cannot tell (then the master's word is taken)."""
    return listened_by(pid, port) is not False


def forward_is_ours(control_path: str, port: int) -> bool:
    """The saved port is held by the live master of that control socket (where it can be told)."""
    pid = mux.mux_pid(control_path)
    return pid is not None and held_by_master(pid, port)


def parse_status_line(head: bytes) -> int:
    """`HTTP/1.1 200 OK` -> 200; anything else -> 0."""
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


def wait_ready(target: ssh.Target, port: int, token: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll /api/status through the forward until 200, against a deadline."""
    log_offset = target.log_size()

    def answered() -> bool | None:
        status = api_status(port, token)
        if status in (401, 403):
            raise ServerError(
                f"Jupyter refused remotebook's token (HTTP {status})",
                hint="stop it with `remotebook down --server`, then `up` again",
            )
        if status == 0:
            # The remote said the server listens, so a dead connection is most likely
            # sshd refusing the channel; the master says so in its log.
            refused = failures.forward_refused(target.log_since(log_offset))
            if refused:
                raise refused
        return True if status == 200 else None

    if not poll(answered, timeout=timeout, interval=POLL_INTERVAL):
        raise TunnelError(f"no answer from Jupyter through the forward on port {port} within {timeout:.0f}s")
