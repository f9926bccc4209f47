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
nothing is asserted. It runs through bench/common.py like every bench: the machine-wide harness lock (it
waits for, and never overlaps with, a test run), retried samples, cleanup and the leftover sweep.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from tests.harness.remote_host import JUPYTER_USER, RemoteHost

from bench import common
from bench.common import MeasureError, Recorder, Sample

TIMEOUT = 300.0
GOAL_RATIO = 1.3
GOAL_SAVE_S = 2.0
CLI = "`remotebook run` from here (push, run, follow, pull)"
SERVER = "the run on the server (prepare to end, its runner)"
HAND = "`jupyter execute --inplace` on the server"
SAVE = "last cell's reply -> notebook saved"


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


class RunBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path, cells: int) -> None:
        self.host, self.cells, self.runtime = host, cells, runtime
        self.rec = Recorder(host)
        self.project = work / "benchproj"
        self.project.mkdir()
        (self.project / "remotebook.toml").write_text('[profiles.s]\nhost = "rbremote"\nremote_dir = "~/benchproj"\n')
        self.env = common.bench_env(host, work, runtime)
        self.remotebook("trust", "--yes")
        (self.project / "nb.ipynb").write_text(notebook(cells))

    def remotebook(self, *args: str) -> common.Ran:
        ran = common.run_timed([*common.remotebook_argv(), *args], timeout=TIMEOUT, env=self.env, cwd=self.project)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return ran

    def by_hand(self) -> dict[str, Sample]:
        """`jupyter execute --inplace` on the server, timed there (no ssh): the baseline."""
        script = "cd ~/benchproj && cp nb.ipynb hand.ipynb && s=$(date +%s.%N) && jupyter execute --inplace hand.ipynb 2>/dev/null && e=$(date +%s.%N) && echo $s $e"
        out = self.host.run_as(JUPYTER_USER, ["bash", "-lc", script], timeout=TIMEOUT)
        if out.returncode != 0:
            raise MeasureError(f"jupyter execute failed: {out.stderr[-2000:]}")
        start, end = (float(x) for x in out.stdout.split()[-2:])
        return {HAND: Sample(end - start)}

    def remotebook_run(self, changed: bool) -> dict[str, Sample]:
        """The whole CLI, the server's view of the run, last reply -> saved: one attached run."""
        if changed:  # a local edit: this run pushes, as after editing the notebook
            (self.project / "nb.ipynb").write_text(notebook(self.cells))
        ran = self.remotebook("run", "nb.ipynb", "s", "--json")
        report = json.loads(ran.stdout)["run"]
        state = json.loads((Path(report["dir"]) / "run.json").read_text())
        return {
            CLI: Sample(ran.seconds),
            SERVER: Sample(state["ended"] - state["started"]),
            SAVE: Sample(state["ended"] - state["last_reply"]),
        }

    def tidy(self) -> None:
        self.remotebook("down", "s", "--server")

    def is_ours(self, args: str) -> bool:
        return False  # everything of this run carries the work or runtime dir in its argv


def measure(bench: RunBench, runs: int) -> None:
    bench.rec.record("warm-up", lambda: bench.remotebook_run(False))  # first push, the remote's caches
    bench.rec.record("warm-up", bench.by_hand)
    bench.rec.drop([CLI, SERVER, SAVE, HAND])
    for n in range(runs):
        bench.rec.record(f"sample {n + 1}/{runs}", functools.partial(bench.remotebook_run, n % 2 == 1), round_=n)
        bench.rec.record(f"sample {n + 1}/{runs}", bench.by_hand, round_=n)


def render(info: dict[str, str], bench: RunBench, cells: int) -> str:
    res = bench.rec.results
    cli, server, save, hand = (res.get(k, []) for k in (CLI, SERVER, SAVE, HAND))
    ratio = common.ratio(cli, hand)
    worst_save = max((s.value for s in save), default=None)
    rows = [
        common.stat_row(
            CLI,
            cli,
            f"≤ {GOAL_RATIO} × by hand",
            common.verdict(ratio, GOAL_RATIO, " ×", common.pairs_range(cli, hand)),
        ),
        common.stat_row(SERVER, server, "", f"{common.ratio(server, hand) or 0:.2f} × by hand"),
        common.stat_row(HAND, hand, "(baseline)", "—"),
        common.stat_row(
            SAVE, save, f"≤ {GOAL_SAVE_S:.0f} s (worst)", common.verdict(worst_save, GOAL_SAVE_S, " s worst")
        ),
    ]
    lines = [
        f"### `remotebook run`, {cells} quick cells (seconds)",
        "",
        *common.table(["what", "median", "min", "max", "n", "goal", "verdict"], rows, right=(1, 2, 3, 4)),
        "",
        common.machine_line(info, netns=True),
        *common.failed_lines(bench.rec.failed),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(parser, runs=3)
    parser.add_argument("--cells", type=int, default=50)
    args = parser.parse_args(argv)
    common.check_runs(parser, args.runs)
    return common.run_bench(
        args,
        "run",
        lambda host, work, runtime: RunBench(host, work, runtime, args.cells),
        lambda b: measure(b, args.runs),
        lambda info, b: render(info, b, args.cells),
    )


if __name__ == "__main__":
    sys.exit(main())
