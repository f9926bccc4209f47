"""How fast `remotebook up`, `status` and a no-change `sync push` are, on loopback and over a 25 ms link, by hand alongside.

`.venv/bin/python -m bench.bench_up [--runs N] [--cold-runs M] [--delay-ms D]` from the repo root, as root: it
starts the throwaway remote of tests/harness (real sshd in a network namespace, user rbtest with JupyterLab
on its login PATH) and measures, in one run and interleaved so that drift hits all sides alike, each of
these at 0 ms and at D ms each way (default 25; through bench/delay_proxy.py, a delaying ProxyCommand that
also counts the round trips):

* `remotebook up ALIAS --detach --no-browser --json` until GET /api/status answers 200 through the
  forward: cold (no server, no ssh master) and warm (server running, no master);
* the same by hand with plain OpenSSH: cold (one ssh starts Jupyter detached, then `ssh -N -L`, poll) and
  warm (`ssh -fN -L`, then one GET), and one bare `ssh ALIAS true`;
* `remotebook status ALIAS` with a live master and forward;
* `remotebook sync push` with nothing to do, against plain rsync over the same master;

and, once, Python's start-up: `python -c pass`, `python -m remotebook --help`, `remotebook --help`.

It prints Markdown tables on stdout (timings, ratios with per-pair ranges, round trips, the steps of a warm
`up` and of `status` with the round trips of each) and progress on stderr.  Timings are reported, never
asserted.  The harness is always stopped and no ssh, proxy or Jupyter process of this run is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.harness import local
from tests.harness.remote_host import JUPYTER_USER, HarnessError, RemoteHost

from bench import common
from bench.common import (
    ALIAS,
    MeasureError,
    Ran,
    Recorder,
    Sample,
    api_status,
    free_port,
    poll_200,
    run_timed,
    say,
    table,
)

WAN_ALIAS = "rbwan"
READY_DEADLINE = 60.0  # by hand: how long to poll for the first 200
AFTER_UP_DEADLINE = 15.0  # `up` returned: the forward must answer at once
COMMAND_TIMEOUT = 120.0  # any one remotebook/ssh command
PROXY = Path(__file__).resolve().parent / "delay_proxy.py"
SYNC_FILES = 100
SYNC_PROFILE = "s"

GOAL_COLD = 1.1  # cold up / by hand, cold (at D ms)
GOAL_WARM_HAND = 1.3  # warm up / by hand, warm (at D ms)
GOAL_WARM_BARE = 1.5  # warm up / bare ssh (at 0 ms)
GOAL_SYNC = 1.15  # no-change sync push / plain rsync (at D ms)
GOAL_STATUS_LOOP = 0.25  # seconds
GOAL_STATUS_WAN = 0.3
GOAL_HELP = 0.15

COLD_UP = "`remotebook up` cold → first 200"
COLD_HAND = "by hand, cold → first 200"
WARM_UP = "`remotebook up` warm → first 200"
WARM_HAND = "by hand, warm: `ssh -fN -L` + one GET"
BARE = "bare `ssh ALIAS true`"
STATUS = "`remotebook status` (live master)"
SYNC_RB = "`remotebook sync push`, nothing to do"
SYNC_PLAIN = "plain rsync, nothing to do, same master"
PY_START = "`python -c pass`"
PY_HELP = "`python -m remotebook --help`"
RB_HELP = "`remotebook --help`"
BY_DELAY = (COLD_UP, COLD_HAND, WARM_UP, WARM_HAND, BARE, STATUS, SYNC_RB, SYNC_PLAIN)
ONCE = (PY_START, PY_HELP, RB_HELP)
OUTSIDE = "outside ssh calls: HTTP through the forward (remotebook's checks, the bench's GET)"


def row(name: str, delay: int) -> str:
    return f"{name} @ {delay} ms"


# --------------------------------------------------------------------------
# round trips: the proxy's turns, and remotebook's steps
# --------------------------------------------------------------------------


def turn_stamps(log: Path) -> list[float]:
    """Wall-clock times of every turn the delaying proxies logged (all connections)."""
    stamps: list[float] = []
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                event = json.loads(line)
                if event["event"] == "turn":
                    stamps.append(float(event["wall"]))
    return sorted(stamps)


def turns_between(stamps: list[float], start: float, end: float) -> int:
    return sum(1 for t in stamps if start <= t <= end)


def step_kind(argv: str) -> str:
    if argv.startswith("rsync "):
        return "rsync"
    if not argv.startswith("ssh "):
        return "other: " + " ".join(argv.split()[:2])
    if " -G " in argv:
        return "`ssh -G` (resolve the alias; local)"
    for op, what in (("check", "is the master there; local"), ("forward", "add the forward"), ("cancel", "")):
        if f"-O {op} " in argv:
            return f"`ssh -O {op}`" + (f" ({what})" if what else "")
    if "ControlMaster=yes" in argv and " -N " in argv:
        return "`ssh -f -N`: the master (connect, handshake, auth)"
    if "ControlMaster=auto" in argv or "ControlPath=" in argv:  # up's bootstrap, or status's query
        return "ssh session over the master (login shell, bootstrap or status script)"
    return "other ssh"


@dataclass
class Step:
    kind: str
    offset: float  # s after the spawn
    seconds: float
    turns: int


def steps_of(state: Path, ran: Ran, end_wall: float, stamps: list[float]) -> list[Step]:
    """remotebook's subprocesses in one run, each with the proxy turns inside it; then what was outside them."""
    lines = common.lines_of_run(state, ran.started_wall, skip=set(local.supervisors(state)))
    found = [
        Step(
            step_kind(c.argv + " "),
            c.start - ran.started_wall,
            c.seconds,
            turns_between(stamps, c.start, c.start + c.seconds + 0.002),
        )
        for c in common.calls(lines)
    ]
    inside = sum(s.turns for s in found)
    found.append(Step(OUTSIDE, 0.0, 0.0, turns_between(stamps, ran.started_wall, end_wall) - inside))
    return found


