"""Profile options that say where Jupyter is, for a remote whose login shell does not find it."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from tests.harness.remote_host import JUPYTER_VENV
from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import execute, request


def test_venv_option_finds_jupyter_for_a_user_without_it(rb: Runner) -> None:
    rb.write_config(f'[profiles.p]\nhost = "rbbare"\nvenv = "{JUPYTER_VENV}"\n')
    report = rb.json("up", "p", "--detach", "--no-browser")
    assert report["server"]["root_dir"] == str(rb.host.home("rbbare") / "myproject")
    assert execute(report["local_port"], report["token"], "import sys; sys.prefix") == f"'{JUPYTER_VENV}'"


def test_jupyter_option_names_the_executable(rb: Runner) -> None:
    rb.write_config(f'[profiles.p]\nhost = "rbbare"\njupyter = "{JUPYTER_VENV}/bin/jupyter"\napp = "lab"\n')
    report = rb.json("up", "p", "--detach", "--no-browser")
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200


def test_venv_that_does_not_exist(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbbare"\nvenv = "~/no-such-venv"\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert out.returncode == 5
    assert "venv /home/rbbare/no-such-venv does not exist" in out.stderr
    assert rb.ssh_processes() == []


def test_failing_setup_shows_its_output(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\nsetup = ["echo no such module >&2; false"]\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert out.returncode == 5
    assert "setup commands failed" in out.stderr and "no such module" in out.stderr


def test_logs_follow_until_ctrl_c(rb: Runner) -> None:
    rb.json("up", "rbremote", "--detach", "--no-browser")
    proc = rb.spawn("logs", "rbremote", "-f", "-n", "5")
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    first = ""
    while not first and time.monotonic() < deadline:
        first = proc.stdout.readline()
    assert first, "no log line"
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=20) in (0, 130)
    # the master of the earlier `up` stays; the logs client is gone
    assert rb.ssh_clients() == []


def test_logs_when_nothing_ran_there(rb: Runner) -> None:
    out = rb.run("logs", "rbremote")
    assert out.returncode == 8
    assert "no server log" in out.stderr


def test_jupyter_without_sock_support_falls_back_to_tcp_and_says_so(rb: Runner) -> None:
    old = JUPYTER_VENV.parent / "old-jupyter-venv" / "bin" / "jupyter"
    rb.write_config(f'[profiles.old]\nhost = "rbbare"\njupyter = "{old}"\n')
    report = rb.json("up", "old", "--detach", "--no-browser")
    assert report["server"]["version"].startswith("1.13.")
    assert report["server"]["transport"] == "tcp"
    assert report["server"]["endpoint"].startswith("127.0.0.1:")  # the remote's loopback only
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
    assert request(report["local_port"], "GET", "/api/status", None)[0] == 403
    assert report["token"] not in rb.host.ps()
    status = rb.run("status", "old")
    assert "TCP on the remote's 127.0.0.1 (no --sock support)" in status.stdout
    down = rb.run("down", "old", "--server")
    assert "server stopped" in down.stdout
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbbare")] == []


def test_host_that_kills_processes_at_logout_gets_a_scope_and_a_warning(rb: Runner) -> None:
    # Stand-ins for logind's answers on such a host (this machine has no systemd); the
    # stand-in systemd-run records that it was used, then runs the command in place.
    fake = Path(tempfile.mkdtemp(prefix="rb-fake-systemd-", dir="/tmp"))  # reachable by the remote user
    try:
        fake.chmod(0o777)
        marker = fake / "systemd-run-used"
        scripts = {
            "busctl": 'echo "b true"',
            "loginctl": "echo no",
            "systemd-run": f'[ "$*" = "--user --scope --quiet true" ] && exit 0\ntouch {marker}\n'
            'while [ "$1" != -- ]; do shift; done; shift; exec "$@"',
        }
        for name, body in scripts.items():
            (fake / name).write_text(f"#!/bin/sh\n{body}\n")
            (fake / name).chmod(0o755)
        rb.write_config(f'[profiles.p]\nhost = "rbremote"\nsetup = ["PATH={fake}:$PATH"]\n')
        report = rb.json("up", "p", "--detach", "--no-browser")
        assert marker.exists()
        assert any("loginctl enable-linger" in note for note in report["notes"])
        assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
        assert str(report["server"]["pid"]) in "\n".join(rb.jupyter_processes())
    finally:
        shutil.rmtree(fake, ignore_errors=True)
