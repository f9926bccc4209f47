"""What the live view of a foreground `remotebook up` costs while nobody touches it: CPU, redraws, processes.

`.venv/bin/python -m bench.bench_live [--runs N] [--window S]` from the repo root, as root: it starts the
throwaway remote of tests/harness (real sshd in a network namespace, user rbtest with JupyterLab on its
login PATH) and, for each sample, runs `remotebook up rbremote --no-browser` in the foreground, either

* on a pseudo-terminal (tests/harness/terminal.py: the pty is its controlling tty, 200x50, TERM=xterm):
  the live view; or
* with stdout a file and stdin /dev/null: the plain lines, the same supervisor without a screen;

waits until it is up and settled, then reads, over an idle window of S seconds (default 30), its CPU time
(utime+stime of `up` and of its reaped children, from /proc/PID/stat), the screens it drew (each redraw
of rich's alternate screen starts with the cursor-home code ESC[H), and the processes it started (`run:`
lines of its DEBUG log: `ssh -O check` and the like; a remote shell would show here too). Goals: the view
idle at <= 1 % of a core, <= 1 redraw per second.

It prints a Markdown table on stdout and progress on stderr. Nothing is asserted. The harness is always
stopped and no ssh or Jupyter process of this run is left behind; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import local
from tests.harness.remote_host import RemoteHost
from tests.harness.terminal import Terminal

from bench import common
from bench.common import ALIAS, MeasureError, Recorder, Sample, table

SETTLE = 5.0  # after the first screen: the first polls and the supervisor's first checks are done
UP_DEADLINE = 120.0
STOP_DEADLINE = 30.0
GOAL_CPU = 1.0  # % of one core
GOAL_REDRAWS = 1.0  # per second
FRAME = b"\x1b[H"  # rich redraws its alternate screen from the top-left corner
TICKS = os.sysconf("SC_CLK_TCK")
ROWS = ("live view on a terminal", "plain lines (stdout a file)")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its reaped children (fields 14-17 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


class LiveBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path, window: float, netns: bool) -> None:
        self.host, self.work, self.runtime, self.window, self.netns = host, work, runtime, window, netns
        self.state = work / "state"
        self.project = work / "proj"
        self.project.mkdir()
        self.env = local.remotebook_env(host, self.state, runtime)
        self.rec = Recorder(host, on_retry=self.tidy)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "remotebook", *args]

    def tidy(self) -> None:
        subprocess.run(self.argv("down", ALIAS), cwd=self.project, env=self.env, capture_output=True, timeout=60)
        common.close_masters(str(self.host.ssh_config), self.runtime)

    def is_ours(self, args: str) -> bool:
        return str(self.state) in args

    def _ssh_runs(self, pid: int, start: float, end: float) -> int:
        lines = [x for x in common.read_log(self.state) if x.pid == pid and start <= x.wall <= end]
        return sum(1 for x in lines if x.message.startswith(("run: ", "stream: ")))

    def _window(self, pid: int, frames: Terminal | None) -> Sample:
        first = frames.mark() if frames else 0
        wall, cpu0, t0 = time.time(), cpu_seconds(pid), time.monotonic()
        time.sleep(self.window)  # the measurement itself: an idle stretch of known length
        cpu, seconds = cpu_seconds(pid) - cpu0, time.monotonic() - t0
        drawn = frames.count(FRAME, first) if frames else 0
        return Sample(
            100 * cpu / seconds,
            info={"redraws_per_s": drawn / seconds, "processes": self._ssh_runs(pid, wall, time.time()), "s": seconds},
        )

    def live(self) -> Sample:
        term = Terminal(self.argv("up", ALIAS, "--no-browser"), cwd=self.project, env=self.env)
        try:
            term.wait_for("kernels", since=max(0, term.find(b"\x1b[?1049h")), timeout=UP_DEADLINE)
            time.sleep(SETTLE)
            sample = self._window(term.proc.pid, term)
            term.press(b"q")
            if term.wait(timeout=STOP_DEADLINE) != 0:
                raise MeasureError(f"`up` exited {term.proc.returncode} after q")
            return sample
        except (AssertionError, subprocess.TimeoutExpired) as e:
            raise MeasureError(str(e)[:300]) from None
        finally:
            term.close()

    def plain(self) -> Sample:
        out = self.work / "plain.out"
        with out.open("wb") as f:
            proc = subprocess.Popen(
                self.argv("up", ALIAS, "--no-browser"), cwd=self.project, env=self.env, stdin=subprocess.DEVNULL,
                stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            end = time.monotonic() + UP_DEADLINE
            while b"Jupyter is up" not in out.read_bytes():
                if proc.poll() is not None or time.monotonic() > end:
                    raise MeasureError(f"plain `up` not up: {out.read_text(errors='replace')[-300:]}")
                time.sleep(0.1)
            time.sleep(SETTLE)
            sample = self._window(proc.pid, None)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=STOP_DEADLINE)
            return sample
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_DEADLINE)


def measure(bench: LiveBench, runs: int) -> None:
    ran = subprocess.run(bench.argv("up", ALIAS, "--detach", "--no-browser", "--json"), cwd=bench.project,
                         env=bench.env, capture_output=True, timeout=UP_DEADLINE)  # fmt: skip
    if ran.returncode != 0:
        raise MeasureError(f"warm-up `up` failed: {ran.stderr.decode(errors='replace')[-300:]}")
    bench.tidy()  # the server stays: every sample is a warm foreground `up`, as in daily use
    for i in range(runs):
        for name, take in common.rotated([(ROWS[0], bench.live), (ROWS[1], bench.plain)], i):
            bench.rec.sample(name, take, i)


def render(info: dict[str, str], bench: LiveBench) -> str:
    rows = []
    for name in ROWS:
        samples = bench.rec.results.get(name, [])
        cpu = common.stats(samples)
        redraws = common.summary([s.info["redraws_per_s"] for s in samples])
        procs = common.summary([s.info["processes"] * 60 / s.info["s"] for s in samples])
        goal = f"≤ {GOAL_CPU:g} %, ≤ {GOAL_REDRAWS:g}/s" if name == ROWS[0] else "(baseline)"
        verdict = "n/a"
        if name == ROWS[0] and cpu and redraws:
            verdict = "meets goal" if cpu[2] <= GOAL_CPU and redraws[2] <= GOAL_REDRAWS else "**misses goal**"
        rows.append(
            [
                name,
                f"{cpu[0]:.2f} ({cpu[1]:.2f}–{cpu[2]:.2f})" if cpu else "—",
                f"{redraws[0]:.2f} (max {redraws[2]:.2f})" if redraws else "—",
                f"{procs[0]:.0f}" if procs else "—",
                str(len(samples)),
                goal,
                verdict,
            ]
        )
    head = ["foreground `up`, idle", "CPU % of a core, median (min–max)", "redraws/s", "processes/min", "n", "goal"]
    lines = [
        f"### The live view idle: {bench.window:.0f} s windows",
        "",
        common.machine_line(info, bench.netns),
        "",
        *table([*head, "verdict"], rows, right=(1, 2, 3, 4)),
        *common.failed_lines(bench.rec.failed),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    common.add_common_args(p, runs=3)
    p.add_argument("--window", type=float, default=30.0, help="seconds of each idle window (default 30)")
    args = p.parse_args(argv)
    common.check_runs(p, args.runs)
    if not 5 <= args.window <= 600:
        p.error("--window must be between 5 and 600 seconds")
    return common.run_bench(
        args,
        "live",
        lambda host, work, runtime: LiveBench(host, work, runtime, args.window, args.netns),
        lambda bench: measure(bench, args.runs),
        render,
    )


if __name__ == "__main__":
    sys.exit(main())