def step_phases(steps: list[Step], total: float, startup: float) -> dict[str, float]:
    out: dict[str, float] = {"start-up (spawn to first log line)": startup}
    for s in steps:
        if s.kind != OUTSIDE:
            out[s.kind] = out.get(s.kind, 0.0) + s.seconds
    out["rest: Python between calls, the readiness poll, state file, exit, the bench's GET"] = max(
        0.0, total - sum(out.values())
    )
    return out


def step_turns(steps: list[Step]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in steps:
        out[s.kind] = out.get(s.kind, 0) + s.turns
    return out


# --------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------


class UpBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path, delay_ms: int) -> None:
        self.host = host
        self.work = work
        self.runtime = runtime
        self.delays = (0, delay_ms)
        self.proxy_log = work / "proxy.jsonl"
        self.cfg = str(self.write_ssh_config(delay_ms))
        self.state = work / "state"
        self.env = common.bench_env(host, work, runtime)
        self.env["REMOTEBOOK_SSH_CONFIG"] = self.cfg
        self.rb_argv = common.remotebook_argv()
        self.alias = {0: ALIAS, delay_ms: WAN_ALIAS}
        self.project = {d: work / f"bench{d}ms" for d in self.delays}  # ~/bench0ms, ~/bench25ms on the remote
        self.sync_project = {d: work / f"sync{d}ms" for d in self.delays}
        for path in (*self.project.values(), *self.sync_project.values()):
            path.mkdir(exist_ok=True)
        self.remote_home = str(host.home(JUPYTER_USER))
        self.hand_ports: set[int] = set()
        self.warm_rport = common.new_remote_port(self.hand_ports)
        self.tunnels: list[subprocess.Popen[bytes]] = []
        self.rec = Recorder(host, on_retry=self.close_tunnels)
        self.startup: dict[str, float] = {}  # row -> start-up of the last sample (for the step tables)
        self.steps: dict[str, list[list[Step]]] = {}

    def write_ssh_config(self, delay_ms: int) -> Path:
        """The harness's ssh config plus WAN_ALIAS: rbremote through the delaying proxy, with its own HostName."""
        h = self.host
        proxy = shlex.join([sys.executable, "-I", "-S", str(PROXY), "--delay-ms", str(delay_ms)])
        proxy += f" --connect {h.address}:{h.port} --log {shlex.quote(str(self.proxy_log))} %h %p"
        block = (
            f"Host {WAN_ALIAS}\n"
            f"    # rbremote, {delay_ms} ms each way (bench/delay_proxy.py); a HostName of its own for %C\n"
            f"    HostName {WAN_ALIAS}-{delay_ms}ms\n    HostKeyAlias {h.address}\n    Port {h.port}\n"
            f"    User {JUPYTER_USER}\n    IdentityFile {h.identities[JUPYTER_USER]}\n    ProxyCommand {proxy}\n\n"
        )
        path = self.work / "ssh_config"
        path.write_text(block + h.ssh_config.read_text())
        path.chmod(0o600)
        return path

    # ---- runners -----------------------------------------------------------

    def rb(self, *args: str, cwd: Path, timeout: float = COMMAND_TIMEOUT, rss: bool = True) -> Ran:
        return run_timed([*self.rb_argv, *args], timeout=timeout, env=self.env, cwd=cwd, rss=rss)

    def ssh(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Ran:
        return run_timed(["ssh", "-F", self.cfg, *args], timeout=timeout)

    def server_marker(self, delay: int) -> str:
        return f"--ServerApp.root_dir={self.remote_home}/{self.project[delay].name}"

    def remote_jupyters(self, marker: str) -> list[str]:
        """Jupyter *servers* of rbtest whose argv contains marker (not JupyterLab's short-lived helpers)."""
        return [
            line
            for line in self.host.ps().splitlines()
            if line.startswith(JUPYTER_USER) and "jupyter" in line and "--no-browser" in line and marker in line
        ]

    def down(self, delay: int) -> None:
        ran = self.rb("down", self.alias[delay], cwd=self.project[delay], timeout=60, rss=False)
        if ran.returncode != 0:
            raise MeasureError(ran.why())

    def go_cold(self) -> None:
        """No ssh master, no Jupyter, fresh remote home and no local state of an earlier `up`."""
        for d in self.delays:
            self.down(d)
        common.close_masters(self.cfg, self.runtime)
        self.host.reset()
        shutil.rmtree(self.state / "projects", ignore_errors=True)
        left = self.remote_jupyters("jupyter")
        if left:
            raise MeasureError(f"Jupyter survived host.reset(): {left}")

    def close_tunnels(self) -> None:
        for proc in self.tunnels:
            common.stop_proc(proc)
        self.tunnels.clear()
        for p in local.processes():  # `ssh -fN -L` tunnels: ours by their config file
            if f"-F {self.cfg} -f -N" in p.args and not p.zombie:
                common.signal_pid(p.pid, signal.SIGTERM)

    def turns(self, start: float, end: float) -> int:
        return turns_between(turn_stamps(self.proxy_log), start, end)

    # ---- up ----------------------------------------------------------------

    def up_to_200(self, delay: int, *, expect_started: bool, name: str) -> Sample:
        ran = self.rb("up", self.alias[delay], "--detach", "--no-browser", "--json", cwd=self.project[delay])
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        try:
            report = json.loads(ran.stdout)
            port, token, started = report["local_port"], report["token"], report["server"]["started"]
        except (ValueError, KeyError, TypeError) as e:
            raise MeasureError(f"unexpected `up --json` output ({e}): {ran.stdout[:300]!r}") from None
        t = poll_200(port, token, AFTER_UP_DEADLINE)
        end_wall = time.time()
        if t is None:
            raise MeasureError(f"`up` returned but 127.0.0.1:{port} does not answer 200")
        if started != expect_started:
            what = "started a server" if started else "found a server running"
            raise MeasureError(f"`up` {what}, which this measurement did not set up")
        return self.with_steps(name, ran, t - ran.started, end_wall)

    def with_steps(self, name: str, ran: Ran, total: float, end_wall: float) -> Sample:
        stamps = turn_stamps(self.proxy_log)
        steps = steps_of(self.state, ran, end_wall, stamps)
        lines = common.lines_of_run(self.state, ran.started_wall, skip=set(local.supervisors(self.state)))
        startup = max(0.0, lines[0].wall - ran.started_wall) if lines else 0.0
        self.steps.setdefault(name, []).append(steps)
        info = {"turns": turns_between(stamps, ran.started_wall, end_wall), "step_turns": step_turns(steps)}
        return Sample(total, ran.rss_kb, step_phases(steps, total, startup), info)

    def cold_up(self, delay: int) -> Sample:
        self.go_cold()
        return self.up_to_200(delay, expect_started=True, name=row(COLD_UP, delay))

    def warm_up(self, delay: int) -> Sample:
        if not self.remote_jupyters(self.server_marker(delay)):
            ran = self.rb("up", self.alias[delay], "--detach", "--no-browser", "--json", cwd=self.project[delay])
            if ran.returncode != 0:  # started untimed
                raise MeasureError(ran.why())
        self.down(delay)  # no --server: only the forward, the supervisor and the master go
        return self.up_to_200(delay, expect_started=False, name=row(WARM_UP, delay))

    # ---- by hand -------------------------------------------------------------

    def hand_start(self, delay: int, rport: int, token: str) -> Ran:
        """The by-hand start: one ssh that launches Jupyter detached on the remote's 127.0.0.1 and returns."""
        # The braces matter: `a && b && c &` would background the whole list in a subshell that keeps
        # ssh's stdout open, and ssh would not return until Jupyter exits.
        inner = (
            f"mkdir -p ~/handproj && cd ~/handproj && {{ JUPYTER_TOKEN={token} nohup jupyter lab --no-browser"
            f" --ip=127.0.0.1 --port={rport} --ServerApp.port_retries=0 >jupyter.log 2>&1 </dev/null & }}"
        )
        return self.ssh(self.alias[delay], "bash -lc " + shlex.quote(inner), timeout=60)

    def hand_poll(self, delay: int, rport: int, token: str) -> float:
        """`ssh -N -L` in the background, poll through it until 200; the perf_counter() of that 200."""
        lport = free_port()
        proc = subprocess.Popen(
            ["ssh", "-F", self.cfg, "-N", "-L", f"127.0.0.1:{lport}:127.0.0.1:{rport}", self.alias[delay]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.tunnels.append(proc)
        try:
            t = poll_200(lport, token, READY_DEADLINE, alive=lambda: proc.poll() is None)
        finally:
            self.close_tunnels()
        if t is None:
            raise MeasureError(f"by hand: no 200 through 127.0.0.1:{lport} -> remote :{rport} (rc {proc.poll()})")
        return t

    def cold_by_hand(self, delay: int) -> Sample:
        self.go_cold()
        rport, token = common.new_remote_port(self.hand_ports), "hand" + str(time.time_ns())
        first = self.hand_start(delay, rport, token)
        if first.returncode != 0:
            raise MeasureError(first.why())
        t = self.hand_poll(delay, rport, token)
        end_wall = time.time()
        total = t - first.started
        phases = {
            "ssh that starts Jupyter detached (returns at once)": first.seconds,
            "`ssh -N -L` + poll until 200 (mostly Jupyter starting)": total - first.seconds,
        }
        return Sample(total, phases=phases, info={"turns": self.turns(first.started_wall, end_wall)})

    def ensure_hand_server(self) -> str:
        """The warm by-hand Jupyter (fixed remote port, fixed token); started untimed if missing."""
        token = "bench" + str(self.warm_rport)  # noqa: S105 - a throwaway token on a throwaway host
        if not self.remote_jupyters(f"--port={self.warm_rport} "):
            first = self.hand_start(0, self.warm_rport, token)
            if first.returncode != 0:
                raise MeasureError(first.why())
            self.hand_poll(0, self.warm_rport, token)
        return token

    def warm_by_hand(self, delay: int) -> Sample:
        """`ssh -fN -L` (returns once connected, the listener bound), then one GET that must be 200."""
        token = self.ensure_hand_server()
        lport = free_port()
        fwd = f"127.0.0.1:{lport}:127.0.0.1:{self.warm_rport}"
        try:
            ran = self.ssh("-f", "-N", "-o", "ExitOnForwardFailure=yes", "-L", fwd, self.alias[delay], timeout=60)
            if ran.returncode != 0:
                raise MeasureError(ran.why())
            status = api_status(lport, token, timeout=10)
            t = time.perf_counter()
            end_wall = time.time()
        finally:
            self.close_tunnels()
        if status != 200:
            raise MeasureError(f"by hand: GET through `ssh -fN -L {fwd}` answered {status}")
        return Sample(t - ran.started, info={"turns": self.turns(ran.started_wall, end_wall)})

    def bare_ssh(self, delay: int) -> Sample:
        ran = self.ssh(self.alias[delay], "true", timeout=60)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds, info={"turns": self.turns(ran.started_wall, ran.started_wall + ran.seconds)})

    # ---- status --------------------------------------------------------------

    def status(self, delay: int) -> Sample:
        ensure = self.rb("up", self.alias[delay], "--detach", "--no-browser", "--json", cwd=self.project[delay])
        if ensure.returncode != 0:  # untimed; quick when up, and after a retry's reset it is not
            raise MeasureError(ensure.why())
        ran = self.rb("status", self.alias[delay], cwd=self.project[delay])
        if ran.returncode != 0:  # 8 = not up: then it measured something else
            raise MeasureError(ran.why())
        return self.with_steps(row(STATUS, delay), ran, ran.seconds, ran.started_wall + ran.seconds)

    # ---- sync ----------------------------------------------------------------

    def control_path(self) -> str:
        return f"{self.runtime}/cm-%C"  # what remotebook's `ssh -G` resolves too: one socket for both

    def prepare_sync(self) -> None:
        """The small projects (SYNC_FILES files, a profile `s`), pushed once, untimed."""
        for d in self.delays:
            project = self.sync_project[d]
            for i in range(SYNC_FILES):
                path = project / f"src{i % 5}" / f"part{i:03d}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"# part {i}\n" + "x = 1\n" * (i % 50))
            (project / "remotebook.toml").write_text(f'[profiles.{SYNC_PROFILE}]\nhost = "{self.alias[d]}"\n')
            self.ensure_master(d)
            ran = self.rb("sync", "push", SYNC_PROFILE, cwd=project, rss=False)
            if ran.returncode != 0:
                raise MeasureError(ran.why())

    def ensure_master(self, delay: int) -> None:
        """A live master on the shared control socket of this alias (opened untimed if missing)."""
        base = ["ssh", "-F", self.cfg, "-o", f"ControlPath={self.control_path()}"]
        check = subprocess.run([*base, "-O", "check", self.alias[delay]], capture_output=True, timeout=15)
        if check.returncode == 0:
            return
        common.open_master(self.cfg, self.control_path(), self.alias[delay])

    def sync_push(self, delay: int, plain: bool) -> Sample:
        self.ensure_master(delay)  # untimed
        project = self.sync_project[delay]
        if plain:
            rsh = shlex.join(["ssh", "-F", self.cfg, "-o", f"ControlPath={self.control_path()}"])
            argv = ["rsync", "-a", "-e", rsh, f"{project}/", f"{self.alias[delay]}:{project.name}/"]
            ran = run_timed(argv, timeout=COMMAND_TIMEOUT)
        else:
            ran = self.rb("sync", "push", SYNC_PROFILE, cwd=project, rss=False)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds, info={"turns": self.turns(ran.started_wall, ran.started_wall + ran.seconds)})

    # ---- start-up --------------------------------------------------------------

    def python(self, *args: str) -> Sample:
        ran = run_timed([sys.executable, *args], timeout=60, env=self.env, cwd=self.work, rss=True)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds, ran.rss_kb)

    def help(self) -> Sample:
        ran = self.rb("--help", cwd=self.work)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds, ran.rss_kb)

    # ---- for run_bench ---------------------------------------------------------

    def tidy(self) -> None:
        for d in self.delays:
            with contextlib.suppress(Exception):
                self.down(d)  # stops the supervisor that the status block's `up --detach` left
        for pid in local.supervisors(self.state):
            common.signal_pid(pid, signal.SIGKILL)
        self.close_tunnels()
        common.close_masters(self.cfg, self.runtime)

    def is_ours(self, args: str) -> bool:
        if "jupyter" not in args:
            return False
        return any(self.server_marker(d) in args for d in self.delays) or any(
            f"--port={p} " in args + " " for p in self.hand_ports
        )


