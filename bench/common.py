"""What the benches share: timed runs, the harness run around a bench, samples and their statistics, tables, cleanup.

A bench module defines its measurements (a class with the samples) and its tables; `run_bench()` does the
rest: root check, the machine-wide harness lock (the one the integration tests take), temp dirs, the
throwaway remote, printing, the raw JSON, and a cleanup that says (and kills) what was left behind.
Nothing here asserts a time: benches report, they never fail on a slow machine.
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
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tests.harness import local
from tests.harness.remote_host import JUPYTER_VENV, HarnessError, HarnessUnavailable, RemoteHost, start_remote_host

ROOT = Path(__file__).resolve().parent.parent
ALIAS = "rbremote"
POLL_INTERVAL = 0.02  # the same interval as remotebook's own readiness poll (tunnel.POLL_INTERVAL)
ATTEMPTS = 3  # tries per sample; a failed try is retried after a reset
LOCK_WAIT = 3600.0  # how long to wait for another harness run (a pytest of the integration tests) to finish
MAX_RUNS = 100
TIME = "/usr/bin/time"  # GNU time: -f %M is the child's peak RSS in KiB


class MeasureError(RuntimeError):
    """One sample could not be taken (a command failed, or no 200 before the deadline)."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# timed runs
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


def signal_pid(pid: int, sig: int) -> None:
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


