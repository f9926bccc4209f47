"""Sessions that survive: a killed master, a dead link, a killed Jupyter, a restarted sshd, races, stale state.

Deadlines here bound the wait for recovery; how fast recovery is gets measured in bench/.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request, run_in, start_kernel

RECOVERY_DEADLINE = 30.0


def answers(port: int, token: str) -> bool:
    try:
        return request(port, "GET", "/api/status", token)[0] == 200
    except OSError:
        return False


def wait_until_answers(port: int, token: str, timeout: float = RECOVERY_DEADLINE) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if answers(port, token):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"no answer on port {port} within {timeout}s")


def exited(pid: int) -> bool:
    """Gone, or a zombie (whose cmdline reads empty): either way its sockets are closed."""
    try:
        return not Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def master_pid(rb: Runner) -> int:
    masters = rb.masters()
    assert len(masters) == 1, masters
    return int(masters[0].split()[0])


def test_killed_master_comes_back_on_the_same_port_with_the_kernel(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)
    run_in(port, token, kernel, "x = 41")
    os.kill(master_pid(rb), signal.SIGKILL)
    wait_until_answers(port, token)
    assert run_in(port, token, kernel, "x + 1") == "42"  # same server, same kernel
    status = rb.json("status", "rbremote")
    assert status["local_port"] == port
    assert status["supervisor"]["reconnects"] == 1
    assert "ssh connection was lost" in status["supervisor"]["last_reason"]
    assert len(rb.supervisors()) == 1


def test_link_down_for_30s_then_back_without_user_action(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)
    run_in(port, token, kernel, "y = 'still here'")
    rb.host.set_link(False)
    try:
        time.sleep(30)  # the outage itself: what the test simulates, not a wait for readiness
    finally:
        rb.host.set_link(True)
    wait_until_answers(port, token)
    assert run_in(port, token, kernel, "y") == "'still here'"


def test_killed_jupyter_is_started_again_and_status_says_kernels_were_lost(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    nb = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    assert request(port, "PUT", "/api/contents/kept.ipynb", token, nb)[0] == 201
    os.kill(report["server"]["pid"], signal.SIGKILL)
    wait_until_answers(port, token)  # the same URL and token work again
    status = rb.json("status", "rbremote")
    assert status["server"]["pid"] != report["server"]["pid"]
    assert "kernel state was lost" in status["supervisor"]["message"]
    assert request(port, "GET", "/api/contents/kept.ipynb", token)[0] == 200  # files are on disk
    assert "kernel state was lost" in rb.run("status", "rbremote").stdout
    assert len(rb.jupyter_processes()) == 1


def test_restarted_sshd_is_recovered(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    rb.host.restart_sshd()
    wait_until_answers(report["local_port"], report["token"])
    assert rb.json("status", "rbremote")["supervisor"]["reconnects"] >= 1


def test_five_concurrent_ups_make_one_server(rb: Runner) -> None:
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        runs = list(pool.map(lambda _: rb.run("up", "rbremote", "--detach", "--no-browser", "--json"), range(5)))
    assert [r.returncode for r in runs] == [0] * 5, [r.stderr for r in runs]
    reports = [json.loads(r.stdout) for r in runs]
    assert len({r["server"]["pid"] for r in reports}) == 1
    assert len({r["local_port"] for r in reports}) == 1
    assert len(rb.jupyter_processes()) == 1
    assert len(rb.masters()) == 1
    assert len(rb.supervisors()) == 1


def test_stale_socket_state_and_control_path_do_not_stop_up(rb: Runner) -> None:
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    rb.stop_supervisors()
    master = master_pid(rb)
    os.kill(master, signal.SIGKILL)
    os.kill(first["server"]["pid"], signal.SIGKILL)  # leaves jupyter.sock, server.pid, runtime info
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not exited(master):  # its listening socket closes with it
        time.sleep(0.02)
    sock = Path(first["server"]["endpoint"])
    assert sock.exists()
    control = Path(first["tunnel"]["control_path"])
    control.unlink(missing_ok=True)
    control.write_text("not a socket")  # what a crash of some other tool could leave
    with socket.socket() as squatter:  # another program took our old port meanwhile
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # old connections may linger
        squatter.bind(("127.0.0.1", first["local_port"]))
        squatter.listen()
        again = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert again["server"]["started"] is True
    assert again["local_port"] != first["local_port"]
    assert f"local port {first['local_port']} is in use" in again["notes"][0]
    assert answers(again["local_port"], again["token"])


def test_status_shows_kernels_uptime_and_idle_time(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    kernel = start_kernel(report["local_port"], report["token"])
    status = rb.json("status", "rbremote")
    assert [k["id"] for k in status["server"]["kernels"]] == [kernel]
    assert status["server"]["uptime_s"] >= 0 and status["server"]["idle_s"] >= 0
    text = rb.run("status", "rbremote").stdout
    assert "1 kernel(s)" in text and "server up" in text and "supervisor watching" in text
    assert "kernel: transport ipc" in text  # the harness's JupyterLab has libzmq with ipc
    listing = rb.run("list").stdout
    assert "rbremote" in listing and "up" in listing and "[watching]" in listing


def test_idle_timeout_culls_idle_kernels(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\nidle_timeout = 3\n')
    report = rb.json("up", "p", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    start_kernel(port, token)
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while request(port, "GET", "/api/kernels", token)[1] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert request(port, "GET", "/api/kernels", token)[1] == []  # Jupyter culled it
    assert "--ServerApp.shutdown_no_activity_timeout=3" in "\n".join(rb.jupyter_processes())


def test_a_server_shut_down_on_purpose_is_not_started_again(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    assert request(port, "POST", "/api/shutdown", token)[0] in (200, 202)  # File > Shut Down in JupyterLab
    deadline = time.monotonic() + RECOVERY_DEADLINE
    health: dict[str, object] = {}
    while time.monotonic() < deadline:
        health = rb.json("status", "rbremote", expect=8).get("supervisor") or {}
        if health.get("state") == "gave_up":
            break
        time.sleep(0.5)
    assert health.get("state") == "gave_up"
    assert "was shut down" in str(health.get("message"))
    assert rb.jupyter_processes() == []
    again = rb.json("up", "rbremote", "--detach", "--no-browser")  # but the user can start it again
    assert again["server"]["started"] is True and again["local_port"] == port


def test_two_laptops_at_once_share_one_server(rb: Runner, tmp_path: Path) -> None:
    other_runtime = Path(tempfile.mkdtemp(prefix="rb2-", dir="/tmp"))
    other = Runner(rb.host, rb.project, other_runtime, tmp_path / "laptop2")
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda r: r.run("up", "rbremote", "--detach", "--no-browser", "--json"), [rb, other]))
        assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
        pids = {json.loads(r.stdout)["server"]["pid"] for r in runs}
        assert len(pids) == 1
        assert len(rb.jupyter_processes()) == 1
    finally:
        other.stop_supervisors()
        other.close_masters()
        shutil.rmtree(other_runtime, ignore_errors=True)
