"""How fast `remotebook up` puts a remote Jupyter within reach, side by side with doing it by hand.

`.venv/bin/python -m bench.bench_up [--runs N] [--cold-runs M]` from the repo root, as root: it starts
the throwaway remote of tests/harness (real sshd in a network namespace, user rbtest with JupyterLab
on its login PATH) and measures, in one run and interleaved so that drift hits all sides alike:

* `remotebook up rbremote --detach --no-browser --json` until GET /api/status answers 200 through the
  forward: cold (no server, no ssh master) and warm (server running, no master);
* the same by hand with plain OpenSSH, cold (one ssh starts Jupyter detached, then `ssh -N -L`, poll)
  and warm (`ssh -N -L`, poll), and one bare `ssh rbremote true`;
* `remotebook status rbremote` with a live master, and `remotebook --help`.

It prints Markdown tables (timings with goals and ratios, peak RSS, where the time of `up` goes) on
stdout and progress on stderr.  Timings are reported, never asserted.  The harness is always stopped
and no ssh or Jupyter process of this run is left behind.  Every wait has a deadline, every loop a bound.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.remote_host import (
    JUPYTER_USER,
    JUPYTER_VENV,
    HarnessError,
    HarnessUnavailable,
    RemoteHost,
    start_remote_host,
)

ALIAS = "rbremote"
PROJECT = "benchproj"  # the local project folder; remotebook serves ~/benchproj on the remote
POLL_INTERVAL = 0.02  # the same interval as remotebook's own readiness poll (tunnel.POLL_INTERVAL)
READY_DEADLINE = 60.0  # by hand: how long to poll for the first 200
AFTER_UP_DEADLINE = 15.0  # `up` returned: the forward must answer at once
COMMAND_TIMEOUT = 120.0  # any one remotebook/ssh command
ATTEMPTS = 3  # tries per sample; a failed try is retried after a reset (another harness may interfere)
QUIET_WAIT = 600.0  # how long to wait for a concurrent pytest to finish
QUIET_POLL = 5.0
MAX_RUNS = 100

GOAL_COLD_RATIO = 1.15  # cold up / by hand, cold
GOAL_WARM_RATIO = 1.5  # warm up / bare ssh
GOAL_STATUS_S = 0.25
GOAL_HELP_S = 0.15


class MeasureError(RuntimeError):
    """One sample could not be taken (a command failed, or no 200 before the deadline)."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# timing primitives
# --------------------------------------------------------------------------


@dataclass
class Ran:
    """A finished child: its output, its run time (spawn to exit) and its peak RSS."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    started: float  # perf_counter() right before the spawn
    started_wall: float  # time.time() at the same moment, to line up with log timestamps
    seconds: float
    rss_kb: int  # 0 unless measured (rss=True)

    def why(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-3:]
        return f"`{' '.join(self.argv[:4])} ...` exited {self.returncode}: {' | '.join(tail) or '(no output)'}"


def _signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(pid: int) -> None:
    """SIGINT to the child's process group (remotebook then stops its own ssh), then SIGKILL; reap it."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        _signal_group(pid, sig)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    time.sleep(0.02)
                    continue
            return


TIME = "/usr/bin/time"  # GNU time: -f %M is the child's peak RSS in KiB