# --------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------

Take = Callable[[], Sample]


def measure(bench: UpBench, args: argparse.Namespace) -> None:
    rec, delays = bench.rec, bench.delays
    say("warm-up (discarded): --help, one ssh and one cold `up` per delay")
    rec.sample("warm-up", bench.help)
    for d in delays:
        rec.sample("warm-up", functools.partial(bench.bare_ssh, d))
        rec.sample("warm-up", functools.partial(bench.cold_up, d))
    rec.drop(["warm-up"])
    bench.steps.clear()

    say(f"start-up block: {args.runs} × ({PY_START}, {PY_HELP}, {RB_HELP}), interleaved")
    once: list[tuple[str, Take]] = [
        (PY_START, lambda: bench.python("-c", "pass")),
        (PY_HELP, lambda: bench.python("-m", "remotebook", "--help")),
        (RB_HELP, bench.help),
    ]
    for i in range(args.runs):
        for name, take in common.rotated(once, i):
            rec.sample(name, take, i)

    def block(label: str, names: list[tuple[str, Callable[[int], Sample]]], runs: int) -> None:
        items = [(row(name, d), take, d) for d in delays for name, take in names]
        say(f"{label} block: {runs} × ({', '.join(n for n, _, _ in items)}), interleaved")
        for i in range(runs):
            for name, take, d in common.rotated(items, i):
                rec.sample(name, functools.partial(take, d), i)

    block("cold", [(COLD_UP, bench.cold_up), (COLD_HAND, bench.cold_by_hand)], args.cold_runs)
    with contextlib.suppress(MeasureError, HarnessError):
        bench.go_cold()  # only tidies up after the cold block: each warm sample sets up its own server
    block("warm", [(WARM_UP, bench.warm_up), (WARM_HAND, bench.warm_by_hand), (BARE, bench.bare_ssh)], args.runs)
    block("status", [(STATUS, bench.status)], args.runs)
    if not args.no_sync:
        for d in delays:
            bench.down(d)  # the status block's supervisors and forwards; the sync rows ride a master of their own
        common.close_masters(bench.cfg, bench.runtime)
        bench.prepare_sync()
        block(
            "sync",
            [(SYNC_RB, lambda d: bench.sync_push(d, plain=False)), (SYNC_PLAIN, lambda d: bench.sync_push(d, True))],
            args.runs,
        )


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def _turns_cell(samples: list[Sample]) -> str:
    xs = [s.info["turns"] for s in samples if "turns" in s.info]
    if not xs:
        return "—"
    med = statistics.median(xs)
    return f"{med:g}" + (f" ({min(xs)}–{max(xs)})" if min(xs) != max(xs) else "")


