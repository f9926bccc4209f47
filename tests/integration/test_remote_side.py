"""The remote side of issue 9: a server is known by its pid *and* its runtime dir, also on a host without ps."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.remote_host import JUPYTER_VENV, _alive
from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import run_in, start_kernel


def _add_to_profile(rb: Runner, text: str, user: str = "rbtest") -> None:
    """Append to the user's ~/.profile (the harness's reset restores it after the test)."""
    with open(rb.host.home(user) / ".profile", "a") as profile:
        profile.write(text)


def _login_shell(rb: Runner, command: str, alias: str = "rbremote") -> str:
    """What a login shell on the remote prints for `command` (the way remotebook's bootstrap runs)."""
    argv = ["ssh", "-F", str(rb.host.ssh_config), alias, f"bash -lc {shlex.quote(command)}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL).stdout


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} is still alive"
        time.sleep(0.02)  # polling for the process to be gone


def _pid_of(rb: Runner, marker: str) -> int:
    """The pid of rbtest's process whose argv starts with `marker` (polls for it to exist)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in rb.host.ps().splitlines()[1:]:
            user, pid, _ppid, args = line.split(None, 3)
            if user == "rbtest" and args.startswith(marker):
                return int(pid)
        time.sleep(0.02)  # polling for the process to start
    raise AssertionError(f"no process {marker!r}")


def test_a_recycled_pid_is_neither_the_server_nor_killed_by_down(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    state = Path(report["server"]["log"]).parent  # ~rbtest/.remotebook/<host>/<key>
    os.kill(report["server"]["pid"], signal.SIGKILL)  # the server dies behind remotebook's back
    _wait_gone(report["server"]["pid"])
    # ... and its pid now belongs to an editor with "jupyter" in its argv
    impostor = subprocess.Popen(
        rb.host.wrap(
            ["bash", "-c", 'printf %s "$$" >"$1"; exec -a "vim jupyter_notes.txt" sleep 600', "bash"]
            + [str(state / "server.pid")],
            "rbtest",
        ),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pid = _pid_of(rb, "vim jupyter_notes.txt")
        assert (state / "server.pid").read_text().strip() == str(pid)
        status = rb.run("status", "rbremote", "--json")
        assert json.loads(status.stdout)["server"]["running"] is False, status.stdout
        down = rb.run("down", "rbremote", "--server")
        assert down.returncode == 0, down.stderr
        assert "server stopped" not in down.stdout
        assert _alive(pid), "down --server killed a process that is not its server"
    finally:
        impostor.kill()
        impostor.wait(timeout=10)


def test_up_status_and_down_on_a_host_without_ps(rb: Runner) -> None:
    slim = rb.host.bin_without("rbtest", ["ps"])
    _add_to_profile(rb, f'PATH="{JUPYTER_VENV}/bin:{slim}"\nexport PATH\n')
    assert _login_shell(rb, "command -v ps || echo none").strip() == "none"
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)  # a kernel left running: down must find it without ps
    assert run_in(port, token, kernel, "6*7") == "42"
    status = rb.json("status", "rbremote")
    assert status["server"]["running"] is True
    assert status["server"]["pid"] == report["server"]["pid"]
    down = rb.run("down", "rbremote", "--server")
    assert down.returncode == 0, down.stderr
    assert "server stopped" in down.stdout
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest")] == []
