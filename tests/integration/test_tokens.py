"""The token goes only to our own server: a squatted TCP port, a slow server, against the real harness (issue 28)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request

# Another user of the server binds the port our dead server had, answers like Jupyter, and keeps what it hears.
SQUATTER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(sys.argv[2] + ".ready", "w").close()
while True:
    conn, _ = s.accept()
    conn.settimeout(2)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    with open(sys.argv[2], "ab") as out:
        out.write(data + b"\\n--\\n")
    conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{}")
    conn.close()
"""


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def health(rb: Runner) -> dict[str, Any]:
    found = list((rb.state / "projects").glob("*/health.json"))
    return json.loads(found[0].read_text()) if found else {}


def test_a_squatted_tcp_port_never_receives_the_token(rb: Runner) -> None:
    rb.write_config('[profiles.tcp]\nhost = "rbremote"\ntransport = "tcp"\nremote_dir = "~/tcp"\n')
    first = rb.json("up", "tcp", "--detach", "--no-browser")
    assert first["server"]["transport"] == "tcp" and rb.supervisors()
    remote_port = int(first["server"]["endpoint"].rpartition(":")[2])
    work = Path(tempfile.mkdtemp(prefix="rb-squat-", dir="/tmp"))
    os.chmod(work, 0o777)  # noqa: S103 - the other user writes what it hears here; removed below
    (work / "squat.py").write_text(SQUATTER)
    heard = work / "heard"
    rb.host.run_as("rbtest", ["kill", "-9", str(first["server"]["pid"])], timeout=10)
    squatter = subprocess.Popen(
        rb.host.wrap(["/usr/bin/python3", str(work / "squat.py"), str(remote_port), str(heard)], user="rbother"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for(lambda: (work / "heard.ready").exists() or squatter.poll() is not None, 20, "the squatter")
        assert squatter.poll() is None, squatter.stderr.read() if squatter.stderr else ""
        # our saved forward now leads to the squatter (so this test can fail): a request without a token shows it
        assert request(first["local_port"], "GET", "/api/status", None)[0] == 200
        assert b"GET /api/status" in heard.read_bytes()
        # status and open with the old state: the saved TCP endpoint is not trusted, the remote is asked first
        assert rb.run("status", "tcp", "--json").returncode in (0, 8)
        assert rb.run("open", "tcp").returncode in (0, 8)  # 8: not up (the supervisor may have restarted it)
        # the supervisor sees its server gone from the port (the remote says so) and starts a new one
        back = wait_for(lambda: int(health(rb).get("reconnects") or 0) >= 1 and health(rb), 90, "the reconnect")
        assert "started again" in str(back.get("message"))
        after = rb.json("status", "tcp")
        assert after["token"] != first["token"] and after["server"]["endpoint"] != first["server"]["endpoint"]
        assert rb.run("open", "tcp").returncode == 0
        received = heard.read_bytes()
        assert first["token"].encode() not in received and after["token"].encode() not in received
        assert b"Authorization" not in received
    finally:
        os.killpg(squatter.pid, signal.SIGKILL)
        squatter.wait(timeout=10)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def test_a_stopped_server_is_slow_not_dead(rb: Runner) -> None:
    """SIGSTOP for longer than two of the old 2 s probes: no reconnect, no restart, the same server after SIGCONT."""
    first = rb.json("up", "rbremote", "--detach", "--no-browser")
    pid = str(first["server"]["pid"])
    wait_for(lambda: health(rb).get("state") == "watching", 30, "the supervisor")
    rb.host.run_as("rbtest", ["kill", "-STOP", pid], timeout=10)
    try:
        time.sleep(9)  # the stop itself: what a hung or swapping server does to its probes
    finally:
        rb.host.run_as("rbtest", ["kill", "-CONT", pid], timeout=10)
    time.sleep(6)  # a few more probes after it woke
    seen = health(rb)
    assert seen.get("reconnects") == 0 and seen.get("state") == "watching", seen
    log = (rb.state / "remotebook.log").read_text()
    assert "slow, not gone" in log
    now = rb.json("status", "rbremote")
    assert now["server"]["pid"] == first["server"]["pid"] and now["token"] == first["token"]