def _time_cells(samples: list[Sample]) -> list[str]:
    st = common.stats(samples)
    return [f"{st[0]:.3f}", f"{st[1]:.3f}–{st[2]:.3f}", str(len(samples))] if st else ["—", "—", "0"]


def _ratio_cell(res: dict[str, list[Sample]], a: str, b: str) -> str:
    r = common.ratio(res.get(a, []), res.get(b, []))
    return f"{r:.2f} ×{common.pairs_range(res.get(a, []), res.get(b, []))}" if r else "n/a"


def render(info: dict[str, str], bench: UpBench, args: argparse.Namespace) -> str:
    res = bench.rec.results
    d0, dw = bench.delays
    lines = [
        f"## remotebook up / status / sync benchmark, 0 ms and {dw} ms each way — {info['date']}",
        "",
        common.machine_line(info, args.netns),
        f"The {dw} ms rows go through bench/delay_proxy.py (alias `{WAN_ALIAS}`; a {2 * dw} ms round trip). "
        f"Runs: {args.runs} (cold: {args.cold_runs}), after discarded warm-ups; all rows interleaved.",
        "",
    ]
    body = []
    for name in BY_DELAY:
        a, b = res.get(row(name, d0), []), res.get(row(name, dw), [])
        if a or b:
            body.append([name.replace("ALIAS", "rbremote/rbwan"), *_time_cells(a), *_time_cells(b), _turns_cell(b)])
    for name in ONCE:
        body.append([name, *_time_cells(res.get(name, [])), "", "", "", ""])
    header = ["measurement", "0 ms: median s", "min–max", "n", f"{dw} ms: median s", "min–max", "n"]
    lines += table([*header, f"round trips at {dw} ms"], body, right=range(1, 8))

    def r(a: str, b: str, d: int) -> str:
        return _ratio_cell(res, row(a, d), row(b, d))

    def v(a: str, b: str, d: int, goal: float) -> str:
        x = common.ratio(res.get(row(a, d), []), res.get(row(b, d), []))
        return common.verdict(x, goal, " ×") if x else "n/a"

    st0, stw = common.median(res.get(row(STATUS, d0), [])), common.median(res.get(row(STATUS, dw), []))
    help_ = common.median(res.get(RB_HELP, []))
    ratios = [
        ["warm `up` / by hand, warm", r(WARM_UP, WARM_HAND, d0), r(WARM_UP, WARM_HAND, dw), f"≤ {GOAL_WARM_HAND} × at {dw} ms", v(WARM_UP, WARM_HAND, dw, GOAL_WARM_HAND)],
        ["warm `up` / bare ssh", r(WARM_UP, BARE, d0), r(WARM_UP, BARE, dw), f"≤ {GOAL_WARM_BARE} × at 0 ms", v(WARM_UP, BARE, d0, GOAL_WARM_BARE)],
        ["by hand, warm / bare ssh", r(WARM_HAND, BARE, d0), r(WARM_HAND, BARE, dw), "(reference)", "—"],
        ["cold `up` / by hand, cold", r(COLD_UP, COLD_HAND, d0), r(COLD_UP, COLD_HAND, dw), f"≤ {GOAL_COLD} × at {dw} ms", v(COLD_UP, COLD_HAND, dw, GOAL_COLD)],
        ["no-change `sync push` / plain rsync", r(SYNC_RB, SYNC_PLAIN, d0), r(SYNC_RB, SYNC_PLAIN, dw), f"≤ {GOAL_SYNC} × at {dw} ms", v(SYNC_RB, SYNC_PLAIN, dw, GOAL_SYNC)],
        ["`status`, s", f"{st0:.3f}" if st0 else "n/a", f"{stw:.3f}" if stw else "n/a", f"≤ {GOAL_STATUS_LOOP} s at 0, ≤ {GOAL_STATUS_WAN} s at {dw} ms",
         f"0 ms: {common.verdict(st0, GOAL_STATUS_LOOP, ' s')}; {dw} ms: {common.verdict(stw, GOAL_STATUS_WAN, ' s')}"],
        ["`remotebook --help`, s", f"{help_:.3f}" if help_ else "n/a", "", f"≤ {GOAL_HELP} s", common.verdict(help_, GOAL_HELP, " s")],
    ]  # fmt: skip
    lines += ["", "Ratios (medians over medians; in brackets the range of the per-round ratios):", ""]
    lines += table(["ratio", "0 ms", f"{dw} ms", "goal", "verdict"], ratios)
    for name in (WARM_UP, STATUS, COLD_UP):
        lines += ["", *step_table(res, name, d0, dw)]
    hand = [s.phases for s in res.get(row(COLD_HAND, dw), []) if s.phases]
    if hand:
        lines += ["", f"By hand, cold, at {dw} ms: " + "; ".join(
            f"{k} {statistics.median(p[k] for p in hand):.3f} s" for k in hand[0]
        )]  # fmt: skip
    rss = [[name, f"{statistics.median(xs):.1f}"] for name in (row(WARM_UP, d0), row(STATUS, d0), RB_HELP, PY_START)
           if (xs := [s.rss_kb / 1024 for s in res.get(name, []) if s.rss_kb])]  # fmt: skip
    if rss:
        lines += ["", "Peak RSS (GNU time %M), MiB: " + "; ".join(f"{n} {x}" for n, x in rss) + "."]
    lines += timeline(bench, row(WARM_UP, dw)) + timeline(bench, row(STATUS, dw))
    lines += common.failed_lines(bench.rec.failed)
    return "\n".join(lines)


