"""bench/delay_proxy.py: byte order kept and round trips counted, through a real TCP echo on loopback."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.delay_proxy import DOWN, UP, Turns

PROXY = Path(__file__).resolve().parents[2] / "bench" / "delay_proxy.py"
TIMEOUT = 10.0


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A one-connection TCP echo server on 127.0.0.1; it closes its side at the client's EOF."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(TIMEOUT)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        thread.join(TIMEOUT)


def start_proxy(port: int, log: Path, delay_ms: int = 5) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(PROXY), "--delay-ms", str(delay_ms), "--log", str(log)]
    argv += ["--connect", f"127.0.0.1:{port}", "label-host", "22"]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_exactly(proc: subprocess.Popen[bytes], n: int) -> bytes:
    assert isinstance(proc.stdout, io.BufferedReader)
    got = b""
    for _ in range(n + 1):  # each read returns at least one byte, or b"" at EOF
        if len(got) >= n:
            break
        chunk = proc.stdout.read1(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def finish(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdin is not None
    proc.stdin.close()  # EOF to the echo server, which closes: the proxy ends
    return proc.wait(TIMEOUT)


def test_turns_count_changes_from_client_to_server_direction() -> None:
    t = Turns()
    flow = [DOWN, UP, UP, DOWN, DOWN, UP, DOWN, UP]  # the server speaks first, as an sshd does
    assert [t.feed(d) for d in flow] == [False, False, False, True, False, False, True, False]
    assert t.count == 2


def test_lockstep_exchanges_are_one_round_trip_each(echo_port: int, tmp_path: Path) -> None:
    log = tmp_path / "proxy.jsonl"
    proc = start_proxy(echo_port, log)
    assert proc.stdin is not None
    for i in range(7):
        message = f"request {i}\n".encode()
        proc.stdin.write(message)
        proc.stdin.flush()
        assert read_exactly(proc, len(message)) == message  # the answer has to come back before the next
    assert finish(proc) == 0
    seen = events(log)
    assert [e["event"] for e in seen] == ["open"] + ["turn"] * 7 + ["close"]
    assert [e["n"] for e in seen if e["event"] == "turn"] == list(range(1, 8))
    close = seen[-1]
    assert close["turns"] == 7
    assert close["up_bytes"] == close["down_bytes"] == sum(len(f"request {i}\n") for i in range(7))
    assert seen[0]["target"] == f"127.0.0.1:{echo_port}" and seen[0]["label"] == "label-host:22"


def test_a_burst_keeps_its_byte_order(echo_port: int, tmp_path: Path) -> None:
    log = tmp_path / "proxy.jsonl"
    proc = start_proxy(echo_port, log)
    assert proc.stdin is not None
    payload = b"".join(f"{i:06d}|".encode() * 50 for i in range(400))  # ~140 KB in many chunks
    stdin = proc.stdin

    def send() -> None:
        stdin.write(payload)
        stdin.flush()

    writer = threading.Thread(target=send, daemon=True)  # while we read: the echo must not fill the pipes
    writer.start()
    got = read_exactly(proc, len(payload))
    writer.join(TIMEOUT)
    assert got == payload
    assert finish(proc) == 0
    close = events(log)[-1]
    assert close["event"] == "close" and close["up_bytes"] == close["down_bytes"] == len(payload)
    assert close["turns"] >= 1  # a burst that is echoed while it is still being sent may turn more than once


def test_a_refused_connection_exits_1(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening: bound, never listened on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        proc = start_proxy(port, tmp_path / "proxy.jsonl", delay_ms=0)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1
    assert b"cannot connect" in err
