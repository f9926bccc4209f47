"""Slurm end to end: a real two-node cluster (tests/harness/slurm.py), the server in a batch job on the node.

The node is reachable only through the login node (an unreachable route on the laptop
side), so an HTTP 200 on the local port proves the two-hop tunnel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import IO

import pytest

from tests.harness.slurm import NODE, SlurmCluster
from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import execute, request, run_in, start_kernel
from tests.integration.test_interrupt import ctrl_c
from tests.integration.test_survive import answers

PROFILE = '[profiles.hpc]\nhost = "rbremote"\nscheduler = "slurm"\n[profiles.hpc.slurm]\ntime = "0:20:00"\n'


def slurm_profile(rb: Runner, extra: str = "") -> None:
    rb.write_config(PROFILE + extra)


def wait_until(check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)  # polling a condition, not a guess


def test_up_submits_a_job_and_tunnels_to_the_node_then_down_cancels_it(rb: Runner, cluster: SlurmCluster) -> None:
    slurm_profile(rb)
    out = rb.run("up", "hpc", "--detach", "--no-browser", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "waiting for job" in out.stderr  # the queue was shown while it waited
    assert "Jupyter is up: http://127.0.0.1:" in out.stdout
    report = rb.json("status", "hpc")
    port, token = report["local_port"], report["token"]
    location = report["server"]["location"]
    assert location["kind"] == "job" and location["node"] == NODE and location["via"] == "node-ssh"
    assert report["server"]["host"] == NODE
    assert request(port, "GET", "/api/status", token)[0] == 200
    assert request(port, "GET", "/api/status", None)[0] == 403
    assert execute(port, token, "import socket; socket.gethostname()") == repr(NODE)  # the kernel runs on the node
    assert len(cluster.jobs()) == 1

    status = rb.run("status", "hpc")
    assert status.returncode == 0, status.stderr
    assert f"job:    {location['job']} RUNNING on {NODE}" in status.stdout
    assert "left" in status.stdout and "ssh to the node" in status.stdout

    again = rb.json("up", "hpc", "--detach", "--no-browser")
    assert again["server"]["location"]["job"] == location["job"] and len(cluster.jobs()) == 1

    down = rb.run("down", "hpc", "--server", timeout=90)
    assert down.returncode == 0, down.stderr
    assert "server stopped" in down.stdout
    assert cluster.jobs() == []
    wait_until(lambda: cluster.node_processes() == [])
    assert [ln for ln in rb.host.ps().splitlines() if ln.startswith("rbtest")] == []  # nor on the login node
    assert rb.ssh_processes() == []


def test_a_fresh_laptop_state_reuses_the_running_job(rb: Runner, cluster: SlurmCluster) -> None:
    slurm_profile(rb)
    first = rb.json("up", "hpc", "--detach", "--no-browser")
    rb.stop_supervisors()
    rb.close_masters()
    for path in rb.state_files():
        path.unlink()
    second = rb.json("up", "hpc", "--detach", "--no-browser")
    assert second["server"]["location"]["job"] == first["server"]["location"]["job"]
    assert len(cluster.jobs()) == 1
    assert request(second["local_port"], "GET", "/api/status", second["token"])[0] == 200


def test_ctrl_c_while_pending_cancels_the_job(rb: Runner, cluster: SlurmCluster) -> None:
    slurm_profile(rb, 'partition = "debug"\ncpus = 2\n')
    blocker = cluster.on_login(["sbatch", "--parsable", "-c", "2", "--wrap", "sleep 300"], user="rbother").strip()
    proc = rb.spawn("up", "hpc", "--no-browser")
    wait_until(lambda: any("PENDING" in j for j in cluster.jobs()), timeout=30)
    assert ctrl_c(proc, timeout=60) == 130
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "cancelled job" in stderr and "Traceback" not in stderr
    assert cluster.jobs() == []
    assert [j for j in cluster.jobs("rbother") if j.startswith(blocker)]  # not someone else's


def test_wait_timeout_cancels_a_job_pending_too_long(rb: Runner, cluster: SlurmCluster) -> None:
    slurm_profile(rb, "cpus = 2\n")
    cluster.on_login(["sbatch", "--parsable", "-c", "2", "--wrap", "sleep 300"], user="rbother")
    out = rb.run("up", "hpc", "--detach", "--no-browser", "--wait-timeout", "5", timeout=90)
    assert out.returncode == 6, out.stderr
    assert "did not start in 5s (PENDING)" in out.stderr and "cancelled job" in out.stderr
    assert cluster.jobs() == []


def test_an_invalid_partition_is_one_line_in_slurms_words_and_nothing_is_queued(
    rb: Runner, cluster: SlurmCluster
) -> None:
    slurm_profile(rb, 'partition = "nope"\n')
    out = rb.run("up", "hpc", "--detach", "--no-browser")
    assert out.returncode == 3, out.stderr
    assert "Invalid partition name specified" in out.stderr
    assert "Traceback" not in out.stderr
    assert cluster.jobs() == []


def test_a_job_that_fails_at_start_says_why(rb: Runner, cluster: SlurmCluster) -> None:
    rb.write_config(PROFILE.replace("scheduler", 'jupyter = "/nonexistent/jupyter"\nscheduler'))
    out = rb.run("up", "hpc", "--detach", "--no-browser", timeout=90)
    assert out.returncode == 5, out.stderr
    assert "/nonexistent/jupyter is not an executable file" in out.stderr
    assert cluster.jobs() == []


def test_a_job_cancelled_from_outside_shows_in_status_and_is_never_a_healthy_server(
    rb: Runner, cluster: SlurmCluster
) -> None:
    slurm_profile(rb)
    report = rb.json("up", "hpc", "--detach", "--no-browser")
    rb.stop_supervisors()
    job = report["server"]["location"]["job"]
    cluster.on_login(["scancel", job])
    wait_until(lambda: cluster.jobs() == [])
    status = rb.run("status", "hpc")
    assert status.returncode == 8, status.stdout
    assert f"{job} ended: CANCELLED" in status.stdout and "server: not running" in status.stdout
    again = rb.json("up", "hpc", "--detach", "--no-browser")  # up offers a new job
    assert again["server"]["location"]["job"] != job
    assert any(f"earlier job {job} ended" in note for note in again["notes"])


def test_tcp_on_the_node_when_ssh_to_nodes_is_refused(rb: Runner, cluster: SlurmCluster) -> None:
    cluster.set_node_ssh(False)
    slurm_profile(rb)
    refused = rb.run("up", "hpc", "--detach", "--no-browser", timeout=90)
    assert refused.returncode == 7, refused.stderr
    assert f"to the job's node {NODE} failed" in refused.stderr and 'tunnel = "tcp"' in refused.stderr
    rb.run("down", "hpc", "--server", timeout=60)
    slurm_profile(rb, 'tunnel = "tcp"\n')
    report = rb.json("up", "hpc", "--detach", "--no-browser")
    assert report["server"]["location"]["via"] == "tcp"
    assert report["server"]["endpoint"].startswith(cluster.node_address + ":")
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
    assert any("only the token protects it" in note for note in report["notes"])


def test_auto_falls_back_to_a_tcp_relay_in_the_job_when_ssh_to_nodes_is_refused_and_tcp_is_allowed(
    rb: Runner, cluster: SlurmCluster
) -> None:
    cluster.set_node_ssh(False)
    slurm_profile(rb, "allow_tcp = true\n")
    out = rb.run("up", "hpc", "--detach", "--no-browser", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "warning: the tunnel reaches the node on TCP" in out.stderr  # said loudly
    report = rb.json("status", "hpc")
    location = report["server"]["location"]
    assert location["via"] == "tcp-relay" and location["node"] == NODE
    assert report["server"]["endpoint"].startswith(cluster.node_address + ":")
    port, token = report["local_port"], report["token"]
    assert request(port, "GET", "/api/status", token)[0] == 200
    assert request(port, "GET", "/api/status", None)[0] == 403  # the token is what protects the port
    # Another user on the node (not the login node's address) gets no relay to Jupyter: closed, no HTTP
    relay = report["server"]["endpoint"]
    knock = (  # closed with or without a reset (the relay closes before reading what was sent): no byte of HTTP
        "import socket, sys; h, p = sys.argv[1].rsplit(':', 1); s = socket.create_connection((h, int(p)), 5); "
        "s.sendall(b'GET /api/status HTTP/1.0\\r\\n\\r\\n'); s.settimeout(5)\n"
        "try: print(repr(s.recv(100)))\n"
        "except ConnectionResetError: print(repr(b''))"
    )
    argv = cluster._in_node(["/usr/sbin/runuser", "-u", "rbother", "--", "/usr/bin/python3", "-c", knock, relay])
    heard = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert heard.stdout.strip() == "b''", (heard.stdout, heard.stderr)
    assert f"to the job's node {NODE} failed" in out.stderr and "TCP relay in job" in out.stderr
    status = rb.run("status", "hpc")
    assert status.returncode == 0, status.stderr
    assert "TCP relay in the job (ssh to the node was refused" in status.stdout
    masters = rb.masters()
    os.kill(int(masters[0].split()[0]), signal.SIGKILL)  # the supervisor reuses the job's relay, no new try

    def reconnected() -> bool:
        got = json.loads(rb.run("status", "hpc", "--json").stdout)
        return bool((got.get("supervisor") or {}).get("reconnects")) and answers(port, token)

    wait_until(reconnected, timeout=60)
    again = rb.json("status", "hpc")
    assert again["server"]["location"]["job"] == location["job"]
    assert again["server"]["endpoint"] == report["server"]["endpoint"]
    assert len(cluster.jobs()) == 1
    down = rb.run("down", "hpc", "--server", timeout=90)
    assert down.returncode == 0, down.stderr
    assert cluster.jobs() == []
    wait_until(lambda: cluster.node_processes() == [])  # the relay ended with the job


class Lines:
    """A process's output, read line by line in a thread (a test polls what came so far; no select on a buffer)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.lines: list[str] = []
        assert stream is not None
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.reader.start()

    def having(self, needle: str) -> list[str]:
        return [line for line in list(self.lines) if needle in line]