def run_timed(
    argv: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None, rss: bool = False
) -> Ran:
    """Run argv to exit, timed from just before the spawn to the moment it is reaped.

    Output goes to temporary files, not pipes: an ssh that backgrounds itself (ControlPersist, -f) holding a
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


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL, each with a bounded wait."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        signal_pid(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


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


def remotebook_argv() -> list[str]:
    """The `remotebook` console script of this venv (what a user types), else `python -m remotebook`."""
    script = Path(sys.executable).parent / "remotebook"
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "remotebook"]


def bench_env(host: RemoteHost, work: Path, runtime: Path) -> dict[str, str]:
    """remotebook's environment for a bench: the harness's (tests/harness/local.py), bytecode cached.

    Bytecode is cached as for an installed package, but under our temp dir, not in the source tree (this
    machine may set PYTHONDONTWRITEBYTECODE, and an editable install has no .pyc of its own).
    """
    inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env = local.remotebook_env(host, work / "state", runtime, base=inherited)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def close_masters(ssh_config: str, runtime: Path) -> None:
    """`ssh -O exit` every control socket under runtime (bounded; errors ignored)."""
    for sock in sorted(runtime.glob("cm-*")):
        if sock.suffix == ".log":
            continue
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["ssh", "-F", ssh_config, "-o", f"ControlPath={sock}", "-O", "exit", ALIAS],
                capture_output=True,
                timeout=15,
                stdin=subprocess.DEVNULL,
            )


def open_master(ssh_config: str, control_path: str, alias: str) -> None:
    """A by-hand master on control_path (as a person's `ControlMaster=yes` + ControlPersist); MeasureError if refused."""
    opened = subprocess.run(
        ["ssh", "-F", ssh_config, "-o", f"ControlPath={control_path}", "-o", "ControlMaster=yes"]
        + ["-o", "ControlPersist=yes", alias, "true"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    if opened.returncode != 0:
        raise MeasureError(f"cannot open the ssh master: {opened.stderr.decode(errors='replace').strip()}")


def new_remote_port(taken: set[int]) -> int:
    """A port for a Jupyter started by hand inside the namespace (nothing else listens there)."""
    for _ in range(100):
        port = secrets.SystemRandom().randint(20000, 29999)
        if port not in taken:
            taken.add(port)
            return port
    raise MeasureError("no free remote port among 100 tries")


# --------------------------------------------------------------------------
# remotebook's DEBUG log: which subprocess a run started, and for how long
# --------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\d+) \S+ \w+ (.*)$")
EXIT_LINE = re.compile(r"^exit (-?\d+) in ([0-9.]+)s: ")


@dataclass(frozen=True)
class LogLine:
    wall: float
    pid: int
    message: str


def read_log(state: Path) -> list[LogLine]:
    """Every line of remotebook.log (and its rotated predecessor), oldest first."""
    found: list[LogLine] = []
    for name in ("remotebook.log.1", "remotebook.log"):  # it rotates at 1 MB
        try:
            lines = (state / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            m = LOG_LINE.match(line)
            if m is not None:
                stamp = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append(LogLine(stamp, int(m.group(2)), m.group(3)))
    found.sort(key=lambda x: x.wall)
    return found


def lines_of_run(state: Path, started_wall: float, skip: set[int] | None = None) -> list[LogLine]:
    """The lines of the first remotebook process that logged after `started_wall` (runs are sequential).

    `skip`: pids that log in the background meanwhile (supervisors: an `ssh -O check` every 1.5 s).
    """
    after = [x for x in read_log(state) if x.wall >= started_wall - 0.001 and x.pid not in (skip or ())]
    return [x for x in after if x.pid == after[0].pid] if after else []


@dataclass(frozen=True)
class Call:
    """A subprocess as remotebook logged it: `run: ARGV` (or `stream: ARGV`), then `exit N in S s`."""

    argv: str
    start: float  # wall clock of the `run:` line
    seconds: float


def calls(lines: Iterable[LogLine]) -> list[Call]:
    found: list[Call] = []
    pending: tuple[str, float] | None = None
    for line in lines:
        if line.message.startswith(("run: ", "stream: ")):
            pending = (line.message.split(": ", 1)[1], line.wall)
        elif pending and (e := EXIT_LINE.match(line.message)):
            found.append(Call(pending[0], pending[1], float(e.group(2))))
            pending = None
    return found


def phases(
    lines: list[LogLine], started_wall: float, total: float, kind: Callable[[str], str], start: str, rest: str
) -> dict[str, float]:
    """Split one run into start-up (spawn to first log line), its subprocesses by `kind`, and the rest."""
    if not lines:
        return {}
    out: dict[str, float] = {start: max(0.0, lines[0].wall - started_wall)}
    for call in calls(lines):
        name = kind(call.argv + " ")
        out[name] = out.get(name, 0.0) + call.seconds
    out[rest] = max(0.0, total - sum(out.values()))
    return out


# --------------------------------------------------------------------------
# samples, statistics, tables
# --------------------------------------------------------------------------


@dataclass
class Sample:
    """One measurement: seconds for the timing rows (the row's unit otherwise)."""

    value: float
    rss_kb: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    round: int = -1  # samples of one interleaved round are paired for the ratios


def summary(xs: Sequence[float]) -> tuple[float, float, float] | None:
    """(median, min, max), or None for no value."""
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def stats(samples: Sequence[Sample]) -> tuple[float, float, float] | None:
    return summary([s.value for s in samples])


def median(samples: Sequence[Sample]) -> float | None:
    st = stats(samples)
    return st[0] if st else None


def ratio(a: Sequence[Sample], b: Sequence[Sample]) -> float | None:
    """Median of a over median of b."""
    x, y = median(a), median(b)
    return x / y if x is not None and y else None


def pair_ratios(a: Sequence[Sample], b: Sequence[Sample]) -> list[float]:
    """a/b for every round in which both were sampled, side by side."""
    by_round = {s.round: s.value for s in b if s.round >= 0}
    return [s.value / by_round[s.round] for s in a if by_round.get(s.round)]


def pairs_range(a: Sequence[Sample], b: Sequence[Sample], sep: str = " (", end: str = ")") -> str:
    """' (pairs lo–hi)': how much of a verdict is noise; empty with fewer than two pairs."""
    rs = pair_ratios(a, b)
    return f"{sep}pairs {min(rs):.2f}–{max(rs):.2f}{end}" if len(rs) > 1 else ""


def verdict(value: float | None, goal: float, unit: str, spread: str = "") -> str:
    if value is None:
        return "n/a"
    ok = "meets goal" if value <= goal else "**misses goal**"
    return f"{value:.2f}{unit}{spread} — {ok}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """A Markdown table; columns whose index is in `right` are right-aligned."""
    align = set(right)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i in align else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def stat_row(name: str, samples: Sequence[Sample], goal: str, v: str, digits: int = 3) -> list[str]:
    """name, median, min, max, n, goal, verdict: the benches' main row."""
    st = stats(samples)
    if st is None:
        return [name, "—", "—", "—", "0", goal, "no sample"]
    return [name, *(f"{x:.{digits}f}" for x in st), str(len(samples)), goal, v]


def failed_lines(failed: dict[str, list[str]]) -> list[str]:
    if not failed:
        return []
    return ["", "Failed tries (retried):", ""] + [
        f"- {name}: {len(errs)} × ({errs[-1][:200]})" for name, errs in failed.items()
    ]


T = TypeVar("T")


def rotated(items: Sequence[T], i: int) -> list[T]:
    """Round i of an interleaved block: the items rotated by i, so each goes first in turn."""
    k = i % len(items) if items else 0
    return [*items[k:], *items[:k]]


class Recorder:
    """Samples by row name, with bounded retries; a failed try resets the harness first."""

    def __init__(self, host: RemoteHost, on_retry: Callable[[], None] | None = None) -> None:
        self.host = host
        self.on_retry = on_retry
        self.results: dict[str, list[Sample]] = {}
        self.failed: dict[str, list[str]] = {}
        self.notes: list[str] = []

    def record(self, label: str, take: Callable[[], dict[str, Sample]], round_: int = -1) -> None:
        """One try of `take` (a sample per row name); retried up to ATTEMPTS times after a reset."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                got = take()
            except (MeasureError, HarnessError, OSError, subprocess.TimeoutExpired) as e:
                say(f"{label}: try {attempt}/{ATTEMPTS} failed: {e}")
                self.failed.setdefault(label, []).append(str(e))
                if self.on_retry is not None:
                    self.on_retry()
                with contextlib.suppress(HarnessError):
                    self.host.reset()  # kills the remote's processes, brings the link up, restores the homes
                continue
            for name, s in got.items():
                s.round = round_
                self.results.setdefault(name, []).append(s)
            say(f"{label}: " + "; ".join(f"{name[:50]} {s.value:.3f}" for name, s in got.items()))
            return
        say(f"{label}: giving up on this sample")

    def sample(self, name: str, take: Callable[[], Sample], round_: int = -1) -> None:
        """One sample of one row."""
        self.record(name, lambda: {name: take()}, round_)

    def drop(self, names: Iterable[str]) -> None:
        for name in names:
            self.results.pop(name, None)


# --------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------


def out_of(cmd: list[str]) -> str:
    """First line of a command's output, '?' if it failed."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (p.stdout.strip() or p.stderr.strip() or "?").splitlines()[0]


def machine() -> dict[str, str]:
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
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
    versions = out_of(
        [py, "-c", "import jupyter_server, jupyterlab; print(jupyter_server.__version__, jupyterlab.__version__)"]
    ).split()
    commit = out_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = out_of(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    version = "?"
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        version = importlib.metadata.version("remotebook")
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": out_of(["uname", "-srm"]),
        "nproc": out_of(["nproc"]),
        "cpu": cpu,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssh": out_of(["ssh", "-V"]),
        "jupyter_server": versions[0] if versions else "?",
        "jupyterlab": versions[1] if len(versions) > 1 else "?",
        "remotebook": f"{version} (git {commit})"
        + (" + uncommitted changes in src/" if dirty not in ("?", "") else ""),
    }


def machine_line(info: dict[str, str], netns: bool) -> str:
    return (
        f"Machine: {info['uname']}, {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; {info['python']}; "
        f"{info['openssh']}; remote Jupyter: jupyter_server {info['jupyter_server']}, JupyterLab {info['jupyterlab']}; "
        f"remotebook {info['remotebook']}, bytecode cached. Remote: tests/harness sshd "
        f"{'in a network namespace (veth)' if netns else 'on loopback (--no-netns)'}."
    )


# --------------------------------------------------------------------------
# the run around a bench: lock, harness, report, cleanup
# --------------------------------------------------------------------------


class Bench(Protocol):
    """What run_bench needs of a bench: its recorder and its cleanup markers."""

    rec: Recorder

    def tidy(self) -> None:
        """Stop what this bench started through the harness (remotebook `down`, masters...). May raise."""

    def is_ours(self, args: str) -> bool:
        """Whether a process (by its argv) is one this run started and must not leave behind."""


B = TypeVar("B", bound=Bench)


def add_common_args(p: argparse.ArgumentParser, runs: int) -> None:
    p.add_argument("--runs", type=int, default=runs, help=f"samples of each measurement (default {runs})")
    p.add_argument("--no-netns", dest="netns", action="store_false", help="sshd on loopback, not in a namespace")
    p.add_argument("--raw", type=Path, help="also write every sample (and the machine) as JSON to this file")


def check_runs(p: argparse.ArgumentParser, *runs: int) -> None:
    if not all(1 <= r <= MAX_RUNS for r in runs):
        p.error(f"run counts must be between 1 and {MAX_RUNS}")


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (e.g. from `timeout`) cleans up like Ctrl-C


def run_bench(
    args: argparse.Namespace,
    prefix: str,
    make: Callable[[RemoteHost, Path, Path], B],
    measure: Callable[[B], None],
    render: Callable[[dict[str, str], B], str],
    info: Callable[[], dict[str, str]] = machine,
) -> int:
    """Run one bench against a fresh harness remote, under the machine lock; return the exit code.

    0 unless the harness could not start, a block could not be set up, or leftovers had to be killed.
    """
    signal.signal(signal.SIGTERM, _terminated)
    if os.geteuid() != 0:
        say("needs root (the harness creates users, a network namespace and sshds)")
        return 2
    try:
        with local.machine_lock(LOCK_WAIT, on_wait=lambda: say("another harness run holds the lock; waiting")):
            return _locked_run(args, prefix, make, measure, render, info)
    except local.LockTimeout as e:
        say(str(e))
        return 1


def _locked_run(
    args: argparse.Namespace,
    prefix: str,
    make: Callable[[RemoteHost, Path, Path], B],
    measure: Callable[[B], None],
    render: Callable[[dict[str, str], B], str],
    info_of: Callable[[], dict[str, str]],
) -> int:
    info = info_of()
    work = Path(tempfile.mkdtemp(prefix=f"rb{prefix}-"))
    runtime = Path(tempfile.mkdtemp(prefix=f"rb{prefix[:2]}-", dir="/tmp"))  # control sockets: a short path
    host: RemoteHost | None = None
    bench: B | None = None
    code = 0
    try:
        say("starting the harness remote")
        try:
            host = start_remote_host(work / "remote", netns=args.netns)
        except (HarnessUnavailable, HarnessError) as e:
            say(f"cannot start the harness: {e}")
            return 1
        bench = make(host, work, runtime)
        try:
            measure(bench)
        except (MeasureError, HarnessError, OSError) as e:  # outside a retried sample: report what we have
            say(f"stopped early: {e}")
            code = 1
        except KeyboardInterrupt:
            say("interrupted: the tables below have what was measured so far")
            code = 130
        print(render(info, bench), flush=True)
        if args.raw:
            samples = {k: [asdict(s) for s in v] for k, v in bench.rec.results.items()}
            args.raw.write_text(json.dumps({"machine": info, "samples": samples}, indent=2) + "\n")
    finally:
        code = max(code, cleanup(host, bench, work, runtime))
    return code


def cleanup(host: RemoteHost | None, bench: Bench | None, work: Path, runtime: Path) -> int:
    """Stop everything this run started; say (and kill) what was still left. Never raises."""
    markers = [str(work) + "/", str(runtime) + "/"]
    if bench is not None:
        with contextlib.suppress(Exception):
            bench.tidy()
    if host is not None:
        with contextlib.suppress(Exception):
            host.stop()

    def is_ours(args: str) -> bool:
        return any(m in args for m in markers) or (bench is not None and bench.is_ours(args))

    left: list[str] = []
    with contextlib.suppress(Exception):
        left = sweep(is_ours)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(runtime, ignore_errors=True)
    if left:
        say("killed leftovers: " + "; ".join(left))
        return 1
    say("clean: no supervisor, ssh, rsync or Jupyter process of this run is left")
    return 0


def sweep(is_ours: Callable[[str], bool]) -> list[str]:
    """Kill this run's leftover processes (supervisors, masters, tunnels, remote Jupyters); return what was found."""
    me = os.getpid()
    found: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        procs = [p for p in local.processes() if p.pid != me and not p.zombie and is_ours(p.args)]
        if not procs:
            break
        found += [f"{p.pid} {p.args[:120]}" for p in procs if f"{p.pid} {p.args[:120]}" not in found]
        for p in procs:
            signal_pid(p.pid, sig)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(local.alive(p.pid) for p in procs):
            time.sleep(0.05)
    return found
