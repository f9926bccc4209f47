"""How long `remotebook doctor` takes against a healthy host, next to a bare `ssh ALIAS true`.

`.venv/bin/python -m bench.bench_doctor [--runs N]` from the repo root, as root: it starts the throwaway
remote of tests/harness (user rbtest, alias rbremote) and measures, interleaved so that drift hits both:

* `remotebook doctor rbremote --json` with no master open (what a new user runs first): its own
  connection, every remote check in one round trip, the master closed again;
* a bare `ssh rbremote true` with no master: one handshake, the least any check of the host costs.

Goal (issue 12): doctor <= 2 s here. The table also gives the ratio to the bare ssh and the number
of remote exchanges doctor made (from its DEBUG log). Nothing is asserted; the Markdown table goes to
stdout, progress to stderr. It holds the machine-wide harness lock like every bench (bench/common.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.harness.remote_host import RemoteHost

from bench import common
from bench.common import ALIAS, MeasureError, Recorder, Sample

GOAL_S = 2.0
TIMEOUT = 120.0
DOCTOR = "`remotebook doctor` (no master yet)"
BARE = "bare `ssh ALIAS true`"


class DoctorBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path) -> None:
        self.host, self.work, self.runtime = host, work, runtime
        self.rec = Recorder(host, on_retry=self.tidy)
        self.env = common.bench_env(host, work, runtime)
        self.state = work / "state"
        self.project = work / "project"
        self.project.mkdir()

    def doctor(self) -> Sample:
        ran = common.run_timed(
            [*common.remotebook_argv(), "doctor", ALIAS, "--json"],
            timeout=TIMEOUT,
            env=self.env,
            cwd=self.project,
            rss=True,
        )
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        exchanges = sum(
            1 for line in common.lines_of_run(self.state, ran.started_wall) if "remote exchange:" in line.message
        )
        return Sample(ran.seconds, rss_kb=ran.rss_kb, info={"exchanges": exchanges})

    def bare_ssh(self) -> Sample:
        ran = common.run_timed(["ssh", "-F", str(self.host.ssh_config), ALIAS, "true"], timeout=TIMEOUT)
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        return Sample(ran.seconds)

    def tidy(self) -> None:
        common.close_masters(str(self.host.ssh_config), self.runtime)

    def is_ours(self, args: str) -> bool:
        return False  # everything of this run carries the work or runtime dir in its argv


def measure(bench: DoctorBench, runs: int) -> None:
    bench.rec.sample("warm-up", bench.bare_ssh)  # the remote's first login pays for its caches
    bench.rec.drop(["warm-up"])
    rows = [(DOCTOR, bench.doctor), (BARE, bench.bare_ssh)]
    for i in range(runs):
        for name, take in common.rotated(rows, i):
            bench.rec.sample(name, take, round_=i)


def render(info: dict[str, str], bench: DoctorBench) -> str:
    res = bench.rec.results
    doctor, bare = res.get(DOCTOR, []), res.get(BARE, [])
    trips = sorted({s.info.get("exchanges", 0) for s in doctor})
    peak = max((s.rss_kb for s in doctor), default=0)
    rows = [
        common.stat_row(DOCTOR, doctor, f"≤ {GOAL_S:.0f} s", common.verdict(common.median(doctor), GOAL_S, " s")),
        common.stat_row(BARE, bare, "(reference)", "—"),
    ]
    ratio = common.ratio(doctor, bare)
    lines = [
        "### `remotebook doctor` against a healthy host (seconds)",
        "",
        *common.table(["what", "median", "min", "max", "n", "goal", "verdict"], rows, right=(1, 2, 3, 4)),
        "",
        f"doctor / bare ssh: {ratio:.2f} ×{common.pairs_range(doctor, bare)}" if ratio else "doctor / bare ssh: n/a",
        f"remote exchanges per doctor run: {', '.join(map(str, trips)) or 'n/a'}; peak RSS {peak / 1024:.0f} MiB",
        "",
        common.machine_line(info, netns=True),
        *common.failed_lines(bench.rec.failed),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(parser, runs=5)
    args = parser.parse_args(argv)
    common.check_runs(parser, args.runs)
    return common.run_bench(args, "doc", DoctorBench, lambda b: measure(b, args.runs), render)


if __name__ == "__main__":
    sys.exit(main())
