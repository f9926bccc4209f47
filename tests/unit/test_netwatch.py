"""The supervisor's waiting room with real local sockets: a poke, a probe that starts to answer, a timeout.

Netlink messages cannot be staged without changing this machine's addresses; their parsing is
tested in test_outage.py and the real thing in tests/integration/test_survive.py.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from remotebook.supervisor import netwatch


@pytest.fixture
def fast_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netwatch, "PROBE_EVERY", 0.05)


@pytest.fixture
def closed_port() -> Iterator[socket.socket]:
    """A bound, not yet listening port: connects are refused until the test calls listen()."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s


def watch_for(port: int) -> netwatch.Watch:
    w = netwatch.Watch(("127.0.0.1", port, socket.AF_INET))
    deadline = time.monotonic() + 5
    assert w.probe is not None
    w.probe.resolve(time.monotonic())
    while not w.probe.addresses and time.monotonic() < deadline:  # the look-up runs in a thread
        time.sleep(0.01)
    return w


def test_a_poke_ends_the_wait_at_once() -> None:
    w = netwatch.Watch(None)
    try:
        w.poke()
        start = time.monotonic()
        assert w.wait(10) == netwatch.POKED
        assert time.monotonic() - start < 1
        assert w.wait(0.05) == ""  # the poke was used up
    finally:
        w.close()


def test_a_wait_without_signs_lasts_its_time() -> None:
    w = netwatch.Watch(None)
    try:
        start = time.monotonic()
        assert w.wait(0.3) == ""
        assert 0.3 <= time.monotonic() - start < 2
    finally:
        w.close()


@pytest.mark.usefixtures("fast_probe")
def test_the_host_port_starting_to_answer_is_a_sign(closed_port: socket.socket) -> None:
    port = closed_port.getsockname()[1]
    w = watch_for(port)
    try:
        w.tried(reached=False)  # the try did not reach the host
        assert w.wait(0.3) == ""  # refused: not back yet
        closed_port.listen()
        start = time.monotonic()
        assert w.wait(10) == f"127.0.0.1:{port} answers"
        assert time.monotonic() - start < 2
    finally:
        w.close()


@pytest.mark.usefixtures("fast_probe")
def test_a_host_that_answered_all_along_is_no_sign(closed_port: socket.socket) -> None:
    """The try reached the host and failed for another reason: probing it again would only churn."""
    closed_port.listen()
    w = watch_for(closed_port.getsockname()[1])
    try:
        w.tried(reached=True)
        for _ in range(50):  # the probe connects in the background: on a busy machine, give it a few waits
            assert w.wait(0.2) == ""
            if w.probe is not None and w.probe.reachable is True:
                break
        assert w.probe is not None and w.probe.reachable is True
    finally:
        w.close()


@pytest.mark.usefixtures("fast_probe")
def test_a_sign_waits_for_not_before(closed_port: socket.socket) -> None:
    closed_port.listen()
    w = watch_for(closed_port.getsockname()[1])
    try:
        w.tried(reached=False)
        start = time.monotonic()
        assert w.wait(10, not_before=start + 0.5).endswith("answers")
        assert 0.5 <= time.monotonic() - start < 8  # well before the 10 s timeout: the sign ended it
    finally:
        w.close()