@pytest.mark.timeout(360)  # a 2-minute job runs to its walltime, then a second one is submitted
def test_a_job_near_its_walltime_warns_once_then_ends_and_up_submits_a_new_one(
    rb: Runner, cluster: SlurmCluster
) -> None:
    rb.write_config(PROFILE.replace('"0:20:00"', '"2"') + 'warn_before = "100s"\n')  # warned ~20 s in
    proc = rb.spawn("up", "hpc", "--no-browser")
    err = Lines(proc.stderr)
    try:
        wait_until(lambda: err.having("reaches its walltime"), timeout=150)
        status = rb.json("status", "hpc")
        job = status["job"]["job_id"]
        assert status["job"]["time_left"] <= 100
        assert [w for w in status["warnings"] if f"batch job {job} reaches its walltime" in w]
        assert status["supervisor"]["warnings"] and status["supervisor"]["warned_job"] == job
        text = rb.run("status", "hpc").stdout
        assert "  warning: batch job" in text and "save your work" in text
        proc.wait(timeout=240)  # Slurm ends the job at its walltime; the foreground `up` stops and says why
    finally:
        if proc.poll() is None:
            ctrl_c(proc)
    err.reader.join(timeout=10)
    assert len(err.having("reaches its walltime")) == 1, err.lines  # once, not at every check
    assert err.having(f"batch job {job} on {NODE} ended:") and err.having("walltime was reached"), err.lines
    assert rb.ssh_processes() == []
    after = rb.run("status", "hpc")
    assert after.returncode == 8 and "server: not running" in after.stdout
    assert f"{job} ended:" in after.stdout and "walltime was reached" in after.stdout
    again = rb.json("up", "hpc", "--detach", "--no-browser")  # up submits a new job
    assert again["server"]["location"]["job"] != job
    assert any(f"earlier job {job} ended" in note for note in again["notes"])


