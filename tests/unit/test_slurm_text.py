"""Slurm's output parsers, on outputs recorded from the test fixture's real Slurm 22.05 (tests/unit/data/slurm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remotebook.launch import slurm_text as st

DATA = Path(__file__).parent / "data" / "slurm"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_a_pending_job_has_its_reason_and_no_node() -> None:
    job = st.parse_scontrol_job(read("scontrol-pending.txt"))
    assert job is not None
    assert (job.job_id, job.state, job.reason, job.node, job.start) == ("2", "PENDING", "Resources", "", "")
    assert job.comment == "remotebook:123456"
    assert job.time_limit == 600 and job.run_time == 0
    assert job.waiting and job.live


def test_a_running_job_has_its_node_and_time_left() -> None:
    job = st.parse_scontrol_job(read("scontrol-running.txt"))
    assert job is not None
    assert (job.state, job.node, job.run_time, job.time_limit, job.time_left) == ("RUNNING", "rbnode1", 2, 7200, 7198)
    assert job.name == "blocker" and job.comment == "" and job.output == "/home/rbtest/slurm-1.out"
    assert job.live and not job.waiting


def test_ended_jobs_keep_slurms_reason_and_exit_code() -> None:
    cancelled = st.parse_scontrol_job(read("scontrol-cancelled.txt"))
    failed = st.parse_scontrol_job(read("scontrol-failed.txt"))
    assert cancelled is not None and failed is not None
    assert (cancelled.state, cancelled.exit_code, cancelled.live) == ("CANCELLED", "0:15", False)
    assert (failed.state, failed.reason, failed.exit_code) == ("FAILED", "NonZeroExitCode", "3:0")


def test_a_purged_job_is_none() -> None:
    assert st.parse_scontrol_job(read("scontrol-invalid.txt")) is None
    assert st.parse_scontrol_job("") is None


def test_scontrol_node_fields() -> None:
    f = st.fields(read("scontrol-node.txt"))
    assert f["NodeName"] == "rbnode1" and f["NodeAddr"].startswith("10.") and f["State"] == "ALLOCATED"


def test_squeue_lines_and_finding_our_job_by_its_comment() -> None:
    jobs = st.parse_squeue(read("squeue-running-pending.txt"))
    assert [(j.job_id, j.state, j.reason, j.node) for j in jobs] == [
        ("2", "PENDING", "Resources", ""),
        ("1", "RUNNING", "", "rbnode1"),
    ]
    assert jobs[0].time_limit == 600 and jobs[0].start == ""
    assert jobs[1].time_left == 7198
    assert st.ours(jobs, "123456") == jobs[0]
    assert st.ours(jobs, "999") is None


def test_squeue_ended_jobs_are_never_ours_to_reuse() -> None:
    jobs = st.parse_squeue(read("squeue-ended.txt"))
    assert [j.state for j in jobs] == ["CANCELLED", "FAILED", "RUNNING"]
    found = st.ours(jobs, "123456")
    assert found is not None and found.job_id == "2" and found.time_left == 594


def test_sbatch_parsable_and_its_refusals_in_slurms_words() -> None:
    assert st.parse_sbatch(read("sbatch-parsable.txt")) == "1"
    assert st.parse_sbatch("17;cluster2\n") == "17"
    with pytest.raises(st.SbatchError, match="^Batch job submission failed: Invalid partition name specified$"):
        st.parse_sbatch("", read("sbatch-invalid-partition.txt"))
    with pytest.raises(st.SbatchError, match="^Invalid --time specification$"):
        st.parse_sbatch("", read("sbatch-invalid-time.txt"))


def test_sacct_without_accounting_is_none_and_with_it_the_jobs_own_line() -> None:
    assert st.parse_sacct(read("sacct-disabled.txt")) is None
    # The shape sacct -P prints with slurmdbd (the fixture has none): the job line, then its steps.
    job = st.parse_sacct("42|CANCELLED by 1001|0:15|None\n42.batch|CANCELLED|0:15|\n")
    assert job is not None and (job.job_id, job.state, job.exit_code, job.reason) == ("42", "CANCELLED", "0:15", "")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:10:00", 600), ("9:54", 594), ("1-02:00:00", 93600), ("0:00", 0), ("UNLIMITED", None), ("INVALID", None)],
)
def test_durations(text: str, seconds: int | None) -> None:
    assert st.duration(text) == seconds
