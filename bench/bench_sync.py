"""How fast `remotebook sync push|pull` moves a project, side by side with plain rsync over the same ssh.

`.venv/bin/python -m bench.bench_sync [--runs N] [--big-mb M]` from the repo root, as root: it starts the
throwaway remote of tests/harness (real sshd in a network namespace, user rbtest, alias rbremote), makes a
project of 1,000 small files in 20 folders plus one big file (random, incompressible; generated once per
run), and measures, in one run and interleaved so that drift hits both sides alike:

* a first push to an empty remote folder;
* a push when nothing changed;
* a push after 2 small files changed;
* a pull of a big result file made on the remote (owned by rbtest);

each as `remotebook sync push|pull s` (profile `s`, host rbremote, in the project's remotebook.toml) and as
plain `rsync -a -e "ssh -F CFG -o ControlPath=..." SRC/ DST/`.  Both ride the same live ssh ControlMaster,
opened (untimed) before the samples, so neither side pays for a handshake.

It prints Markdown tables (timings with the goal remotebook <= 1.1 x plain rsync, and where the time of
remotebook goes, from its DEBUG log) on stdout and progress on stderr.  Timings are reported, never
asserted.  The harness is always stopped and no ssh or rsync process of this run is left behind.  Every
wait has a deadline, every loop a bound.
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import local
from tests.harness.remote_host import JUPYTER_USER, RemoteHost

from bench import common
from bench.common import ALIAS, MeasureError, Ran, Recorder, Sample, run_timed, say

PROFILE = "s"
PROJECT = "myproject"  # the local project folder, and the remote folder ~/myproject (remotebook's default)
CONFIG = f'[profiles.{PROFILE}]\nhost = "{ALIAS}"\npull = ["results/"]\n'
N_SMALL = 1000
N_DIRS = 20
SMALL_BYTES = (1024, 8192)  # "a few KB" each, uniformly
BIG_NAME = "big.bin"
RESULT = "results/result.bin"  # made on the remote for the pull rows
MB = 1_000_000
DEFAULT_BIG_MB = 200
MAX_BIG_MB = 20_000
FIXED_MTIME = 1_700_000_000  # every generated file; an edit gets FIXED_MTIME + 10 * its number
COMMAND_TIMEOUT = 1800.0  # any one sync or rsync: a backstop, a 200 MB transfer takes seconds here
MASTER_DEADLINE = 5.0

GOAL_RATIO = 1.1  # remotebook / plain rsync, every row

ROWS = ("first", "nochange", "two", "pull")
RB = {
    "first": "`remotebook sync push`, first (remote empty)",
    "nochange": "`remotebook sync push`, nothing changed",
    "two": "`remotebook sync push`, 2 small files changed",
    "pull": "`remotebook sync pull`, {big} MB result",
}
RS = {
    "first": "plain rsync push, first (remote empty)",
    "nochange": "plain rsync push, nothing changed",
    "two": "plain rsync push, 2 small files changed",
    "pull": "plain rsync pull, {big} MB result",
}
COLUMN = {"first": "first push", "nochange": "no change", "two": "2 changed", "pull": "pull"}

PH_START = "start-up: interpreter, imports, config (spawn to first log line)"
PH_G = "`ssh -G` (resolve the alias)"
PH_MKDIR = "`mkdir -p` on the remote (ssh through the master)"
PH_DRY = "rsync dry run (`-n -i`: the plan)"
PH_LIST = "rsync `--list-only` of the remote (what changed there)"
PH_XFER = "rsync transfer (the one call plain rsync makes too)"
PH_OTHER = "other subprocesses"
PH_REST = "rest: Python between calls, manifest, exit"
PHASES = (PH_START, PH_G, PH_MKDIR, PH_DRY, PH_LIST, PH_XFER, PH_OTHER, PH_REST)
SUMMARY = re.compile(r"(?:transferred|would transfer) (\d+) file\(s\)")


# --------------------------------------------------------------------------
# where the time of one `remotebook sync` goes: its DEBUG log
# --------------------------------------------------------------------------


def _kind(cmd: str, src: str, dst: str) -> str:
    if cmd.startswith("ssh "):
        if " -G " in cmd:
            return PH_G
        if " mkdir " in cmd:
            return PH_MKDIR
        return PH_OTHER
    if cmd.startswith("rsync "):
        if " --list-only " in cmd:
            return PH_LIST
        if " -n " in cmd:
            return PH_DRY
        if cmd.endswith(f" {src} {dst} "):
            return PH_XFER
    return PH_OTHER  # e.g. a keep-both copy of a conflicting file (none in this bench)


def sync_phases(state: Path, ran: Ran, src: str, dst: str) -> dict[str, float]:
    """Split one sync into start-up, each subprocess (as remotebook timed it in its log), and the rest."""
    lines = common.lines_of_run(state, ran.started_wall)
    return common.phases(lines, ran.started_wall, ran.seconds, lambda cmd: _kind(cmd, src, dst), PH_START, PH_REST)


# --------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------


class SyncBench:
    def __init__(self, host: RemoteHost, work: Path, runtime: Path, big_mb: int) -> None:
        self.host = host
        self.work = work
        self.runtime = runtime
        self.big_mb = big_mb
        self.project = work / PROJECT
        self.state = work / "state"
        self.cfg = str(host.ssh_config)
        self.control = f"{runtime}/cm-%C"  # what remotebook's `ssh -G` resolves too: one socket for both
        self.rb_argv = common.remotebook_argv()
        self.env = common.bench_env(host, work, runtime)
        self.rsh = shlex.join(["ssh", "-F", self.cfg, "-o", f"ControlPath={self.control}"])
        self.remote_dir = host.home(JUPYTER_USER) / PROJECT
        self.result_src = work / "result.bin"  # the remote result's bytes, kept outside the project
        self.small: list[str] = []
        self.n_files = 0
        self.tree_bytes = 0
        self.edits = 0
        self.rec = Recorder(host)

    # ---- the data ----------------------------------------------------------

    def make_data(self) -> None:
        """The project (1,000 small files in 20 folders, one big file, remotebook.toml) and the remote result."""
        rng = random.Random(20261126)  # the sizes; the bytes are os.urandom: incompressible
        for i in range(N_SMALL):
            rel = f"src{i % N_DIRS:02d}/part{i:04d}.dat"
            path = self.project / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(rng.randint(*SMALL_BYTES)))
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
            self.small.append(rel)
        write_random(self.project / BIG_NAME, self.big_mb)
        (self.project / "remotebook.toml").write_text(CONFIG)
        os.utime(self.project / "remotebook.toml", (FIXED_MTIME, FIXED_MTIME))
        write_random(self.result_src, self.big_mb)
        files = [p for p in self.project.rglob("*") if p.is_file()]
        self.n_files = len(files)
        self.tree_bytes = sum(p.stat().st_size for p in files)

    def edit_two(self) -> list[str]:
        """New bytes (same size) and a new mtime for 2 small files in different folders."""
        k = self.edits
        self.edits += 1
        names = [self.small[(2 * k) % N_SMALL], self.small[(2 * k + N_SMALL // 2 + 1) % N_SMALL]]
        for rel in names:
            path = self.project / rel
            path.write_bytes(os.urandom(path.stat().st_size))
            stamp = FIXED_MTIME + 10 * self.edits
            os.utime(path, (stamp, stamp))
        return names

    # ---- commands ----------------------------------------------------------

    def rb(self, direction: str) -> Ran:
        argv = [*self.rb_argv, "sync", direction, PROFILE]
        return run_timed(argv, timeout=COMMAND_TIMEOUT, env=self.env, cwd=self.project)

    def plain_push(self) -> Ran:
        argv = ["rsync", "-a", "-e", self.rsh, f"{self.project}/", f"{ALIAS}:{PROJECT}/"]
        return run_timed(argv, timeout=COMMAND_TIMEOUT)

    def plain_pull(self) -> Ran:
        argv = ["rsync", "-a", "-e", self.rsh, f"{ALIAS}:{PROJECT}/results/", f"{self.project}/results/"]
        return run_timed(argv, timeout=COMMAND_TIMEOUT)

    def push(self, rb: bool) -> Ran:
        return self.rb("push") if rb else self.plain_push()

    # ---- the ssh master both sides ride ------------------------------------

    def master_pids(self) -> list[int]:
        return [p.pid for p in local.masters(self.runtime)]

    def ensure_master(self) -> int:
        """One live master on the shared control socket (opened untimed if missing); its pid."""
        pids = self.master_pids()
        if len(pids) == 1:
            check = subprocess.run(
                ["ssh", "-F", self.cfg, "-o", f"ControlPath={self.control}", "-O", "check", ALIAS],
                capture_output=True,
                timeout=15,
                stdin=subprocess.DEVNULL,
            )
            if check.returncode == 0:
                return pids[0]
        self.close_masters()
        common.open_master(self.cfg, self.control, ALIAS)
        pids = self.master_pids()
        if len(pids) != 1:
            raise MeasureError(f"expected one ssh master of this run, found {pids}")
        return pids[0]

    def close_masters(self) -> None:
        common.close_masters(self.cfg, self.runtime)

    def check(self, ran: Ran, master: int, files: int | None = None) -> None:
        """The command worked, through the master it was given (no new connection), moving `files` files."""
        if ran.returncode != 0:
            raise MeasureError(ran.why())
        if self.master_pids() != [master]:
            raise MeasureError(f"the ssh master changed during the sample: {master} -> {self.master_pids()}")
        if files is not None:
            m = SUMMARY.search(ran.stdout)
            if m is None:
                self.rec.notes.append(f"could not read the file count of `sync`: {ran.stdout.strip()[-200:]!r}")
            elif int(m.group(1)) != files or "conflict" in ran.stderr:
                raise MeasureError(f"expected {files} file(s), got: {ran.stdout.strip()} {ran.stderr.strip()[-200:]}")

    # ---- remote and local state between samples (untimed) ------------------

    def reset_remote(self) -> None:
        """An empty remote (no ~/myproject) and no sync manifest: as before anyone ever synced."""
        shutil.rmtree(self.remote_dir, ignore_errors=True)
        if self.remote_dir.exists():
            raise MeasureError(f"cannot remove {self.remote_dir}")
        for manifest in (self.state / "projects").glob("*/sync.json"):
            manifest.unlink()

    def ensure_remote_tree(self) -> None:
        """The project is on the remote (pushed with plain rsync if not), for the pull rows."""
        big = self.remote_dir / BIG_NAME
        if not big.is_file() or big.stat().st_size != self.big_mb * MB:
            done = self.plain_push()
            if done.returncode != 0:
                raise MeasureError(done.why())

    def ensure_remote_result(self) -> None:
        """~/myproject/results/result.bin on the remote, owned by rbtest as if a job had written it there."""
        target = self.remote_dir / RESULT
        if target.is_file() and target.stat().st_size == self.big_mb * MB:
            return
        user = pwd.getpwnam(JUPYTER_USER)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.result_src, target)
        for path in (target, target.parent):
            os.chown(path, user.pw_uid, user.pw_gid)

    def verify_tree(self) -> None:
        """After a push: the remote has every file, the big one whole."""
        if (self.remote_dir / BIG_NAME).stat().st_size != self.big_mb * MB:
            raise MeasureError("the remote big file has the wrong size after the push")
        remote_files = sum(len(files) for _, _, files in os.walk(self.remote_dir))
        if remote_files < self.n_files:
            raise MeasureError(f"the remote has {remote_files} files after the push, expected {self.n_files}")

    # ---- the samples -------------------------------------------------------

    def clear_local_results(self) -> None:
        """No pulled result in the local project: the push rows move the project as made, nothing more."""
        shutil.rmtree(self.project / "results", ignore_errors=True)

    def first_push(self, rb: bool) -> Sample:
        self.clear_local_results()
        self.reset_remote()
        master = self.ensure_master()
        os.sync()  # flush the removed tree and earlier writes now, not during the sample
        ran = self.push(rb)
        self.check(ran, master, self.n_files if rb else None)
        self.verify_tree()
        return self.sample(ran, rb, "push")

    def no_change(self, rb: bool) -> Sample:
        self.clear_local_results()
        master = self.ensure_master()
        setup = self.push(rb)  # untimed: the remote (and remotebook's manifest) up to date
        self.check(setup, master)
        os.sync()
        ran = self.push(rb)
        self.check(ran, master, 0 if rb else None)
        return self.sample(ran, rb, "push")

    def two_changed(self, rb: bool) -> Sample:
        # From an empty remote and no manifest, one untimed push with the same tool: then the manifest
        # matches the remote, and the edited files are plain updates, not conflicts.
        self.clear_local_results()
        self.reset_remote()
        master = self.ensure_master()
        setup = self.push(rb)
        self.check(setup, master, self.n_files if rb else None)
        names = self.edit_two()
        os.sync()
        ran = self.push(rb)
        self.check(ran, master, 2 if rb else None)
        for rel in names:
            if (self.remote_dir / rel).read_bytes() != (self.project / rel).read_bytes():
                raise MeasureError(f"{rel} was not updated on the remote")
        return self.sample(ran, rb, "push")

    def pull(self, rb: bool) -> Sample:
        master = self.ensure_master()
        self.ensure_remote_tree()
        self.ensure_remote_result()
        self.clear_local_results()
        os.sync()
        ran = self.rb("pull") if rb else self.plain_pull()
        self.check(ran, master, 1 if rb else None)
        got = self.project / RESULT
        if not got.is_file() or got.stat().st_size != self.big_mb * MB:
            raise MeasureError(f"{RESULT} did not arrive whole")
        self.clear_local_results()
        return self.sample(ran, rb, "pull")

    def sample(self, ran: Ran, rb: bool, direction: str) -> Sample:
        if not rb:
            return Sample(ran.seconds)
        local, remote = f"{self.project}/", f"{ALIAS}:{PROJECT}/"
        src, dst = (local, remote) if direction == "push" else (remote, local)
        return Sample(ran.seconds, phases=sync_phases(self.state, ran, src, dst))

    # ---- for run_bench -----------------------------------------------------

    def tidy(self) -> None:
        self.close_masters()
        # ~rbtest/myproject is ours; the machine lock keeps a concurrent pytest's test_sync away from it.
        shutil.rmtree(self.remote_dir, ignore_errors=True)

    def is_ours(self, args: str) -> bool:
        return False  # masters, rsync and ssh clients of this run name its temp dirs: the markers find them


def write_random(path: Path, megabytes: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(MB))
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def sync_info() -> dict[str, str]:
    info = common.machine()
    rsync = " ".join(common.out_of(["rsync", "--version"]).split())  # "rsync version X protocol version Y"
    info["rsync"] = rsync.replace("rsync version", "rsync", 1)
    return info


def render(info: dict[str, str], bench: SyncBench, args: Any) -> str:
    res = bench.rec.results
    labels = {row: (RB[row].format(big=args.big_mb), RS[row].format(big=args.big_mb)) for row in ROWS}
    lines = [
        f"## remotebook sync benchmark — {info['date']}",
        "",
        f"Machine: {info['uname']}, {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; {info['python']}; "
        f"{info['openssh']}; {info['rsync']}; remotebook {info['remotebook']}, bytecode cached. "
        f"Remote: tests/harness sshd {'in a network namespace (veth)' if args.netns else 'on loopback (--no-netns)'}; "
        "both sides ride one live ssh ControlMaster (opened untimed before the samples). "
        f"Project: {N_SMALL:,} files of {SMALL_BYTES[0] // 1024}–{SMALL_BYTES[1] // 1024} KiB in {N_DIRS} folders, "
        f"one {args.big_mb} MB file and remotebook.toml: {bench.n_files:,} files, {bench.tree_bytes / MB:,.1f} MB "
        f"(random bytes). Runs: {args.runs}, after discarded warm-ups.",
        "",
        "| measurement | median s | min | max | n | goal | ratio / verdict |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in ROWS:
        rb, rs = labels[row]
        a, b = common.stats(res.get(rb, [])), common.stats(res.get(rs, []))
        if a is not None and b is not None and b[0]:
            ratio = a[0] / b[0]
            ok = "meets goal" if ratio <= GOAL_RATIO else "**misses goal**"
            v = f"{ratio:.2f} × ({a[0] - b[0]:+.3f} s{common.pairs_range(res.get(rb, []), res.get(rs, []), sep='; ', end='')}) — {ok}"
        else:
            v = "n/a"
        for name, st, goal, verdict in ((rb, a, f"≤ {GOAL_RATIO} × plain rsync", v), (rs, b, "baseline", "—")):
            n = len(res.get(name, []))
            if st is None:
                lines.append(f"| {name} | — | — | — | 0 | {goal} | no sample |")
            else:
                lines.append(f"| {name} | {st[0]:.3f} | {st[1]:.3f} | {st[2]:.3f} | {n} | {goal} | {verdict} |")

    lines += [
        "",
        "Where the time of `remotebook sync` goes (medians, s; subprocesses as timed in its DEBUG log):",
        "",
        "| step | " + " | ".join(COLUMN[row] for row in ROWS) + " |",
        "|---|" + "---:|" * len(ROWS),
    ]
    for phase in PHASES:
        cells = []
        for row in ROWS:
            xs = [s.phases[phase] for s in res.get(labels[row][0], []) if phase in s.phases]
            cells.append(f"{statistics.median(xs):.3f}" if xs else "—")  # —: remotebook does not run it here
        if all(c == "—" for c in cells):
            continue
        lines.append(f"| {phase} | {' | '.join(cells)} |")
    for title, pick in (("**total** (`remotebook sync`)", 0), ("plain rsync, the whole command", 1)):
        cells = []
        for row in ROWS:
            st = common.stats(res.get(labels[row][pick], []))
            cells.append(f"{st[0]:.3f}" if st else "—")
        lines.append(f"| {title} | {' | '.join(cells)} |")
    if bench.rec.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in dict.fromkeys(bench.rec.notes)]
    lines += common.failed_lines(bench.rec.failed)
    return "\n".join(lines)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_sync", description=__doc__.splitlines()[0])
    common.add_common_args(p, runs=3)
    p.add_argument("--big-mb", type=int, default=DEFAULT_BIG_MB, help="size of the big file, MB (default 200)")
    args = p.parse_args(argv)
    common.check_runs(p, args.runs)
    if not 1 <= args.big_mb <= MAX_BIG_MB:
        p.error(f"--big-mb must be between 1 and {MAX_BIG_MB}")
    return args


def measure(bench: SyncBench, args: argparse.Namespace) -> None:
    say(f"making the project: {N_SMALL} small files in {N_DIRS} folders + {args.big_mb} MB, and the remote result")
    bench.make_data()
    say("warm-up (discarded): one first push and one no-change push each way, one pull each way")
    for rb in (True, False):
        bench.rec.sample("warm-up", lambda rb=rb: bench.first_push(rb))
        bench.rec.sample("warm-up", lambda rb=rb: bench.no_change(rb))
        bench.rec.sample("warm-up", lambda rb=rb: bench.pull(rb))
    bench.rec.drop(["warm-up"])

    takes: dict[str, Callable[[bool], Sample]] = {
        "first": bench.first_push,
        "nochange": bench.no_change,
        "two": bench.two_changed,
        "pull": bench.pull,
    }
    for row in ROWS:
        rb_name, rs_name = RB[row].format(big=args.big_mb), RS[row].format(big=args.big_mb)
        say(f"{COLUMN[row]} block: {args.runs} × (remotebook, plain rsync), interleaved")
        for i in range(args.runs):
            pair = [(rb_name, True), (rs_name, False)]
            for name, rb in pair if i % 2 == 0 else pair[::-1]:
                bench.rec.sample(name, lambda rb=rb, take=takes[row]: take(rb), i)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    need = 6 * args.big_mb * MB  # project, result source, remote copy and result, pulled result, slack
    places = [Path(tempfile.gettempdir())] + ([Path(pwd.getpwnam(JUPYTER_USER).pw_dir)] if _user_known() else [])
    for where in places:
        if shutil.disk_usage(where).free < need:
            say(f"not enough free disk under {where}: need ~{need / MB:,.0f} MB")
            return 1
    return common.run_bench(
        args,
        "sync",
        lambda host, work, runtime: SyncBench(host, work, runtime, args.big_mb),
        lambda bench: measure(bench, args),
        lambda info, bench: render(info, bench, args),
        info=sync_info,
    )


def _user_known() -> bool:
    try:
        pwd.getpwnam(JUPYTER_USER)
    except KeyError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
