"""The supervisor's decisions (when to rebuild the tunnel), with its probes stubbed.

The real reconnects run against the harness in tests/integration/test_survive.py;
a laptop's sleep cannot be staged there, so the clock-jump rule is checked here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from remotebook.connection import failures, mux, ssh, tunnel
from remotebook.launch.choose import launcher_for
from remotebook.local import config, state
from remotebook.local.paths import Paths
from remotebook.project import endpoint
from remotebook.project.handle import Session
from remotebook.supervisor import loop as supervise
from remotebook.supervisor import outage


@pytest.fixture
def sess(tmp_path: Path) -> Session:
    paths = Paths(tmp_path / "c", tmp_path / "s", tmp_path / "r")
    profile = config.resolve(config.load(tmp_path, tmp_path / "none"), "gpu")
    target = ssh.Target("gpu", "", str(tmp_path / "cm"), "gpu", "me", 22, {})
    store = state.Store(paths, state.Identity("gpu", str(tmp_path), "gpu"))
    sess = Session(paths, profile, target, store, launcher_for(target, profile))
    sess.store.save({"target": "gpu", "local_port": 1, "token": "t"})
    return sess


def stub(
    monkeypatch: pytest.MonkeyPatch,
    *,
    master: bool,
    http: int,
    ours: bool = True,
    slow: bool = False,
    link: bool = True,
) -> None:
    monkeypatch.setattr(mux, "master_pid", lambda _t: 4242 if master else None)
    monkeypatch.setattr(tunnel, "held_by_master", lambda _pid, _port: ours)
    monkeypatch.setattr(tunnel, "probe", lambda *_a, **_k: tunnel.Probe(http, 0.01, slow))
    monkeypatch.setattr(mux, "link_alive", lambda _t, timeout: link)


def test_a_port_no_longer_held_by_our_master_gets_no_token(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[object] = []
    stub(monkeypatch, master=True, http=200, ours=False)
    monkeypatch.setattr(tunnel, "probe", lambda *a, **_k: sent.append(a) or tunnel.Probe(200, 0.01, False))
    assert supervise.Supervisor(sess, batch=True, say=print)._problem(slept=False) == "the forward was gone"
    assert sent == []


def test_dead_master_is_a_reason_at_once(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, master=False, http=0)
    assert supervise.Supervisor(sess, batch=True, say=print)._problem(slept=False) == "the ssh connection was lost"


def test_one_failed_probe_is_tolerated_two_are_not(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, master=True, http=0)
    sup = supervise.Supervisor(sess, batch=True, say=print)
    assert sup._problem(slept=False) == ""
    assert sup._problem(slept=False) == "no answer through the tunnel"


def test_after_a_sleep_one_failed_probe_is_enough(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, master=True, http=0)
    sup = supervise.Supervisor(sess, batch=True, say=print)
    assert sup._problem(slept=True) == "no answer through the tunnel after the computer slept"


def test_a_working_tunnel_resets_the_count(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    sup = supervise.Supervisor(sess, batch=True, say=print)
    stub(monkeypatch, master=True, http=0)
    sup._problem(slept=False)
    stub(monkeypatch, master=True, http=200)
    assert sup._problem(slept=False) == ""
    stub(monkeypatch, master=True, http=0)
    assert sup._problem(slept=False) == ""  # one failure again, not two


def test_a_timeout_through_a_live_link_is_a_slow_server_and_the_limit_grows(
    sess: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub(monkeypatch, master=True, http=0, slow=True, link=True)
    sup = supervise.Supervisor(sess, batch=True, say=print)
    limits = []
    for _ in range(4):
        assert sup._problem(slept=False) == ""  # slow, not gone: no reconnect
        limits.append(sup.probe_timeout)
    assert limits == [4.0, 8.0, 16.0, 30.0]
    assert sup._problem(slept=False) == ""  # at the ceiling the misses count again: one is tolerated,
    assert sup._problem(slept=False) == "no answer through the tunnel"  # two are a dead tunnel


def test_a_timeout_through_a_dead_link_counts_as_a_miss(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, master=True, http=0, slow=True, link=False)
    sup = supervise.Supervisor(sess, batch=True, say=print)
    assert sup._problem(slept=False) == ""
    assert sup._problem(slept=False) == "no answer through the tunnel"
    assert sup.probe_timeout == supervise.PROBE_TIMEOUT


def test_the_limit_follows_the_servers_recent_answers(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    sup = supervise.Supervisor(sess, batch=True, say=print)
    monkeypatch.setattr(mux, "master_pid", lambda _t: 4242)
    monkeypatch.setattr(tunnel, "held_by_master", lambda _pid, _port: True)
    for took, limit in [(0.01, 2.0), (1.5, 6.0), (0.01, 6.0)]:
        monkeypatch.setattr(tunnel, "probe", lambda *_a, took=took, **_k: tunnel.Probe(200, took, False))
        assert sup._problem(slept=False) == ""
        assert sup.probe_timeout == limit


def test_a_saved_tcp_endpoint_is_probed_without_the_token(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    server = {"pid": 7, "transport": "tcp", "endpoint": "127.0.0.1:8888", "base_url": "/"}
    sess.store.save({"target": "gpu", "local_port": 1, "token": "t", "server": server})
    sent: list[str] = []
    stub(monkeypatch, master=True, http=0)
    monkeypatch.setattr(tunnel, "probe", lambda _p, token, _t: sent.append(token) or tunnel.Probe(403, 0.01, False))
    asked: list[int] = []
    monkeypatch.setattr(endpoint, "is_ours", lambda _s, server: asked.append(server.pid) or True)
    sup = supervise.Supervisor(sess, batch=True, say=print)
    for _ in range(supervise.OWNER_EVERY + 1):
        assert sup._problem(slept=False) == ""  # 403: it answers
    assert sent == [""] * (supervise.OWNER_EVERY + 1) and asked == [7, 7]  # the first check, then every 4th
    monkeypatch.setattr(endpoint, "is_ours", lambda _s, _server: False)
    sup.checks = 0
    assert sup._problem(slept=False) == "the server no longer holds its port"


def test_run_notices_a_jump_of_the_boot_clock(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The boot clock runs ahead of the monotonic one across a suspend."""
    seen: list[bool] = []
    stop = threading.Event()
    # start, first check, then the second check an hour of sleep later
    clock = iter([(1000.0, 10.0), (1001.5, 11.5), (5000.0, 13.0)])
    monkeypatch.setattr(supervise.outage, "clock", lambda: next(clock, (5000.0, 13.0)))
    monkeypatch.setattr(supervise, "CHECK_INTERVAL", 0.0)

    def problem(self: supervise.Supervisor, slept: bool) -> str:
        seen.append(slept)
        if len(seen) == 2:
            stop.set()
        return ""

    monkeypatch.setattr(supervise.Supervisor, "_problem", problem)
    supervise.Supervisor(sess, batch=True, say=print).run(stop)
    assert seen == [False, True]