def run_timed(
    argv: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None, rss: bool = False
) -> Ran:
    """Run argv to exit, timed from just before the spawn to the moment it is reaped.

    Output goes to temporary files, not pipes: an ssh that backgrounds itself (ControlPersist) holding a
    pipe would otherwise keep us waiting.  The wait blocks in wait4(), so no polling delay is added.
    The child gets its own process group; at `timeout`, or if we are interrupted, the group gets SIGINT
    and then SIGKILL.  With rss=True the command runs under GNU time for its peak RSS: the child's own
    ru_maxrss would include the pages of this (forking) Python process, which exec() carries over into
    the high-water mark.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as rssf:
        wrapped = rss and os.access(TIME, os.X_OK)
        full = [TIME, "-f", "%M", "-o", rssf.name, *argv] if wrapped else argv
        wall, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            full, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
        )
        timers = [
            threading.Timer(timeout, _signal_group, [proc.pid, signal.SIGINT]),
            threading.Timer(timeout + 5, _signal_group, [proc.pid, signal.SIGKILL]),
        ]
        for timer in timers:
            timer.daemon = True
            timer.start()
        try:
            _, status = os.waitpid(proc.pid, 0)
        except BaseException:  # Ctrl-C: never leave the child behind
            _stop_group(proc.pid)
            proc.returncode = -1
            raise
        finally:
            for timer in timers:
                timer.cancel()
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        err.seek(0)
        rss_kb = 0
        if wrapped:
            numbers = [x for x in Path(rssf.name).read_text(errors="replace").split() if x.isdigit()]
            rss_kb = int(numbers[-1]) if numbers else 0
        return Ran(
            argv=list(argv),
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            started=t0,
            started_wall=wall,
            seconds=elapsed,
            rss_kb=rss_kb,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_status(port: int, token: str, timeout: float = 2.0) -> int:
    """HTTP status of GET /api/status on 127.0.0.1:port (0 when nothing answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/api/status", headers={"Authorization": f"token {token}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def poll_200(port: int, token: str, deadline: float, alive: Callable[[], bool] | None = None) -> float | None:
    """perf_counter() of the first 200 on /api/status; None at the deadline or once `alive()` says no."""
    end = time.perf_counter() + deadline
    for _ in range(int(deadline / POLL_INTERVAL) + 2):  # each round takes >= POLL_INTERVAL
        if api_status(port, token) == 200:
            return time.perf_counter()
        if (alive is not None and not alive()) or time.perf_counter() >= end:
            return None
        time.sleep(POLL_INTERVAL)
    return None


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL, each with a bounded wait."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        _signal_pid(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def wait_quiet(limit: float = QUIET_WAIT) -> None:
    """Wait (bounded) while a pytest runs here: it would start its own harness on the same unix users."""
    deadline = time.monotonic() + limit
    announced = False
    for _ in range(int(limit / QUIET_POLL) + 2):
        found = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True, text=True, timeout=10).stdout.split()
        others = [p for p in found if int(p) not in (os.getpid(), os.getppid())]
        if not others:
            if announced:
                say("pytest finished; going on")
            return
        if time.monotonic() >= deadline:
            say(f"pytest still running after {limit:.0f} s (pids {' '.join(others)}); going on anyway")
            return
        if not announced:
            say(f"pytest is running (pids {' '.join(others)}); waiting up to {limit:.0f} s")
            announced = True
        time.sleep(QUIET_POLL)


# --------------------------------------------------------------------------
# where the time of `up` goes: remotebook's own DEBUG log
# --------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\d+) \S+ \w+ (.*)$")
EXIT_LINE = re.compile(r"^exit (-?\d+) in ([0-9.]+)s: ")

PHASE_START = "start-up: interpreter, imports, config (spawn to first log line)"
PHASE_REST = "rest: Python between calls, readiness poll through the forward, state file, exit, bench's GET"


def _ssh_kind(argv: str) -> str:
    if " -G " in argv:
        return "`ssh -G` (resolve the alias)"
    for op in ("check", "forward", "cancel", "exit"):
        if f"-O {op} " in argv:
            return f"`ssh -O {op}`"
    if "ControlMaster=auto" in argv:
        return "ssh session: handshake, login shell, bootstrap (find or start Jupyter)"
    return "other ssh"


def up_phases(logfile: Path, ran: Ran, total: float) -> dict[str, float]:
    """Split one `up` into start-up, each ssh call (as remotebook logged it), and the rest."""
    try:
        lines = logfile.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    first: float | None = None
    pid: str | None = None  # remotebook's pid: the first one to log after the spawn (runs are sequential)
    pending: str | None = None
    phases: dict[str, float] = {}
    for line in lines:
        m = LOG_LINE.match(line)
        if m is None or (pid is not None and m.group(2) != pid):
            continue
        stamp = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if stamp < ran.started_wall:
            continue  # an earlier run
        if first is None:
            first, pid = stamp, m.group(2)
        message = m.group(3)
        if message.startswith("run: "):
            pending = _ssh_kind(message[5:] + " ")
        elif pending and (e := EXIT_LINE.match(message)):
            phases[pending] = phases.get(pending, 0.0) + float(e.group(2))
            pending = None
    if first is None:
        return {}
    out = {PHASE_START: max(0.0, first - ran.started_wall), **phases}
    out[PHASE_REST] = max(0.0, total - sum(out.values()))
    return out


# --------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    rss_kb: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    round: int = -1  # samples of one interleaved round are paired for the ratios


