"""The shared ControlMaster of a destination: is it there, start it under the host lock, add and cancel forwards, close it."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from remotebook.connection.ssh import MASTER_TIMEOUT, MUX_TIMEOUT, Target, connecting, master_options
from remotebook.core import proc
from remotebook.core.errors import CommandError, SSHError, TunnelError, last_line
from remotebook.local.state import locked_file

log = logging.getLogger(__name__)


def master_alive(target: Target) -> bool:
    return master_pid(target) is not None


def master_pid(target: Target) -> int | None:
    """The pid of the live master on our control socket (`ssh -O check`), or None."""
    return mux_pid(target.control_path)


_MASTER_RUNNING = re.compile(r"Master running \(pid=(\d+)\)")


def mux_pid(control_path: str) -> int | None:
    """`ssh -O check` on a control socket alone: no ssh config is read (its Match exec never runs)."""
    if not control_path or not Path(control_path).exists():
        return None  # no socket, no master: spare the mux round trip
    argv = ["ssh", "-F", "/dev/null", "-o", f"ControlPath={control_path}", "-O", "check", "--", "remotebook"]
    result = proc.run(argv, timeout=MUX_TIMEOUT)
    return parse_check(result.stderr) if result.ok else None


def still_master(pid: int, control_path: str) -> bool:
    """Is `pid` (found by `-O check` earlier) still the live master of this control socket? /proc only, no process.

    False where /proc cannot tell (then ask `-O check` again): a recycled pid is not ours,
    since a master's argv (or its `[mux]` title) names its control path.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return control_path.encode() in cmdline and Path(control_path).exists()


def parse_check(stderr: str) -> int | None:
    """`Master running (pid=4242)` -> 4242."""
    found = _MASTER_RUNNING.search(stderr)
    return int(found.group(1)) if found else None


@contextlib.contextmanager
def host_lock(target: Target, timeout: float = MASTER_TIMEOUT + 30) -> Iterator[None]:
    """One process at a time creates or closes the master of a destination on this computer.

    Without it, two supervisors rebuilding after a drop could each make a master, and the
    second's stale-socket clean-up could unlink the first's live socket.
    """

    def busy() -> SSHError:
        return SSHError(
            f"another remotebook has been connecting to {target.destination} for {timeout:.0f}s",
            hint="answer its password prompt, or stop it",
        )

    with locked_file(Path(target.control_path + ".lock"), timeout, busy):
        yield


def ensure_master(target: Target, *, batch: bool = False) -> bool:
    """Start the ControlMaster for this destination unless one runs; True if this call made it.

    Call it holding `host_lock`. `ssh -f` returns once the master is authenticated and
    its control socket listens (OpenSSH listens before it forks), so every later call
    rides it: one handshake, one password or 2FA prompt, for every project on the host.
    """
    if master_alive(target):
        return False
    remove_stale_control_path(target)
    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] if batch else []
    extra += ["-o", "ControlMaster=yes", *master_options(target)[2:]]
    argv = target.argv(*extra, "-E", str(target.log_path), "-f", "-N", "-T", "--", target.destination)
    connecting(target, argv, timeout=MASTER_TIMEOUT, own_exit=True)
    return True


def link_alive(target: Target, *, timeout: float) -> bool:
    """Does the master's connection still carry traffic? (`-O check` asks only the local process.)"""
    argv = target.argv("-o", "ControlMaster=no", "-o", "BatchMode=yes", "-T", "--", target.destination, "true")
    try:
        return proc.run(argv, timeout=timeout).ok
    except CommandError:
        return False


def remove_stale_control_path(target: Target) -> None:
    """A control socket left by a dead master would make ssh skip multiplexing: remove it.

    Only called when `-O check` found no master; the path is in our private runtime dir.
    """
    path = Path(target.control_path)
    if path.exists() or path.is_symlink():
        log.debug("removing stale control path %s", path)
        path.unlink(missing_ok=True)


def forward(target: Target, spec: str) -> None:
    """Add a local forward (`127.0.0.1:PORT:DEST`) to the running master."""
    result = proc.run(target.argv("-O", "forward", "-L", spec, "--", target.destination), timeout=MUX_TIMEOUT)
    if not result.ok:
        raise TunnelError(
            f"ssh could not add the forward {spec.split(':', 2)[1]}: {last_line(result.stderr) or 'unknown error'}",
            hint="the local port may be in use; pick another with --port",
        )


def cancel(target: Target, spec: str) -> bool:
    result = proc.run(target.argv("-O", "cancel", "-L", spec, "--", target.destination), timeout=MUX_TIMEOUT)
    return result.ok


def exit_master(target: Target) -> bool:
    result = proc.run(target.argv("-O", "exit", "--", target.destination), timeout=MUX_TIMEOUT)
    target.log_path.unlink(missing_ok=True)
    return result.ok