def failing_up(monkeypatch: pytest.MonkeyPatch, errors: list[Exception]) -> list[int]:
    """session.up raises these errors in turn, then succeeds; returns the list of calls made."""
    calls: list[int] = []

    def up(sess: Session, **_: object) -> object:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        server = type("S", (), {"action": "running"})()
        return type("R", (), {"server": server, "local_port": 1, "report": type("P", (), {"notes": ()})()})()

    monkeypatch.setattr(supervise.session, "up", up)
    monkeypatch.setattr(supervise.Supervisor, "_drop_dead_master", lambda self: None)
    return calls


def test_it_never_gives_up_on_a_network_that_stays_away(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than the old limit of 60 tries, with the cap squeezed to a millisecond, then back."""
    monkeypatch.setenv(outage.CAP_ENV, "0.001")
    monkeypatch.setenv(outage.HORIZON_ENV, "0.001")
    calls = failing_up(monkeypatch, [failures.classify_failure("gpu", "No route to host") for _ in range(150)])
    lines: list[str] = []
    sup = supervise.Supervisor(sess, batch=True, say=lines.append)
    assert sup._reconnect("the ssh connection was lost", threading.Event()) is True
    assert len(calls) == 151
    health = sess.store.load(state.HEALTH) or {}
    assert health["state"] == "watching" and health["reconnects"] == 1
    assert "(151 tries)" in health["message"] and health["offline_since"] is None
    assert any(line.startswith("offline since ") and "150 tries" in line for line in lines)


def test_a_changed_host_key_gives_up_at_once_and_says_what_to_run(
    sess: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\nHost key verification failed.\n"
    calls = failing_up(
        monkeypatch, [failures.classify_failure("gpu", "No route to host"), failures.classify_failure("gpu", changed)]
    )
    monkeypatch.setenv(outage.CAP_ENV, "0.001")
    sup = supervise.Supervisor(sess, batch=True, say=print)
    assert sup._reconnect("the ssh connection was lost", threading.Event()) is False
    assert len(calls) == 2
    health = sess.store.load(state.HEALTH) or {}
    assert health["state"] == "gave_up" and health["gave_up_reason"] == "host_key_changed"
    assert health["command"].startswith("ssh-keygen -R ")
    assert "does not match your known_hosts" in health["message"]


def test_authentication_refused_gives_up_only_in_batch(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(outage.CAP_ENV, "0.001")
    denied = "me@gpu: Permission denied (publickey).\n"
    failing_up(monkeypatch, [failures.classify_failure("gpu", denied)])
    assert supervise.Supervisor(sess, batch=True, say=print)._reconnect("lost", threading.Event()) is False
    calls = failing_up(monkeypatch, [failures.classify_failure("gpu", denied) for _ in range(3)])
    assert supervise.Supervisor(sess, batch=False, say=print)._reconnect("lost", threading.Event()) is True
    assert len(calls) == 4  # a foreground `up`: ssh may prompt the person again


def test_stop_ends_a_long_wait(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """`down` (SIGTERM) during a 30 s wait between tries: the wait ends at the poke, not at the timer."""
    failing_up(monkeypatch, [failures.classify_failure("gpu", "Connection timed out") for _ in range(5)])
    monkeypatch.setenv(outage.HORIZON_ENV, "0.001")  # the cap, 30 s, from the first failure on
    stop = threading.Event()
    sup = supervise.Supervisor(sess, batch=True, say=print)

    def down_soon() -> None:
        deadline = time.monotonic() + 10
        while (sess.store.load(state.HEALTH) or {}).get("state") != "offline" and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        sup.poke()

    threading.Thread(target=down_soon, daemon=True).start()
    start = time.monotonic()
    assert sup._reconnect("lost", stop) is False
    assert time.monotonic() - start < 5