def step_table(res: dict[str, list[Sample]], name: str, d0: int, dw: int) -> list[str]:
    """Median seconds per step at both delays, and the median round trips of each step at dw."""
    a, b = res.get(row(name, d0), []), res.get(row(name, dw), [])
    kinds: list[str] = []
    for s in (*a, *b):
        kinds += [k for k in s.phases if k not in kinds]
    for s in b:
        kinds += [k for k in s.info.get("step_turns", {}) if k not in kinds]
    if not kinds:
        return []

    def med(samples: list[Sample], k: str) -> str:
        xs = [s.phases.get(k, 0.0) for s in samples if s.phases]
        return f"{statistics.median(xs):.3f}" if xs and k in {p for s in samples for p in s.phases} else "—"

    def trips(k: str) -> str:
        xs = [s.info["step_turns"].get(k, 0) for s in b if "step_turns" in s.info]
        return f"{statistics.median(xs):g}" if xs else "—"

    body = [[k, med(a, k), med(b, k), trips(k)] for k in kinds]
    body.append(["**total**", *(f"{m:.3f}" if (m := common.median(x)) else "—" for x in (a, b)), _turns_cell(b)])
    title = f"Steps of {name} (medians; ssh calls as timed in remotebook's DEBUG log, round trips from the proxy):"
    return [title, "", *table(["step", "0 ms s", f"{dw} ms s", f"round trips at {dw} ms"], body, right=(1, 2, 3))]


