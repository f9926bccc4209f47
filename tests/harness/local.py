"""The local side of a harness run, shared by the integration tests and the benches.

* `machine_lock()`: one harness per machine at a time (its unix users and their homes are machine-wide);
* `remotebook_env()`: the environment that points a `remotebook` process at the harness and at
  private state, config and runtime dirs;
* what a run leaves behind, seen from `ps` and /proc: the ssh processes on a control dir (masters and
  clients) and the `remotebook _supervise` processes of a state dir.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.harness.remote_host import HarnessError, RemoteHost

LOCK_PATH = Path("/run/remotebook-harness.lock")
LOCK_POLL = 0.5  # waiting for another run to finish, not for readiness


class LockTimeout(HarnessError):
    """Another harness run held the machine lock for longer than we were willing to wait."""


@contextlib.contextmanager
def machine_lock(timeout: float = 3600.0, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the machine-wide harness lock (flock on LOCK_PATH) for the block; wait at most `timeout` s for it.

    `on_wait` is called once if the lock is busy (to say that we wait). The fd is not inherited by
    children (Python opens it close-on-exec), so a daemon started inside the block does not keep it.
    """
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        for attempt in range(int(timeout / LOCK_POLL) + 2):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another harness held {LOCK_PATH} for {timeout:.0f} s") from None
                if attempt == 0 and on_wait is not None:
                    on_wait()
                time.sleep(LOCK_POLL)
        else:
            raise LockTimeout(f"another harness held {LOCK_PATH} for {timeout:.0f} s")
        yield
    finally:
        os.close(fd)


def remotebook_env(
    host: RemoteHost, state: Path, runtime: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` (default: os.environ) plus what points remotebook at the harness and at private dirs.

    `runtime` holds the ssh control sockets: keep its path short (sockaddr_un), e.g. under /tmp.
    """
    return {
        **(os.environ if base is None else base),
        "REMOTEBOOK_SSH_CONFIG": str(host.ssh_config),
        "REMOTEBOOK_STATE_DIR": str(state),
        "REMOTEBOOK_CONFIG_DIR": str(state / "config"),
        "REMOTEBOOK_RUNTIME_DIR": str(runtime),
        "BROWSER": "true",  # never start a real browser
    }


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One line of `ps -eo pid,stat,args`."""

    pid: int
    stat: str
    args: str

    def __str__(self) -> str:
        return f"{self.pid} {self.stat} {self.args}"

    @property
    def zombie(self) -> bool:
        return self.stat.startswith("Z")


def processes() -> list[Proc]:
    """Every process on the machine, with its full argv (`ps -ww`)."""
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    found = []
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            found.append(Proc(int(parts[0]), parts[1], parts[2]))
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def ssh_processes(control_dir: Path) -> list[Proc]:
    """Live ssh processes whose argv names `control_dir` (masters and clients on its control sockets)."""
    marker = str(control_dir)
    return [p for p in processes() if marker in p.args and "ssh" in p.args and not p.zombie]


def is_master(proc: Proc) -> bool:
    """remotebook's master (`ssh -f -N -o ControlMaster=yes`) or a backgrounded ControlPersist `[mux]`."""
    return "[mux]" in proc.args or "ControlMaster=yes" in proc.args


def masters(control_dir: Path) -> list[Proc]:
    return [p for p in ssh_processes(control_dir) if is_master(p)]


def ssh_clients(control_dir: Path) -> list[Proc]:
    """ssh processes on `control_dir` that are not masters (what a finished command must not leave)."""
    return [p for p in ssh_processes(control_dir) if not is_master(p)]


def supervisors(state_dir: Path) -> list[int]:
    """Pids of live `remotebook _supervise` processes whose REMOTEBOOK_STATE_DIR is exactly `state_dir`."""
    marker = f"REMOTEBOOK_STATE_DIR={state_dir}\0".encode()
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            if b"_supervise" in (proc_dir / "cmdline").read_bytes() and marker in (proc_dir / "environ").read_bytes():
                found.append(int(proc_dir.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]
