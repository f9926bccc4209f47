"""Pure parsers of Slurm's own output: `scontrol -o show job`, `squeue -o`, `sacct -P`, `sbatch --parsable`.

Recorded real outputs (tests/unit/data/slurm/) are what these are tested on. Nothing here
runs a command: remote/slurm.sh runs them on the login node and hands back the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What `squeue -o` prints, one job a line; the comment goes last (ours never holds a "|").
SQUEUE_FORMAT = "%i|%T|%r|%M|%L|%N|%S|%V|%j|%k"
COMMENT_PREFIX = "remotebook:"
LIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT"}
)
WAITING_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"})
_NONE = ("", "(null)", "None", "N/A", "Unknown", "n/a")


@dataclass(frozen=True)
class Job:
    """One batch job as Slurm describes it."""

    job_id: str
    state: str  # JobState: PENDING, RUNNING, CANCELLED, TIMEOUT, FAILED, NODE_FAIL, PREEMPTED...
    reason: str = ""  # Priority, Resources, NonZeroExitCode... ("" for None)
    name: str = ""
    node: str = ""  # the batch host (where the job script runs)
    run_time: int | None = None  # seconds used so far
    time_limit: int | None = None  # seconds; None: unlimited or unknown
    start: str = ""  # the start, or the expected start of a pending job ("" when Slurm has none)
    submitted: str = ""
    exit_code: str = ""  # "3:0" (exit 3, no signal), "0:15" (killed by SIGTERM)
    comment: str = ""
    output: str = ""  # the job's stdout file

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def time_left(self) -> int | None:
        if self.time_limit is None or self.run_time is None:
            return None
        return max(0, self.time_limit - self.run_time)

    def as_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "state": self.state,
            "reason": self.reason,
            "name": self.name,
            "node": self.node,
            "run_time": self.run_time,
            "time_limit": self.time_limit,
            "time_left": self.time_left,
            "start": self.start,
            "exit_code": self.exit_code,
        }


def duration(text: str) -> int | None:
    """Slurm's `[days-]hours:minutes:seconds` (squeue drops the hours below one) -> seconds; None for UNLIMITED."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not (days == "" or days.isdigit()) or not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds + int(days or 0) * 86400


_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def fields(line: str) -> dict[str, str]:
    """`scontrol -o show ...`: Key=Value pairs on one line; a value may hold spaces (JobName, Comment)."""
    marks = [(m.group(1), m.start(1), m.end()) for m in _KEY.finditer(line)]
    out: dict[str, str] = {}
    for i, (key, _, value_start) in enumerate(marks):
        end = marks[i + 1][1] if i + 1 < len(marks) else len(line)
        out.setdefault(key, line[value_start:end].strip())
    return out


def _clean(value: str) -> str:
    return "" if value in _NONE else value


def parse_scontrol_job(text: str) -> Job | None:
    """The first job of `scontrol -o show job ID`; None for "Invalid job id specified" (purged) or no output."""
    line = next((ln for ln in text.splitlines() if ln.startswith("JobId=")), "")
    if not line:
        return None
    f = fields(line)
    return Job(
        job_id=f["JobId"],
        state=f.get("JobState", "").split()[0] if f.get("JobState") else "",
        reason=_clean(f.get("Reason", "")),
        name=f.get("JobName", ""),
        node=_clean(f.get("BatchHost", "")) or _clean(f.get("NodeList", "")),
        run_time=duration(f.get("RunTime", "")),
        time_limit=duration(f.get("TimeLimit", "")),
        start=_clean(f.get("StartTime", "")),
        submitted=_clean(f.get("SubmitTime", "")),
        exit_code=f.get("ExitCode", ""),
        comment=_clean(f.get("Comment", "")),
        output=_clean(f.get("StdOut", "")),
    )


def parse_squeue(text: str) -> list[Job]:
    """`squeue -h -o SQUEUE_FORMAT` lines -> jobs, in Slurm's order; lines of another shape are skipped."""
    jobs = []
    for line in text.splitlines():
        parts = line.split("|", 9)
        if len(parts) != 10 or not parts[0].strip():
            continue
        job_id, state, reason, used, left, nodes, start, submitted, name, comment = parts
        used_s, left_s = duration(used), duration(left)
        jobs.append(
            Job(
                job_id=job_id.strip(),
                state=state.strip(),
                reason=_clean(reason.strip()),
                name=name,
                node=_clean(nodes.strip()),
                run_time=used_s,
                time_limit=used_s + left_s if used_s is not None and left_s is not None else None,
                start=_clean(start.strip()),
                submitted=_clean(submitted.strip()),
                comment=_clean(comment.strip()),
            )
        )
    return jobs


def ours(jobs: list[Job], key: str) -> Job | None:
    """The newest live job that remotebook submitted for this project (its comment names the remote root's key)."""
    mine = [j for j in jobs if j.comment == COMMENT_PREFIX + key and j.live]
    return max(mine, key=lambda j: int(j.job_id) if j.job_id.isdigit() else 0, default=None)


def parse_sacct(text: str) -> Job | None:
    """`sacct -n -P -j ID -o JobID,State,ExitCode,Reason`: the job's own line (not its steps), or None.

    Without accounting (slurmdbd) sacct prints "Slurm accounting storage is disabled": None.
    """
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 3 or "." in parts[0] or not parts[0].strip():
            continue
        state = parts[1].split()[0] if parts[1].strip() else ""  # "CANCELLED by 1001"
        return Job(parts[0], state, _clean(parts[3]) if len(parts) > 3 else "", exit_code=parts[2])
    return None


class SbatchError(ValueError):
    """sbatch refused the job; the message is Slurm's own last word."""


def parse_sbatch(stdout: str, stderr: str = "") -> str:
    """`sbatch --parsable` prints `ID` or `ID;CLUSTER`: the job id, or SbatchError with sbatch's reason."""
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    job_id = first.split(";", 1)[0].strip()
    if job_id.isdigit():
        return job_id
    errors = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    reason = errors[-1] if errors else first or "sbatch printed no job id"
    raise SbatchError(reason.removeprefix("sbatch: error: "))
