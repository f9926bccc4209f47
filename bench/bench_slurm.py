"""How fast `remotebook up` reaches Jupyter in a Slurm job, next to the same job by hand, and how often it asks Slurm.

`.venv/bin/python -m bench.bench_slurm [--runs N] [--window S]` from the repo root, as root: it starts the
throwaway remote of tests/harness with its two-node Slurm (tests/harness/slurm.py: the harness's namespace
is the login node, a second namespace the compute node, reachable only through the login node) and
measures, interleaved so that drift hits both sides alike:

* `remotebook up hpc --detach --no-browser --json` on the idle cluster, until GET /api/status answers 200
  on the local port (submit, poll, relay on the login node, forward);
* the same job by hand over one ssh master: `sbatch --wrap "jupyter lab --ip=NODE --port=P ..."`, poll
  `squeue` every second until RUNNING, `ssh -O forward -L LOCAL:NODE:P` through the login node, poll the
  local port until 200 (the recipe of most cluster docs);

then the scheduler load, from remotebook's own DEBUG log (each `slurm` remote exchange runs one
`scontrol show job` on the login node, plus one `squeue` when it has no job of record):

* while pending: `up` against a node held by another user's job, for --window seconds (`--wait-timeout`);
* while running: the background supervisor of an `up --detach`, for --window seconds.

Goals: up <= 1.2 x by hand; <= 20 scheduler queries a minute pending, <= 2 running. It prints Markdown
tables on stdout and progress on stderr; nothing is asserted. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import local
from tests.harness.remote_host import JUPYTER_VENV, OTHER_USER, RemoteHost
from tests.harness.slurm import SlurmCluster, start_slurm

from bench import common
from bench.common import ALIAS, MeasureError, Recorder, Sample, poll_200, run_timed, table

PROFILE = (
    '[profiles.hpc]\nhost = "rbremote"\nscheduler = "slurm"\nremote_dir = "~/benchproj"\n'
    '[profiles.hpc.slurm]\ntime = "0:20:00"\n'
)
UP_TIMEOUT = 180.0
READY_DEADLINE = 120.0  # by hand: how long the job may take to start and answer
SQUEUE_EVERY = 1.0  # by hand: one squeue a second (kinder scripts wait 5-10 s)
GOAL_RATIO = 1.2
GOAL_PENDING = 20.0
GOAL_RUNNING = 2.0
UP_ROW, HAND_ROW = "`remotebook up` -> first 200", "by hand: sbatch, squeue, ssh -L -> first 200"
PENDING_ROW, RUNNING_ROW = "scheduler queries a minute, pending", "scheduler queries a minute, running"


class SlurmBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path) -> None:
        self.host, self.work, self.runtime = host, work, runtime
        self.cluster: SlurmCluster = start_slurm(host)
        self.rec = Recorder(host, on_retry=self.cluster.cancel_all)
        self.state = work / "state"
        self.project = work / "benchproj"
        self.project.mkdir()
        (self.project / "remotebook.toml").write_text(PROFILE)
        self.env = common.bench_env(host, work, runtime)
        self.cfg = str(host.ssh_config)
        self.hand_cp = str(runtime / "hand.sock")
        self.hand_ports: set[int] = set()
        self.remotebook("trust", "--yes")

    def remotebook(self, *args: str, timeout: float = UP_TIMEOUT) -> common.Ran:
        return run_timed([*common.remotebook_argv(), *args], timeout=timeout, env=self.env, cwd=self.project)

    def ssh(self, *argv: str, timeout: float = 30) -> str:
        out = subprocess.run(
            ["ssh", "-F", self.cfg, "-o", f"ControlPath={self.hand_cp}", ALIAS, shlex.join(argv)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise MeasureError(f"ssh {' '.join(argv)[:60]} exited {out.returncode}: {out.stderr.strip()[-300:]}")
        return out.stdout

    def no_jobs(self) -> None:
        """Every job gone (bounded), and the user's cluster-side ssh files in place (a reset wipes them)."""
        self.cluster.cancel_all()
        self.cluster.write_user_files()

    # ---- the two ways to the first 200 -------------------------------------

    def up(self) -> Sample:
        self.no_jobs()
        ran = self.remotebook("up", "hpc", "--detach", "--no-browser", "--json")
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        report = json.loads(ran.stdout)
        got = poll_200(report["local_port"], report["token"], 15.0)
        if got is None:
            raise MeasureError("`up` returned, but the forward did not answer 200")
        seconds = max(ran.seconds, got - ran.started)
        lines = common.lines_of_run(self.state, ran.started_wall)
        steps = common.phases(lines, ran.started_wall, ran.seconds, step_of, "python start-up", "pauses between polls")
        self.remotebook("down", "hpc", "--server", timeout=120)
        return Sample(seconds, phases=steps, info={"job": report["server"]["location"]["job"]})

    def by_hand(self) -> Sample:
        self.no_jobs()
        node, port = self.cluster.node_address, common.new_remote_port(self.hand_ports)
        local_port, token = common.free_port(), secrets.token_urlsafe(32)
        job = ""
        try:
            started = time.perf_counter()  # from no connection, as `up` (one master, reused by every step)
            common.open_master(self.cfg, self.hand_cp, ALIAS)
            wrap = (
                f"exec {JUPYTER_VENV}/bin/jupyter lab --no-browser --ip={node} --port={port} "
                f"--IdentityProvider.token={token} --ServerApp.root_dir=$HOME"
            )
            job = self.ssh("sbatch", "--parsable", "--time=20", "--output=/dev/null", f"--wrap={wrap}").strip()
            end = started + READY_DEADLINE
            while self.ssh("squeue", "-h", "-j", job, "-o", "%T").strip() != "RUNNING":
                if time.perf_counter() > end:
                    raise MeasureError(f"job {job} did not run in {READY_DEADLINE:.0f}s")
                time.sleep(SQUEUE_EVERY)  # the by-hand recipe's own pace, not a readiness guess of ours
            forward = ["ssh", "-F", self.cfg, "-o", f"ControlPath={self.hand_cp}", "-O", "forward"]
            subprocess.run([*forward, "-L", f"127.0.0.1:{local_port}:{node}:{port}", ALIAS], check=True, timeout=30)
            got = poll_200(local_port, token, max(1.0, end - time.perf_counter()))
            if got is None:
                raise MeasureError(f"no 200 from the job's Jupyter on {node}:{port}")
            return Sample(got - started, info={"job": job})
        finally:
            common.close_masters(self.cfg, self.runtime)
            self.no_jobs()

    # ---- the scheduler's load ----------------------------------------------

    def pending_rate(self, window: float) -> Sample:
        """`up` while another user's job holds the node: its slurm exchanges a minute, until its wait ends."""
        self.no_jobs()
        (self.project / "remotebook.toml").write_text(PROFILE + "cpus = 2\n")
        self.remotebook("trust", "--yes")
        try:
            self.cluster.on_login(["sbatch", "--parsable", "-c", "2", "--wrap", "sleep 900"], user=OTHER_USER)
            ran = self.remotebook("up", "hpc", "--detach", "--no-browser", "--wait-timeout", str(int(window)))
            if ran.returncode != 6:
                raise MeasureError(f"expected `up` to time out in the queue (exit 6): {ran.why()}")
            exchanges = slurm_exchanges(common.lines_of_run(self.state, ran.started_wall))
            return Sample(exchanges / (ran.seconds / 60), info={"exchanges": exchanges, "seconds": ran.seconds})
        finally:
            (self.project / "remotebook.toml").write_text(PROFILE)
            self.remotebook("trust", "--yes")
            self.no_jobs()

    def running_rate(self, window: float) -> Sample:
        """The background supervisor of a running job: its slurm exchanges a minute over `window` seconds."""
        self.no_jobs()
        ran = self.remotebook("up", "hpc", "--detach", "--no-browser", "--json")
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        try:
            since = time.time()
            time.sleep(window)  # the window we count over: what the supervisor does when nothing happens
            lines = [x for x in common.read_log(self.state) if x.wall >= since]
            return Sample(slurm_exchanges(lines) / (window / 60), info={"exchanges": slurm_exchanges(lines)})
        finally:
            self.remotebook("down", "hpc", "--server", timeout=120)

    # ---- cleanup -------------------------------------------------------------

    def tidy(self) -> None:
        with contextlib.suppress(Exception):
            self.remotebook("down", "hpc", "--server", timeout=120)
        for pid in local.supervisors(self.state):
            common.signal_pid(pid, signal.SIGKILL)
        common.close_masters(self.cfg, self.runtime)
        with contextlib.suppress(Exception):
            self.cluster.cancel_all()
        self.cluster.stop()

    def is_ours(self, args: str) -> bool:
        return "jupyter" in args and any(f"--port={p} " in args + " " for p in self.hand_ports)


