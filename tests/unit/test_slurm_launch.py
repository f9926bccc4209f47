"""The Slurm launcher's pure parts: what a poll's answer becomes, how gently it polls, how an end reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from remotebook.core.errors import NotRunningError
from remotebook.launch import base as launch
from remotebook.launch import slurm
from remotebook.launch.slurm_text import Job
from remotebook.local.config import Profile, SlurmOptions

DATA = Path(__file__).parent / "data" / "slurm"


def launcher() -> slurm.SlurmLauncher:
    profile = Profile(name="hpc", host="login", remote_dir="~/p", scheduler="slurm", slurm=SlurmOptions(cpus=2))
    return slurm.SlurmLauncher(None, profile)  # type: ignore[arg-type]  # no call reaches ssh here


def test_a_pending_poll_is_a_waiting_with_slurms_reason_and_polls_back_off() -> None:
    lau = launcher()
    line = (DATA / "scontrol-pending.txt").read_text()
    pauses = []
    for _ in range(12):
        waiting = lau._read({"action": "waiting", "job": "2", "line": line})
        assert isinstance(waiting, launch.Waiting)
        pauses.append(waiting.retry_after)
    assert waiting.line(now=waiting.since + 12) == "waiting for job 2: PENDING (Resources), 12s so far"
    assert pauses[0] >= 3 and pauses == sorted(pauses) and pauses[-1] == slurm.MAX_PAUSE
    assert 60 / pauses[0] <= 20  # at most 20 scheduler queries a minute while pending


def test_a_job_that_ended_is_never_a_server_and_names_slurms_words() -> None:
    lau = launcher()
    line = (DATA / "scontrol-cancelled.txt").read_text()
    with pytest.raises(NotRunningError, match=r"^batch job 1 on rbnode1 ended: CANCELLED, exit 0:15$"):
        lau._read({"action": "ended", "job": "1", "line": line})
    assert lau.ended is not None and lau.job is None


def test_a_job_script_runs_the_bootstrap_in_the_foreground_and_carries_no_token() -> None:
    script = launcher().job_script()
    assert "RB_RUN=foreground" in script.text and "RB_TOKEN=''" in script.text
    assert "RB_BIND=127.0.0.1" in script.text


def test_sbatch_arguments_go_only_with_a_submission() -> None:
    lau = launcher()
    assert lau._request("ensure", SUBMIT="yes").args == ("--cpus-per-task=2",)
    assert lau._request("ensure", SUBMIT="no").args == ()


@pytest.mark.parametrize(
    ("job", "text"),
    [
        (Job("5", "TIMEOUT", exit_code="0:0"), "TIMEOUT (its walltime was reached)"),
        (Job("5", "FAILED", "NonZeroExitCode", exit_code="3:0"), "FAILED (NonZeroExitCode), exit 3:0"),
        (Job("5", "NODE_FAIL", exit_code="0:9"), "NODE_FAIL, exit 0:9"),
        (Job("5", "COMPLETING", "TimeLimit"), "COMPLETING (TimeLimit) (its walltime was reached)"),
    ],
)
def test_how_an_end_reads(job: Job, text: str) -> None:
    assert slurm.describe_end(job) == text


def test_clock() -> None:
    assert (slurm.clock(3723), slurm.clock(90061), slurm.clock(None)) == ("1:02:03", "1-1:01:01", "?")


def test_a_running_job_records_when_its_walltime_ends_from_slurms_time_left() -> None:
    lau = launcher()
    line = (DATA / "scontrol-running.txt").read_text()  # RunTime=00:00:02 TimeLimit=02:00:00
    data = {"action": "running", "job": "1", "node": "rbnode1", "via": "node-ssh", "endpoint": "/s", "pid": 7}
    data |= {"line": line, "info": {"sock": "/n.sock", "token": "t", "version": "2"}}
    before = time.time()
    server = lau._read(data)
    assert isinstance(server, launch.Server)
    assert before + 7198 <= server.location.ends_at <= time.time() + 7198
    again = launch.Server.from_saved(server.as_json(), "t")
    assert again is not None and again.location == server.location


def test_the_walltime_warning_comes_inside_its_window_only() -> None:
    end = 10_000.0
    assert launch.walltime_warning("7", end, 600, end - 601) == ""
    text = launch.walltime_warning("7", end, 600, end - 599)
    assert text.startswith("batch job 7 reaches its walltime in 9 min 59 s (at ") and "save your work" in text
    assert launch.walltime_warning("7", 0.0, 600, end) == ""  # no limit known
    assert "in 0 min 00 s" in launch.walltime_warning("7", end, 600, end + 5)
