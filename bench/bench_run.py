"""The overhead of `remotebook run` on a notebook of quick cells, next to `jupyter execute` on the server itself.

`.venv/bin/python -m bench.bench_run [--runs N] [--cells C]` from the repo root, as root: it starts the
throwaway remote of tests/harness (user rbtest, alias rbremote), makes a project whose notebook has C
quick cells (default 50), and measures, interleaved so that drift hits both sides alike:

* `remotebook run nb.ipynb s`, attached, from this computer: push (when changed), run, follow, pull;
* the same run as the server's runner saw it (start of prepare to the end, from its state file), and
  the time from the last cell's reply to the saved notebook (the issue's goal: <= 2 s);
* `jupyter execute --inplace` of the same notebook on the server, as rbtest in a login shell, same
  kernel (python3 of the harness's Jupyter venv): the by-hand baseline, with no ssh at all.

Goal: remotebook <= 1.3 x jupyter execute. It prints a Markdown table on stdout, progress on stderr;
nothing is asserted. It takes the harness's machine-wide lock, as the integration tests do, so it
waits for (and never overlaps with) a test run. Every wait has a deadline, every loop a bound.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.remote_host import JUPYTER_USER, RemoteHost, start_remote_host

from bench.bench_up import MAX_RUNS, Ran, run_timed, say

LOCK = "/run/remotebook-harness.lock"
LOCK_WAIT = 3600.0
TIMEOUT = 300.0
GOAL_RATIO = 1.3
GOAL_SAVE_S = 2.0


def notebook(cells: int) -> str:
    code = [
        {
            "cell_type": "code",
            "source": f"x{i} = {i}\nprint(x{i})",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
        }
        for i in range(cells)
    ]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": code})


def take_lock() -> int:
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    for _ in range(int(LOCK_WAIT / 0.5) + 2):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)  # another harness user (a test run): waiting for it, not for readiness
    raise SystemExit("another harness held the machine lock for an hour")


class RunBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path, cells: int) -> None:
        self.host, self.cells = host, cells
        self.project = work / "benchproj"
        self.project.mkdir()
        (self.project / "remotebook.toml").write_text('[profiles.s]\nhost = "rbremote"\nremote_dir = "~/benchproj"\n')
        self.env = {
            **os.environ,
            "REMOTEBOOK_SSH_CONFIG": str(host.ssh_config),
            "REMOTEBOOK_STATE_DIR": str(work / "state"),
            "REMOTEBOOK_CONFIG_DIR": str(work / "state" / "config"),
            "REMOTEBOOK_RUNTIME_DIR": str(runtime),
        }
        self.remotebook("trust", "--yes")

    def remotebook(self, *args: str) -> Ran:
        ran = run_timed([sys.executable, "-m", "remotebook", *args], timeout=TIMEOUT, env=self.env, cwd=self.project)
        if ran.returncode != 0:
            raise RuntimeError(f"remotebook {' '.join(args)} exited {ran.returncode}: {ran.stderr[-2000:]}")
        return ran

    def by_hand(self) -> float:
        """`jupyter execute --inplace` on the server, timed there (no ssh): the baseline."""
        script = "cd ~/benchproj && cp nb.ipynb hand.ipynb && s=$(date +%s.%N) && jupyter execute --inplace hand.ipynb 2>/dev/null && e=$(date +%s.%N) && echo $s $e"
        out = self.host.run_as(JUPYTER_USER, ["bash", "-lc", script], timeout=TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(f"jupyter execute failed: {out.stderr[-2000:]}")
        start, end = (float(x) for x in out.stdout.split()[-2:])
        return end - start

    def remotebook_run(self, changed: bool) -> tuple[float, float, float]:
        """(the whole CLI, the server's view of the run, last reply -> saved) for one attached run."""
        if changed:  # a local edit: this run pushes, as after editing the notebook
            (self.project / "nb.ipynb").write_text(notebook(self.cells))
        ran = self.remotebook("run", "nb.ipynb", "s", "--json")
        report = json.loads(ran.stdout)["run"]
        state = json.loads((Path(report["dir"]) / "run.json").read_text())
        return ran.seconds, state["ended"] - state["started"], state["ended"] - state["last_reply"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cells", type=int, default=50)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("needs root (the harness creates users, a network namespace and sshds)")
        return 2
    runs = max(1, min(args.runs, MAX_RUNS))
    fd = take_lock()
    work = Path(tempfile.mkdtemp(prefix="rbrun-"))
    runtime = Path(tempfile.mkdtemp(prefix="rbru-", dir="/tmp"))
    host = None
    try:
        say("starting the harness remote")
        host = start_remote_host(work / "remote", netns=True)
        bench = RunBench(host, work, runtime, args.cells)
        (bench.project / "nb.ipynb").write_text(notebook(args.cells))
        bench.remotebook_run(False)  # warm-up (untimed): first push, the remote's caches
        bench.by_hand()
        cli, server, save, hand = [], [], [], []
        for n in range(runs):
            say(f"sample {n + 1}/{runs}")
            total, inside, saved = bench.remotebook_run(changed=n % 2 == 1)
            cli.append(total)
            server.append(inside)
            save.append(saved)
            hand.append(bench.by_hand())
        print(render(args.cells, cli, server, save, hand))
    finally:
        if host is not None:
            host.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
        os.close(fd)
    return 0


def render(cells: int, cli: list[float], server: list[float], save: list[float], hand: list[float]) -> str:
    med = statistics.median
    ratio = med(cli) / med(hand)
    rows = [
        f"| `remotebook run` from here (push, run, follow, pull) | {med(cli):.2f} s | {ratio:.2f} x | {'met' if ratio <= GOAL_RATIO else 'missed'} (<= {GOAL_RATIO} x) |",
        f"| the run on the server (prepare to end, its runner) | {med(server):.2f} s | {med(server) / med(hand):.2f} x | |",
        f"| `jupyter execute --inplace` on the server | {med(hand):.2f} s | 1.00 x | baseline |",
        f"| last cell's reply -> notebook saved | {max(save) * 1000:.0f} ms (worst) | | {'met' if max(save) <= GOAL_SAVE_S else 'missed'} (<= {GOAL_SAVE_S:.0f} s) |",
    ]
    head = f"### `remotebook run`, {cells} quick cells, {len(cli)} samples (medians)\n\n| what | time | vs by hand | goal |\n|---|---|---|---|\n"
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.exit(main())
