"""The live view of a foreground `up`, on a real pty against the harness: the screen read back, keys pressed."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.harness.slurm import NODE, SlurmCluster
from tests.harness.terminal import Terminal
from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request

SLURM_PROFILE = '[profiles.hpc]\nhost = "rbremote"\nscheduler = "slurm"\n[profiles.hpc.slurm]\ntime = "0:20:00"\n'
ALT_SCREEN_ON, ALT_SCREEN_OFF, CURSOR_SHOWN = b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b[?25h"


def start(rb: Runner, profile: str = "p") -> tuple[Terminal, int]:
    """`up` on a terminal; the offset where its live view began (the alternate screen)."""
    if profile == "p":
        rb.write_config('[profiles.p]\nhost = "rbremote"\n')
    term = Terminal(rb.argv("up", profile, "--no-browser"), cwd=rb.project, env=rb.env)
    deadline = time.monotonic() + 90
    while term.find(ALT_SCREEN_ON) < 0 and time.monotonic() < deadline and term.proc.poll() is None:
        time.sleep(0.05)
    view = term.find(ALT_SCREEN_ON)
    if view < 0:
        term.close()
        raise AssertionError(f"no live view (exit {term.proc.poll()}):\n{term.text()[-3000:]}")
    term.wait_for("kernels", since=view)
    return term, view


def restored(term: Terminal, view: int) -> None:
    """The terminal is as the shell left it: mode, normal screen, cursor."""
    assert term.attrs() == term.before
    left = term.find(ALT_SCREEN_OFF, view)
    assert left > 0, term.text(view)[-2000:]
    assert term.find(CURSOR_SHOWN, view) > 0


def idle_seconds(line: str) -> int:
    found = re.search(r"idle (\d+)s", line)
    return int(found.group(1)) if found else -1


def test_the_live_view_shows_the_server_and_answers_its_keys(rb: Runner) -> None:
    (rb.project / "analysis.py").write_text("print('hi')\n")
    term, view = start(rb)
    try:
        report = rb.json("status", "p")
        port, token, version = report["local_port"], report["token"], report["server"]["version"]
        screen = term.wait_for(f"Jupyter {version} on", since=view)
        assert f"http://127.0.0.1:{port}/lab?token={token}" in screen
        assert "0 kernels" in screen
        term.wait_for_line(lambda line: idle_seconds(line) >= 8, since=view)  # the view's polls are no activity

        status, kernel = request(port, "POST", "/api/kernels", token, {"name": "python3"})
        assert status == 201, kernel
        term.wait_for("1 kernel(s)", since=term.mark(), timeout=30)  # the view polls by itself

        at = term.mark()
        term.press(b"p")
        term.wait_for("push: transferred", since=at)
        assert (rb.host.home("rbtest") / "myproject" / "analysis.py").exists()

        at = term.mark()
        term.press(b"g")
        term.wait_for("server log", since=at)
        term.wait_for(f"Kernel started: {kernel['id']}", since=at)

        at = term.mark()
        term.press(b"?")
        term.wait_for("quit and stop the server", since=at)

        at = term.mark()
        term.resize(90, 30)  # the window was dragged: drawn again at the new width (rich pads every line to it)
        term.wait_for_line(lambda line: len(line) == 90 and "kernels" in line, since=at, timeout=10)
        assert term.proc.poll() is None

        term.press(b"q")
        assert term.wait(timeout=60) == 0
        restored(term, view)
        assert "closing the tunnel" in term.text(term.find(ALT_SCREEN_OFF, view))
    finally:
        term.close()
    assert rb.ssh_processes() == []
    assert len(rb.jupyter_processes()) == 1  # `q` leaves the server running


def test_shift_q_quits_and_stops_the_server(rb: Runner) -> None:
    term, view = start(rb)
    try:
        assert len(rb.jupyter_processes()) == 1
        term.press(b"Q")
        assert term.wait(timeout=90) == 0
        restored(term, view)
        assert "closing the tunnel and stopping the server" in term.text(view)
    finally:
        term.close()
    assert rb.ssh_processes() == []
    assert rb.jupyter_processes() == []


@pytest.mark.parametrize("way_out", ["ctrl-c", "SIGHUP", "SIGTERM"])
def test_every_way_out_restores_the_terminal_and_leaves_no_ssh(rb: Runner, way_out: str) -> None:
    term, view = start(rb)
    try:
        if way_out == "ctrl-c":
            term.press(b"\x03")  # the line discipline turns it into SIGINT for the foreground group
        else:
            os.kill(term.proc.pid, getattr(signal, way_out))
        assert term.wait(timeout=60) in (0, 130)
        restored(term, view)
        assert "Traceback" not in term.text(view)
    finally:
        term.close()
    assert rb.ssh_processes() == []
    assert len(rb.jupyter_processes()) == 1


def test_a_closed_window_ends_the_view_with_nothing_left(rb: Runner) -> None:
    """A real hang-up: the screen cannot be given back (no terminal), but `up` ends cleanly all the same."""
    term, _ = start(rb)
    try:
        term.hang_up()  # the kernel sends SIGHUP; every write to the terminal fails from now on
        assert term.wait(timeout=60) in (0, 130)
    finally:
        term.close()
    assert rb.ssh_processes() == []
    assert len(rb.jupyter_processes()) == 1


def test_a_batch_job_shows_its_node_and_its_time_going_down(rb: Runner, cluster: SlurmCluster) -> None:
    rb.write_config(SLURM_PROFILE)
    term, view = start(rb, "hpc")
    try:
        job = re.compile(r"job +(\d+) RUNNING on (\S+), (\d+:\d\d:\d\d) used, (\d+:\d\d:\d\d) left")
        first = job.search(term.wait_for_line(lambda line: bool(job.search(line)), since=view))
        assert first is not None and first.group(2) == NODE
        assert first.group(4).startswith("0:1")  # of a 20-minute job
        later = term.wait_for_line(lambda line: bool(job.search(line)) and first.group(3) not in line, since=view)
        assert first.group(4) not in later  # the clock goes on between two words from Slurm
        term.press(b"q")
        assert term.wait(timeout=60) == 0
        restored(term, view)
    finally:
        term.close()
    assert rb.ssh_processes() == []