def timeline(bench: UpBench, name: str) -> list[str]:
    """The calls of the last sample of `name`, in order: when, how long, how many round trips."""
    runs = bench.steps.get(name, [])
    if not runs:
        return []
    body = [
        [f"{s.offset:.3f}" if s.kind != OUTSIDE else "", f"{s.seconds:.3f}" if s.kind != OUTSIDE else "", s.kind, str(s.turns)]
        for s in runs[-1]
    ]  # fmt: skip
    return [
        "",
        f"One sample of {name}, call by call:",
        "",
        *table(["at s", "took s", "call", "round trips"], body, right=(0, 1, 3)),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_up", description=__doc__.splitlines()[0])
    common.add_common_args(p, runs=5)
    p.add_argument("--cold-runs", type=int, default=None, help="samples per cold measurement (default: --runs)")
    p.add_argument("--delay-ms", type=int, default=25, help="the delayed rows' delay each way, ms (default 25)")
    p.add_argument("--no-sync", action="store_true", help="skip the no-change sync rows")
    args = p.parse_args(argv)
    if args.cold_runs is None:
        args.cold_runs = args.runs
    common.check_runs(p, args.runs, args.cold_runs)
    if not 1 <= args.delay_ms <= 1000:
        p.error("--delay-ms must be between 1 and 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return common.run_bench(
        args,
        "up",
        lambda host, work, runtime: UpBench(host, work, runtime, args.delay_ms),
        lambda bench: measure(bench, args),
        lambda info, bench: render(info, bench, args),
    )


if __name__ == "__main__":
    sys.exit(main())
