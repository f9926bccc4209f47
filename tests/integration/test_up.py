"""`remotebook up` end to end: real sshd in a namespace, real JupyterLab, real forward."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import execute, request


def test_up_detach_json_serves_jupyter_through_the_forward(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    assert report["url"] == f"http://127.0.0.1:{port}/lab?token={token}"
    assert report["server"]["running"] is True
    assert report["server"]["transport"] == "unix"
    assert report["server"]["endpoint"].endswith("/jupyter.sock")
    assert isinstance(report["server"]["pid"], int)
    assert report["tunnel"]["up"] is True
    assert request(port, "GET", "/api/status", token)[0] == 200
    assert request(port, "GET", "/api/status", None)[0] == 403
    assert request(port, "GET", "/api/status", "wrong-token")[0] == 403
    # the project folder on the remote is named after the local one, under the remote home
    assert report["server"]["root_dir"] == str(rb.host.home("rbtest") / "myproject")


def test_a_kernel_started_through_the_forward_runs_code(rb: Runner) -> None:
    # setup runs in the bootstrap's own shell: names it sets must not clobber the bootstrap's
    rb.write_config(
        '[profiles.gpu]\nhost = "rbremote"\n'
        'setup = ["export RB_MARK=\'from setup\'", "D=/nonsense ROOT=/x HOST=y INFO=z PY=/bin/false JUP=/bin/false"]\n'
    )
    report = rb.json("up", "gpu", "--detach", "--no-browser")
    assert execute(report["local_port"], report["token"], "1+1") == "2"
    # setup commands ran before Jupyter started, so kernels see their environment
    assert execute(report["local_port"], report["token"], "import os; os.environ['RB_MARK']") == "'from setup'"


def test_second_up_reuses_the_server_and_the_forward(rb: Runner) -> None:
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    second = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert second["server"]["pid"] == first["server"]["pid"]
    assert second["server"]["started"] is False
    assert second["local_port"] == first["local_port"]
    assert len(rb.jupyter_processes()) == 1
    assert len(rb.masters()) == 1


def test_down_then_up_reuses_the_server_on_the_same_port(rb: Runner) -> None:
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    down = rb.run("down", "rbremote")
    assert down.returncode == 0, down.stderr
    assert rb.ssh_processes() == []
    with pytest.raises(ConnectionRefusedError):
        request(first["local_port"], "GET", "/api/status", first["token"])
    out = rb.run("-v", "up", "rbremote", "--detach", "--no-browser", "--json")
    assert out.returncode == 0, out.stderr
    assert "remote exchange" not in out.stderr  # warm: the state kept the server, its token and checked auth
    again = json.loads(out.stdout)
    assert again["server"]["pid"] == first["server"]["pid"]
    assert again["token"] == first["token"]
    assert again["local_port"] == first["local_port"]  # an open browser tab works again
    assert request(again["local_port"], "GET", "/api/status", again["token"])[0] == 200


def test_down_server_leaves_no_jupyter_and_no_ssh(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    execute(report["local_port"], report["token"], "x = 1")  # a kernel must go too
    out = rb.run("down", "rbremote", "--server")
    assert out.returncode == 0, out.stderr
    assert "server stopped" in out.stdout
    assert rb.jupyter_processes() == []
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest")] == []
    assert rb.ssh_processes() == []
    # local state keeps only the port to reuse; the remote keeps no socket, pid or token
    assert [json.loads(f.read_text()) for f in rb.state_files()] == [
        {
            "target": "rbremote",
            "host": "rbremote",
            "project_dir": str(rb.project),
            "ssh_config": str(rb.host.ssh_config),
            "local_port": report["local_port"],
        }
    ]
    assert list((rb.host.home("rbtest") / ".remotebook").rglob("*.sock")) == []
    assert list((rb.host.home("rbtest") / ".remotebook").rglob("token")) == []
    status = rb.run("status", "rbremote")
    assert status.returncode == 8
    assert "not running" in status.stdout


def test_socket_is_private_and_another_user_cannot_connect(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    sock = Path(report["server"]["endpoint"])
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print(type(e).__name__); sys.exit(3)\n"
        "print('connected')\n"
    )
    out = rb.host.run_as("rbother", ["/usr/bin/python3", "-c", probe, str(sock)], timeout=20)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "PermissionError" in out.stdout
    # ... while the owner can (the probe itself is sound)
    mine = rb.host.run_as("rbtest", ["/usr/bin/python3", "-c", probe, str(sock)], timeout=20)
    assert mine.stdout.strip() == "connected"


def test_token_never_appears_in_any_process_argv(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    token = report["token"]
    assert len(token) >= 32
    assert rb.jupyter_processes()
    assert token not in rb.host.ps()  # ps -ef of the whole machine: remote and local side
    token_file = Path(report["server"]["log"]).parent / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_status_json_matches_up_and_lists_targets(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    status = rb.json("status", "rbremote")
    for key in ("url", "local_port", "token"):
        assert status[key] == report[key]
    assert status["server"]["pid"] == report["server"]["pid"]
    assert status["tunnel"]["up"] is True
    listing = rb.json("status")
    assert [(row["target"], row["up"]) for row in listing] == [("rbremote", True)]


def test_logs_show_the_servers_own_log(rb: Runner) -> None:
    rb.json("up", "rbremote", "--detach", "--no-browser")
    out = rb.run("logs", "rbremote", "-n", "50")
    assert out.returncode == 0, out.stderr
    assert "Jupyter Server" in out.stdout and "is running at" in out.stdout


def test_tcp_transport_on_the_remote_loopback(rb: Runner) -> None:
    rb.write_config('[profiles.tcp]\nhost = "rbremote"\ntransport = "tcp"\n')
    report = rb.json("up", "tcp", "--detach", "--no-browser")
    assert report["server"]["transport"] == "tcp"
    assert report["server"]["endpoint"].startswith("127.0.0.1:")
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200


def test_notebook_app_url_and_open(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    out = rb.run("open", "rbremote")  # BROWSER=true: the browser "opens" without a screen
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == report["url"]
    page = next((rb.state / "open").glob("*.html"))
    assert stat.S_IMODE(page.stat().st_mode) == 0o600  # the token lives in a private file, not argv
    assert report["token"] in page.read_text()


def test_a_warm_up_is_one_connection_and_one_request_no_remote_shell(rb: Runner) -> None:
    """The server runs, the ssh connection is gone (the laptop rebooted): `up` forwards the last socket and asks once."""
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    rb.stop_supervisors()
    rb.close_masters()
    out = rb.run("-v", "up", "rbremote", "--detach", "--no-browser", "--json")
    assert out.returncode == 0, out.stderr
    again = json.loads(out.stdout)
    assert "remote exchange" not in out.stderr  # no bootstrap: the GET with the token proved it
    assert (again["server"]["pid"], again["local_port"]) == (first["server"]["pid"], first["local_port"])
    assert request(again["local_port"], "GET", "/api/status", again["token"])[0] == 200
    status = rb.run("-v", "status", "rbremote", "--json")
    assert status.returncode == 0, status.stderr
    assert "remote exchange" not in status.stderr  # the server's own API, through the forward
    assert json.loads(status.stdout)["server"]["kernels"] == []


def test_a_warm_up_whose_server_died_falls_back_to_the_bootstrap(rb: Runner) -> None:
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    rb.stop_supervisors()
    rb.close_masters()
    rb.host.run_as("rbtest", ["kill", "-9", str(first["server"]["pid"])], timeout=10)
    out = rb.run("-v", "up", "rbremote", "--detach", "--no-browser", "--json")
    assert out.returncode == 0, out.stderr
    again = json.loads(out.stdout)
    assert "remote exchange: bootstrap ensure" in out.stderr
    assert again["server"]["started"] is True and again["server"]["pid"] != first["server"]["pid"]
    assert again["local_port"] == first["local_port"]  # an open tab's port works again
    assert again["token"] != first["token"]  # a new server, a new token: one that leaked once dies with it
    assert request(again["local_port"], "GET", "/api/status", again["token"])[0] == 200
    assert request(again["local_port"], "GET", "/api/status", first["token"])[0] == 403
    warm = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert (warm["server"]["pid"], warm["token"]) == (again["server"]["pid"], again["token"])  # a live one keeps it