def test_the_supervisor_brings_the_two_hop_tunnel_back_on_the_same_job_and_stops_when_it_ends(
    rb: Runner, cluster: SlurmCluster
) -> None:
    slurm_profile(rb)
    report = rb.json("up", "hpc", "--detach", "--no-browser")
    port, token, job = report["local_port"], report["token"], report["server"]["location"]["job"]
    kernel = start_kernel(port, token)
    run_in(port, token, kernel, "x = 41")
    masters = rb.masters()
    assert len(masters) == 1, masters
    os.kill(int(masters[0].split()[0]), signal.SIGKILL)

    def reconnected() -> bool:
        out = rb.run("status", "hpc", "--json")
        return answers(port, token) and bool((json.loads(out.stdout).get("supervisor") or {}).get("reconnects"))

    wait_until(reconnected, timeout=60)
    assert run_in(port, token, kernel, "x + 1") == "42"  # same job, same server, same kernel
    status = rb.json("status", "hpc")
    assert status["job"]["job_id"] == job and status["server"]["location"]["job"] == job
    assert [line.split()[0] for line in cluster.jobs()] == [job]  # nothing resubmitted

    cluster.on_login(["scancel", job])
    health: dict[str, object] = {}

    def gave_up() -> bool:
        nonlocal health
        health = rb.json("status", "hpc", expect=8).get("supervisor") or {}
        return health.get("state") == "gave_up"

    wait_until(gave_up, timeout=60)
    assert f"batch job {job}" in str(health["message"]) and "CANCELLED" in str(health["message"])
    assert "remotebook up hpc" in str(health["command"])
    wait_until(lambda: rb.supervisors() == [])  # it stopped
    assert cluster.jobs() == []  # and it never submitted a job behind the user's back
    assert rb.ssh_processes() == []


def test_logs_show_the_jobs_server_log_and_follow_it(rb: Runner, cluster: SlurmCluster) -> None:
    slurm_profile(rb)
    rb.json("up", "hpc", "--detach", "--no-browser")
    out = rb.run("logs", "hpc", "-n", "50")
    assert out.returncode == 0, out.stderr
    assert "Jupyter Server" in out.stdout and "is running at" in out.stdout
    follow = rb.spawn("logs", "hpc", "-f", "-n", "50")
    shown = Lines(follow.stdout)
    try:
        wait_until(lambda: shown.having("is running at"), timeout=60)
        assert follow.poll() is None  # it follows: still running
    finally:
        assert ctrl_c(follow) in (0, 130)
    assert rb.ssh_clients() == []  # the remote tail went with it
    rb.run("down", "hpc", "--server", timeout=90)
    gone = rb.run("logs", "hpc")
    assert gone.returncode != 0 and "Traceback" not in gone.stderr
    assert len(gone.stderr.strip().splitlines()) <= 2, gone.stderr


@pytest.fixture(autouse=True)
def _no_jobs_left(cluster: SlurmCluster) -> None:
    """Every test here starts on an empty queue."""
    assert cluster.jobs() == [] and cluster.jobs("rbother") == []