def remotebook_argv() -> list[str]:
    """The `remotebook` console script of this venv (what a user types), else `python -m remotebook`."""
    script = Path(sys.executable).parent / "remotebook"
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "remotebook"]


class Bench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path) -> None:
        self.host = host
        self.work = work
        self.runtime = runtime
        self.project = work / PROJECT
        self.project.mkdir(exist_ok=True)
        self.state = work / "state"
        self.cfg = str(host.ssh_config)
        self.rb_argv = remotebook_argv()
        # Bytecode is cached as for an installed package, but under our temp dir, not in the source tree
        # (this machine may set PYTHONDONTWRITEBYTECODE, and an editable install has no .pyc of its own).
        inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        self.env = {
            **inherited,
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            "REMOTEBOOK_SSH_CONFIG": self.cfg,
            "REMOTEBOOK_STATE_DIR": str(self.state),
            "REMOTEBOOK_CONFIG_DIR": str(self.state / "config"),
            "REMOTEBOOK_RUNTIME_DIR": str(runtime),
            "BROWSER": "true",
        }
        self.remote_home = str(host.home(JUPYTER_USER))
        self.hand_ports: set[int] = set()  # remote ports of Jupyters started by hand (for the leftover sweep)
        self.warm_rport = self.new_rport()
        self.tunnels: list[subprocess.Popen[bytes]] = []
        self.results: dict[str, list[Sample]] = {}
        self.failed: dict[str, list[str]] = {}

    # ---- helpers -----------------------------------------------------------

    def rb(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Ran:
        return run_timed([*self.rb_argv, *args], timeout=timeout, env=self.env, cwd=self.project, rss=True)

    def ssh(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Ran:
        return run_timed(["ssh", "-F", self.cfg, *args], timeout=timeout)

    def new_rport(self) -> int:
        port = secrets.SystemRandom().randint(20000, 29999)  # inside the namespace nothing else listens
        self.hand_ports.add(port)
        return port

    def close_masters(self) -> None:
        for sock in sorted(self.runtime.glob("cm-*")):
            if sock.suffix == ".log":
                continue
            subprocess.run(
                ["ssh", "-F", self.cfg, "-o", f"ControlPath={sock}", "-O", "exit", ALIAS],
                capture_output=True,
                timeout=15,
                stdin=subprocess.DEVNULL,
            )

    def remote_jupyters(self, marker: str) -> list[str]:
        """Jupyter *servers* of rbtest whose argv contains marker (not JupyterLab's short-lived helpers)."""
        return [
            line
            for line in self.host.ps().splitlines()
            if line.startswith(JUPYTER_USER) and "jupyter" in line and "--no-browser" in line and marker in line
        ]

    def rb_server_marker(self) -> str:
        return f"--ServerApp.root_dir={self.remote_home}/{PROJECT}"

    def go_cold(self) -> None:
        """No ssh master, no Jupyter, fresh remote home and no local state of an earlier `up`."""
        self.rb("down", ALIAS, timeout=60)
        self.close_masters()
        self.host.reset()
        shutil.rmtree(self.state / "projects", ignore_errors=True)
        left = self.remote_jupyters("jupyter")
        if left:
            raise MeasureError(f"Jupyter survived host.reset(): {left}")

    def open_tunnel(self, rport: int) -> tuple[int, subprocess.Popen[bytes]]:
        lport = free_port()
        proc = subprocess.Popen(
            ["ssh", "-F", self.cfg, "-N", "-L", f"127.0.0.1:{lport}:127.0.0.1:{rport}", ALIAS],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.tunnels.append(proc)
        return lport, proc

    def close_tunnels(self) -> None:
        for proc in self.tunnels:
            stop_proc(proc)
        self.tunnels.clear()

    def hand_start(self, rport: int, token: str) -> Ran:
        """The by-hand start: one ssh that launches Jupyter detached on the remote's 127.0.0.1 and returns."""
        # The braces matter: `a && b && c &` would background the whole list in a subshell that keeps
        # ssh's stdout open, and ssh would not return until Jupyter exits.
        inner = (
            f"mkdir -p ~/{PROJECT} && cd ~/{PROJECT} && {{ JUPYTER_TOKEN={token} nohup jupyter lab --no-browser"
            f" --ip=127.0.0.1 --port={rport} --ServerApp.port_retries=0 >jupyter.log 2>&1 </dev/null & }}"
        )
        return self.ssh(ALIAS, "bash -lc " + shlex.quote(inner), timeout=60)

    def hand_reach(self, rport: int, token: str) -> float:
        """`ssh -N -L` in the background, poll through it until 200; the perf_counter() of that 200."""
        lport, proc = self.open_tunnel(rport)
        try:
            t = poll_200(lport, token, READY_DEADLINE, alive=lambda: proc.poll() is None)
        finally:
            self.close_tunnels()
        if t is None:
            raise MeasureError(
                f"by hand: no 200 through 127.0.0.1:{lport} -> remote :{rport} (ssh -N rc {proc.poll()})"
            )
        return t

    def up_to_200(self, *, expect_started: bool) -> Sample:
        ran = self.rb("up", ALIAS, "--detach", "--no-browser", "--json")
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        try:
            report = json.loads(ran.stdout)
            port, token, started = report["local_port"], report["token"], report["server"]["started"]
        except (ValueError, KeyError, TypeError) as e:
            raise MeasureError(f"unexpected `up --json` output ({e}): {ran.stdout[:300]!r}") from None
        t = poll_200(port, token, AFTER_UP_DEADLINE)
        if t is None:
            raise MeasureError(f"`up` returned but 127.0.0.1:{port} does not answer 200")
        if started != expect_started:
            what = "started a server" if started else "found a server running"
            raise MeasureError(f"`up` {what}, which this measurement did not set up")
        total = t - ran.started
        return Sample(total, ran.rss_kb, up_phases(self.state / "remotebook.log", ran, total))

    # ---- the samples -------------------------------------------------------

    def cold_up(self) -> Sample:
        self.go_cold()
        return self.up_to_200(expect_started=True)

    def warm_up(self) -> Sample:
        if not self.remote_jupyters(self.rb_server_marker()):
            ran = self.rb("up", ALIAS, "--detach", "--no-browser", "--json")  # start the server, untimed
            if ran.returncode != 0:
                raise MeasureError(ran.why())
        down = self.rb("down", ALIAS, timeout=60)  # no --server: only the forward and the master go
        if down.returncode != 0:
            raise MeasureError(down.why())
        return self.up_to_200(expect_started=False)

    def cold_by_hand(self) -> Sample:
        self.go_cold()
        rport, token = self.new_rport(), secrets.token_hex(16)
        try:
            first = self.hand_start(rport, token)
            if first.returncode != 0:
                raise MeasureError(first.why())
            t = self.hand_reach(rport, token)
        finally:
            self.close_tunnels()
        total = t - first.started
        return Sample(
            total,
            phases={
                "ssh that starts Jupyter detached (returns at once)": first.seconds,
                "`ssh -N -L` + poll until 200 (mostly Jupyter starting)": total - first.seconds,
            },
        )

    def ensure_hand_server(self) -> str:
        """The warm by-hand Jupyter (fixed remote port, fixed token); started untimed if missing."""
        token = "bench" + str(self.warm_rport)  # noqa: S105 - a throwaway token on a throwaway host
        if not self.remote_jupyters(f"--port={self.warm_rport} "):
            first = self.hand_start(self.warm_rport, token)
            if first.returncode != 0:
                raise MeasureError(first.why())
            self.hand_reach(self.warm_rport, token)
        return token

    def warm_by_hand(self) -> Sample:
        token = self.ensure_hand_server()
        t0 = time.perf_counter()
        t = self.hand_reach(self.warm_rport, token)
        return Sample(t - t0)

    def bare_ssh(self) -> Sample:
        ran = self.ssh(ALIAS, "true", timeout=60)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds)

    def ensure_up(self) -> None:
        ran = self.rb("up", ALIAS, "--detach", "--no-browser", "--json")  # quick when already up
        if ran.returncode != 0:
            raise MeasureError(ran.why())

    def status(self) -> Sample:
        self.ensure_up()  # untimed; after a retry's reset the master and server are gone
        ran = self.rb("status", ALIAS)
        if ran.returncode != 0:  # 8 = not up: then it measured something else
            raise MeasureError(ran.why())
        return Sample(ran.seconds, ran.rss_kb)

    def help(self) -> Sample:
        ran = self.rb("--help")
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds, ran.rss_kb)

    # ---- bookkeeping -------------------------------------------------------

    def sample(self, name: str, take: Callable[[], Sample], round_: int = -1) -> None:
        """One sample of `name`; a failed try is retried (bounded) after waiting for quiet and a reset."""
        self.results.setdefault(name, [])
        for attempt in range(1, ATTEMPTS + 1):
            wait_quiet()
            try:
                s = take()
            except (MeasureError, HarnessError) as e:  # HarnessError: a reset or ps failed
                say(f"{name}: try {attempt}/{ATTEMPTS} failed: {e}")
                self.failed.setdefault(name, []).append(str(e))
                self.close_tunnels()
                wait_quiet()  # reset only once a concurrent pytest is done: it kills every harness user's processes
                with contextlib.suppress(HarnessError):
                    # Also puts our authorized_keys back, should another harness have replaced them.
                    self.host.reset()
                continue
            s.round = round_
            self.results[name].append(s)
            say(f"{name}: {s.seconds:.3f} s")
            return
        say(f"{name}: giving up on this sample")


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

COLD_UP = "`remotebook up` cold → first 200"
COLD_HAND = "by hand, cold → first 200"
WARM_UP = "`remotebook up` warm → first 200"
WARM_HAND = "by hand, warm → first 200"
BARE = "bare `ssh rbremote true`"
STATUS = "`remotebook status` (live master)"
HELP = "`remotebook --help`"
ORDER = (COLD_UP, COLD_HAND, WARM_UP, WARM_HAND, BARE, STATUS, HELP)


def _out(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (p.stdout.strip() or p.stderr.strip() or "?").splitlines()[0]


def machine() -> dict[str, str]:
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    cpu = "?"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            x.split(":", 1)[1].strip()
            for x in Path("/proc/cpuinfo").read_text().splitlines()
            if x.startswith("model name")
        )
    py = str(JUPYTER_VENV / "bin" / "python")
    versions = _out(
        [py, "-c", "import jupyter_server, jupyterlab; print(jupyter_server.__version__, jupyterlab.__version__)"]
    ).split()
    commit = _out(["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"])
    version = "?"
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        version = importlib.metadata.version("remotebook")
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": _out(["uname", "-srm"]),
        "nproc": _out(["nproc"]),
        "cpu": cpu,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssh": _out(["ssh", "-V"]),
        "jupyter_server": versions[0] if versions else "?",
        "jupyterlab": versions[1] if len(versions) > 1 else "?",
        "remotebook": f"{version} (git {commit})",
    }


