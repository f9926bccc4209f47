"""Several projects on one host: own ports, tokens and roots; one shared master that no project's command disturbs."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request
from tests.integration.test_survive import RECOVERY_DEADLINE, answers, master_pid, wait_until_answers


@pytest.fixture
def second(rb: Runner, tmp_path: Path) -> Iterator[Runner]:
    """Another project on the same laptop (same state and control dirs), in a folder of another name."""
    project = tmp_path / "analysis"
    project.mkdir()
    other = Runner(rb.host, project, rb.runtime, rb.state)
    yield other
    other.stop_supervisors()


def init(*runners: Runner) -> None:
    for r in runners:
        out = r.run("init", "--host", "rbremote", "--profile", "server")
        assert out.returncode == 0, out.stderr


class Poller:
    """GETs /api/status through a forward every 100 ms in a thread; counts the misses."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.tries = self.misses = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1) and self.tries < 3000:
            self.tries += 1
            if not answers(self.port, self.token):
                self.misses += 1

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_two_projects_with_the_same_profile_name_are_apart_and_down_in_one_leaves_the_other(
    rb: Runner, second: Runner
) -> None:
    init(rb, second)
    a = rb.json("up", "--detach", "--no-browser")
    b = second.json("up", "--detach", "--no-browser")
    assert a["target"] == b["target"] == "server"
    assert a["local_port"] != b["local_port"]
    assert a["token"] != b["token"]
    assert a["server"]["pid"] != b["server"]["pid"]
    assert a["server"]["root_dir"].endswith("/myproject") and b["server"]["root_dir"].endswith("/analysis")
    assert len(rb.masters()) == 1  # one connection for the host: one password or 2FA prompt
    assert request(a["local_port"], "GET", "/api/status", b["token"])[0] == 403  # a's server knows only a's token

    listed = rb.run("list")
    assert str(rb.project) in listed.stdout.replace("~", str(Path.home())) or "myproject" in listed.stdout
    assert "analysis" in listed.stdout
    status = second.json("status")  # no target in a project: this project
    assert status["project_dir"] == str(second.project)

    with Poller(b["local_port"], b["token"]) as poller:
        time.sleep(0.5)  # the poller's baseline before `down`: it must already be answering
        out = rb.run("down")
        assert out.returncode == 0, out.stderr
        assert "kept for 1 other project" in out.stdout
        time.sleep(2.0)  # and for a while after it: a dropped master would show here
    assert poller.tries >= 20 and poller.misses == 0
    assert not answers(a["local_port"], a["token"])
    assert second.json("status")["supervisor"]["reconnects"] == 0
    assert len(rb.masters()) == 1

    out = second.run("down")
    assert out.returncode == 0 and "ssh connection closed" in out.stdout, out
    assert rb.ssh_processes() == []


def test_master_killed_both_projects_come_back_on_their_own_ports(rb: Runner, second: Runner) -> None:
    init(rb, second)
    a = rb.json("up", "--detach", "--no-browser")
    b = second.json("up", "--detach", "--no-browser")
    os.kill(master_pid(rb), signal.SIGKILL)
    wait_until_answers(a["local_port"], a["token"])
    wait_until_answers(b["local_port"], b["token"])
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while len(rb.masters()) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(rb.masters()) == 1  # rebuilt once, shared again
    for r in (rb, second):
        assert r.json("status")["supervisor"]["reconnects"] >= 1


def test_down_from_another_folder_finds_the_one_project_or_asks(rb: Runner, second: Runner, tmp_path: Path) -> None:
    init(rb, second)
    rb.json("up", "--detach", "--no-browser")
    elsewhere = Runner(rb.host, tmp_path, rb.runtime, rb.state)
    assert elsewhere.json("status", "server")["project_dir"] == str(rb.project)
    second.json("up", "--detach", "--no-browser")
    out = elsewhere.run("down", "server")
    assert out.returncode == 2 and "2 projects have a target named server" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


class Squatter:
    """A program that took a port after our forward left it: records whatever it is sent."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_squatter_on_the_saved_port_receives_no_token(rb: Runner, second: Runner) -> None:
    init(rb, second)
    a = rb.json("up", "--detach", "--no-browser")
    second.json("up", "--detach", "--no-browser")  # keeps the shared master alive after a's down
    assert rb.run("down").returncode == 0
    squatter = Squatter(a["local_port"])
    try:
        out = rb.run("open")
        assert out.returncode == 8, out.stderr
        listed = rb.run("list", "--json")
        assert listed.returncode == 0
        status = rb.run("status")
        assert status.returncode == 8
    finally:
        squatter.close()
    assert a["token"].encode() not in squatter.received


def test_foreground_up_ends_cleanly_when_its_terminal_is_closed(rb: Runner) -> None:
    """SIGHUP (the terminal window closed) is Ctrl-C: forward and master gone, the server lives on."""
    import pty

    controller, terminal = pty.openpty()

    def take_terminal() -> None:  # runs in the child after setsid: the pty becomes its controlling tty
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        rb.argv("up", "rbremote", "--no-browser"), cwd=rb.project, env=rb.env, stdin=terminal,
        stdout=subprocess.PIPE, stderr=terminal, text=True, start_new_session=True, preexec_fn=take_terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "Jupyter is up" in line, line
        port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        token = line.split("token=", 1)[1].strip()
        assert answers(port, token)
        assert rb.masters()
    finally:
        os.close(controller)  # the terminal goes away: the kernel sends SIGHUP to `up`
    code = proc.wait(timeout=30)
    assert code in (0, 130), code
    assert rb.ssh_processes() == []
    assert not answers(port, token)
    assert len(rb.jupyter_processes()) == 1  # the server and its kernels live on


def test_remote_output_that_is_not_utf8_is_shown_with_replacement(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    log = Path(report["server"]["log"])
    with log.open("ab") as f:
        f.write(b"latin-1 bytes: caf\xe9 \xff\xfe\n")
    out = subprocess.run(rb.argv("logs", "rbremote", "-n", "5"), cwd=rb.project, env=rb.env, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert "caf\ufffd".encode() in out.stdout
    assert b"unexpected error" not in out.stderr