def step_of(argv: str) -> str:
    """What a subprocess of `up` was for, by its argv (as remotebook logged it)."""
    if " -O forward " in argv:
        return "forward"
    if "ControlMaster=yes" in argv or " -M " in argv:
        return "ssh master"
    if " -O " in argv:
        return "master checks"
    return "remote exchanges (sbatch, polls, relay)"


def slurm_exchanges(lines: list[common.LogLine]) -> int:
    """Remote exchanges with the login node's Slurm script: each runs one scheduler query (see the docstring)."""
    return sum(1 for x in lines if x.message.startswith("remote exchange: slurm "))


def measure(bench: SlurmBench, args: argparse.Namespace) -> None:
    bench.rec.record("warm-up", lambda: {"warm-up": bench.up()})  # the first job: caches, Jupyter's first start
    bench.rec.drop(["warm-up"])
    for i in range(args.runs):
        for name in common.rotated([UP_ROW, HAND_ROW], i):
            bench.rec.sample(name, bench.up if name == UP_ROW else bench.by_hand, round_=i)
    bench.rec.sample(PENDING_ROW, lambda: bench.pending_rate(args.window))
    bench.rec.sample(RUNNING_ROW, lambda: bench.running_rate(args.window))


def render(info: dict[str, str], bench: SlurmBench, args: argparse.Namespace) -> str:
    r = bench.rec.results
    up, hand = r.get(UP_ROW, []), r.get(HAND_ROW, [])
    spread = common.pairs_range(up, hand)
    rows = [
        common.stat_row(
            UP_ROW,
            up,
            f"<= {GOAL_RATIO} x by hand",
            common.verdict(common.ratio(up, hand), GOAL_RATIO, " x", spread),
            2,
        ),
        common.stat_row(HAND_ROW, hand, "baseline", "", 2),
    ]
    load = [
        common.stat_row(
            PENDING_ROW,
            r.get(PENDING_ROW, []),
            f"<= {GOAL_PENDING:.0f}",
            common.verdict(common.median(r.get(PENDING_ROW, [])), GOAL_PENDING, ""),
            1,
        ),
        common.stat_row(
            RUNNING_ROW,
            r.get(RUNNING_ROW, []),
            f"<= {GOAL_RUNNING:.0f}",
            common.verdict(common.median(r.get(RUNNING_ROW, [])), GOAL_RUNNING, ""),
            1,
        ),
    ]
    steps: dict[str, list[float]] = {}
    for sample in up:
        for name, seconds in sample.phases.items():
            steps.setdefault(name, []).append(seconds)
    step_rows = [[name, f"{statistics.median(xs):.2f}"] for name, xs in steps.items()]
    out = [
        f"### Slurm: `up` to the first 200 on the idle fixture cluster ({args.runs} rounds, seconds)",
        "",
        common.machine_line(info, True),
        "",
        *table(["what", "median", "min", "max", "n", "goal", "verdict"], rows, right=(1, 2, 3, 4)),
        "",
        "Where `up`'s time goes (medians, seconds):",
        "",
        *table(["step", "seconds"], step_rows, right=(1,)),
        "",
        f"### Slurm: scheduler queries a minute ({args.window:.0f} s windows)",
        "",
        *table(["what", "median", "min", "max", "n", "goal", "verdict"], load, right=(1, 2, 3, 4)),
        *common.failed_lines(bench.rec.failed),
    ]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    common.add_common_args(p, runs=3)
    p.add_argument("--window", type=float, default=60.0, help="seconds each scheduler-load window lasts (default 60)")
    args = p.parse_args(argv)
    common.check_runs(p, args.runs)
    if not 10 <= args.window <= 900:
        p.error("--window must be between 10 and 900 seconds")
    if not args.netns:
        p.error("the Slurm cluster needs the harness in a network namespace")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return common.run_bench(
        args,
        "slurm",
        lambda host, work, runtime: SlurmBench(host, work, runtime),
        lambda bench: measure(bench, args),
        lambda info, bench: render(info, bench, args),
    )


if __name__ == "__main__":
    sys.exit(main())