def stats(samples: list[Sample]) -> tuple[float, float, float] | None:
    if not samples:
        return None
    xs = [s.seconds for s in samples]
    return statistics.median(xs), min(xs), max(xs)


def median_of(results: dict[str, list[Sample]], name: str) -> float | None:
    st = stats(results.get(name, []))
    return st[0] if st else None


def verdict(value: float | None, goal: float, unit: str, spread: str = "") -> str:
    if value is None:
        return "n/a"
    ok = "meets goal" if value <= goal else "**misses goal**"
    return f"{value:.2f}{unit}{spread} — {ok}"


def paired(results: dict[str, list[Sample]], a: str, b: str) -> str:
    """' (pairs lo–hi)': the range of a/b over the rounds in which both were sampled, side by side."""
    by_round = {s.round: s.seconds for s in results.get(b, [])}
    rs = [s.seconds / by_round[s.round] for s in results.get(a, []) if by_round.get(s.round)]
    return f" (pairs {min(rs):.2f}–{max(rs):.2f})" if len(rs) > 1 else ""


def render(info: dict[str, str], results: dict[str, list[Sample]], failed: dict[str, list[str]], args: Any) -> str:
    med = {name: median_of(results, name) for name in ORDER}

    def ratio(a: str, b: str) -> float | None:
        x, y = med[a], med[b]
        return x / y if x is not None and y else None

    warm_hand_ratio = ratio(WARM_HAND, BARE)
    goals = {
        COLD_UP: (
            f"≤ {GOAL_COLD_RATIO} × by hand, cold",
            verdict(ratio(COLD_UP, COLD_HAND), GOAL_COLD_RATIO, " ×", paired(results, COLD_UP, COLD_HAND)),
        ),
        COLD_HAND: ("baseline", "—"),
        WARM_UP: (
            f"≤ {GOAL_WARM_RATIO} × bare ssh",
            verdict(ratio(WARM_UP, BARE), GOAL_WARM_RATIO, " ×", paired(results, WARM_UP, BARE)),
        ),
        WARM_HAND: ("(reference)", f"{warm_hand_ratio:.2f} × bare ssh" if warm_hand_ratio else "n/a"),
        BARE: ("baseline", "—"),
        STATUS: (f"≤ {GOAL_STATUS_S} s", verdict(med[STATUS], GOAL_STATUS_S, " s")),
        HELP: (f"≤ {GOAL_HELP_S} s", verdict(med[HELP], GOAL_HELP_S, " s")),
    }
    lines = [
        f"## remotebook up benchmark — {info['date']}",
        "",
        f"Machine: {info['uname']}, {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; {info['python']}; "
        f"{info['openssh']}; remote Jupyter: jupyter_server {info['jupyter_server']}, JupyterLab {info['jupyterlab']}; "
        f"remotebook {info['remotebook']}, bytecode cached. Remote: tests/harness sshd "
        f"{'in a network namespace (veth)' if args.netns else 'on loopback (--no-netns)'}. "
        f"Runs: {args.runs} (cold: {args.cold_runs}), after discarded warm-ups.",
        "",
        "| measurement | median s | min | max | n | goal | ratio / verdict |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name in ORDER:
        st = stats(results.get(name, []))
        goal, v = goals[name]
        n = len(results.get(name, []))
        if st is None:
            lines.append(f"| {name} | — | — | — | 0 | {goal} | no sample |")
        else:
            lines.append(f"| {name} | {st[0]:.3f} | {st[1]:.3f} | {st[2]:.3f} | {n} | {goal} | {v} |")

    lines += [
        "",
        "Peak RSS of the remotebook process (GNU time %M; its ssh clients are smaller, the master not counted):",
    ]
    lines += ["", "| process | median MiB | min | max |", "|---|---:|---:|---:|"]
    for name in (COLD_UP, WARM_UP, STATUS, HELP):
        rss = [s.rss_kb / 1024 for s in results.get(name, []) if s.rss_kb]
        if rss:
            lines.append(f"| {name} | {statistics.median(rss):.1f} | {min(rss):.1f} | {max(rss):.1f} |")

    lines += ["", "Where the time goes (medians, s; ssh calls as timed in remotebook's DEBUG log):", ""]
    lines += ["| step | cold `up` | warm `up` |", "|---|---:|---:|"]
    phase_names: list[str] = []
    for name in (COLD_UP, WARM_UP):
        for s in results.get(name, []):
            phase_names += [p for p in s.phases if p not in phase_names]
    phase_names.sort(key=lambda p: (p == PHASE_REST, p != PHASE_START))  # start-up first, rest last
    for phase in phase_names:
        cells = []
        for name in (COLD_UP, WARM_UP):
            xs = [s.phases.get(phase, 0.0) for s in results.get(name, []) if s.phases]
            cells.append(f"{statistics.median(xs):.3f}" if xs else "—")
        lines.append(f"| {phase} | {cells[0]} | {cells[1]} |")
    hand = [s.phases for s in results.get(COLD_HAND, []) if s.phases]
    if hand:
        lines += ["", "| by hand, cold: step | median s |", "|---|---:|"]
        for phase in hand[0]:
            lines.append(f"| {phase} | {statistics.median(p[phase] for p in hand):.3f} |")
    if failed:
        lines += ["", "Failed tries (retried):", ""]
        lines += [f"- {name}: {len(errs)} × ({errs[-1][:200]})" for name, errs in failed.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# clean-up
# --------------------------------------------------------------------------


def _processes() -> Iterator[tuple[int, str, str]]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            yield int(parts[0]), parts[1], parts[2]


def sweep(is_ours: Callable[[str], bool]) -> list[str]:
    """Kill this run's leftover processes (ssh masters, tunnels, remote Jupyters); return what was found."""
    me = os.getpid()
    found: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [(pid, args) for pid, st, args in _processes() if pid != me and not st.startswith("Z") and is_ours(args)]
        if not pids:
            break
        found += [f"{pid} {args[:120]}" for pid, args in pids if f"{pid} {args[:120]}" not in found]
        for pid, _ in pids:
            _signal_pid(pid, sig)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(_alive(pid) for pid, _ in pids):
            time.sleep(0.05)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_up", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="samples per warm/status/help/ssh measurement (default 5)")
    p.add_argument("--cold-runs", type=int, default=None, help="samples per cold measurement (default: --runs)")
    p.add_argument("--no-netns", dest="netns", action="store_false", help="sshd on loopback, not in a namespace")
    p.add_argument("--raw", type=Path, help="also write every sample as JSON to this file")
    args = p.parse_args(argv)
    if args.cold_runs is None:
        args.cold_runs = args.runs
    if not (1 <= args.runs <= MAX_RUNS and 1 <= args.cold_runs <= MAX_RUNS):
        p.error(f"--runs and --cold-runs must be between 1 and {MAX_RUNS}")
    return args


def measure(bench: Bench, args: argparse.Namespace) -> None:
    say("warm-up (discarded): --help, one ssh, one cold `up`")
    for take in (bench.help, bench.bare_ssh, bench.cold_up):
        bench.sample("warm-up", take)
    bench.results.pop("warm-up", None)

    say(f"cold block: {args.cold_runs} × (remotebook up, by hand), interleaved")
    for i in range(args.cold_runs):
        pair: list[tuple[str, Callable[[], Sample]]] = [(COLD_UP, bench.cold_up), (COLD_HAND, bench.cold_by_hand)]
        for name, take in pair if i % 2 == 0 else pair[::-1]:
            bench.sample(name, take, i)

    say(f"warm block: {args.runs} × (remotebook up, by hand, bare ssh), interleaved")
    with contextlib.suppress(MeasureError, HarnessError):
        bench.go_cold()  # only tidies up after the cold block: each warm sample sets up its own server
    trio: list[tuple[str, Callable[[], Sample]]] = [
        (WARM_UP, bench.warm_up),
        (WARM_HAND, bench.warm_by_hand),
        (BARE, bench.bare_ssh),
    ]
    for i in range(args.runs):
        k = i % len(trio)
        for name, take in trio[k:] + trio[:k]:
            bench.sample(name, take, i)

    say(f"status/help block: {args.runs} × each")
    for _ in range(args.runs):
        bench.sample(STATUS, bench.status)
        bench.sample(HELP, bench.help)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (e.g. from `timeout`) cleans up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    if os.geteuid() != 0:
        say("needs root (the harness creates users, a network namespace and sshds)")
        return 2
    wait_quiet()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="rbbench-"))
    runtime = Path(tempfile.mkdtemp(prefix="rbb-", dir="/tmp"))  # ssh control sockets: keep the path short
    host: RemoteHost | None = None
    bench: Bench | None = None
    code = 0
    try:
        say("starting the harness remote")
        try:
            host = start_remote_host(work / "remote", netns=args.netns)
        except (HarnessUnavailable, HarnessError) as e:
            say(f"cannot start the harness: {e}")
            return 1
        bench = Bench(host, work, runtime)
        try:
            measure(bench, args)
        except MeasureError as e:  # outside a retried sample (warm-up, block set-up): report what we have
            say(f"stopped early: {e}")
            code = 1
        except KeyboardInterrupt:
            say("interrupted: the table below has what was measured so far")
            code = 130
        print(render(info, bench.results, bench.failed, args), flush=True)
        if args.raw:
            raw = {"machine": info, "samples": {k: [asdict(s) for s in v] for k, v in bench.results.items()}}
            args.raw.write_text(json.dumps(raw, indent=2) + "\n")
    finally:
        code = max(code, cleanup(host, bench, work, runtime))
    return code


def cleanup(host: RemoteHost | None, bench: Bench | None, work: Path, runtime: Path) -> int:
    """Stop everything this run started; say (and kill) what was still left. Never raises."""
    markers = [str(work) + "/", str(runtime) + "/"]
    rb_root = jupyter_ports = None
    if bench is not None:
        rb_root = bench.rb_server_marker()
        jupyter_ports = {f"--port={p} " for p in bench.hand_ports}
        with contextlib.suppress(Exception):
            bench.rb("down", ALIAS, timeout=60)  # stops the supervisor that the status block's `up --detach` left
            bench.close_tunnels()
            bench.close_masters()
    if host is not None:
        host.stop()

    def is_ours(args: str) -> bool:
        if any(m in args for m in markers):
            return True
        if "jupyter" in args and rb_root and rb_root in args:
            return True
        return "jupyter" in args and any(p in args + " " for p in jupyter_ports or ())

    left = sweep(is_ours)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(runtime, ignore_errors=True)
    if left:
        say("killed leftovers: " + "; ".join(left))
        return 1
    say("clean: no ssh or Jupyter process of this run is left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
