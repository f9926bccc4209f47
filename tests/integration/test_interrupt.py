"""Foreground `up` and Ctrl-C at any moment: nothing of ours left running, state whole."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request

_LINES: dict[int, queue.Queue[str]] = {}


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """One reader thread per process: a select() on the pipe misses lines already in the text buffer."""
    if proc.pid not in _LINES:
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put("")  # the end of the output

        threading.Thread(target=read, daemon=True).start()
        _LINES[proc.pid] = lines
    return _LINES[proc.pid]


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    lines = _lines_of(proc)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if needle in line:
            return line
        if not line:
            break
    ended = proc.poll()
    stderr = proc.stderr.read() if proc.stderr and ended is not None else "(still running)"
    raise AssertionError(f"no line with {needle!r}; exit {ended}, stderr: {stderr}")


def ctrl_c(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(timeout=timeout)


def test_foreground_ctrl_c_removes_the_tunnel_and_keeps_the_server(rb: Runner) -> None:
    proc = rb.spawn("up", "rbremote", "--no-browser")
    line = wait_for_line(proc, "Jupyter is up: ")
    url = line.split("Jupyter is up: ", 1)[1].strip()
    port = int(url.split(":")[2].split("/")[0])
    token = url.split("token=")[1]
    assert request(port, "GET", "/api/status", token)[0] == 200
    assert ctrl_c(proc) == 0
    assert rb.ssh_processes() == []
    assert len(rb.jupyter_processes()) == 1  # the server and its kernels live on
    with pytest.raises(ConnectionRefusedError):
        request(port, "GET", "/api/status", token)
    again = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert again["server"]["started"] is False and again["local_port"] == port


def test_foreground_stop_flag_stops_the_server_on_ctrl_c(rb: Runner) -> None:
    proc = rb.spawn("up", "rbremote", "--no-browser", "--stop")
    wait_for_line(proc, "Jupyter is up: ")
    assert ctrl_c(proc) == 0
    assert rb.ssh_processes() == []
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest")] == []


def test_foreground_up_leaves_a_detached_forward_alone(rb: Runner) -> None:
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    proc = rb.spawn("up", "rbremote", "--no-browser")
    wait_for_line(proc, "Jupyter is up: ")
    assert ctrl_c(proc) == 0
    # the foreground run reused the detached forward, so it must not take it away
    assert request(first["local_port"], "GET", "/api/status", first["token"])[0] == 200


@pytest.mark.parametrize("delay", [0.2, 0.4, 0.7, 1.2, 2.0])
def test_ctrl_c_at_any_moment_of_up_leaves_nothing_behind(rb: Runner, delay: float) -> None:
    proc = rb.spawn("up", "rbremote", "--detach", "--no-browser", "--json")
    time.sleep(delay)  # the test chooses *when* to press Ctrl-C; nothing waits on it
    code = ctrl_c(proc)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr
    if code == 0:  # it finished first: a detached up keeps its master and supervisor, as it should
        assert rb.run("down", "rbremote").returncode == 0
    else:
        assert code == 130, stderr
        assert "interrupted" in stderr
    assert rb.ssh_processes() == []
    for path in rb.state_files():  # either no state, or a whole file
        json.loads(path.read_text())
    assert len(rb.jupyter_processes()) <= 1
    # whatever moment it was, the next `up` works and there is one server
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
    assert len(rb.jupyter_processes()) == 1
