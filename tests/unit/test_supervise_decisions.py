"""The supervisor's decisions (when to rebuild the tunnel), with its probes stubbed.

The real reconnects run against the harness in tests/integration/test_survive.py;
a laptop's sleep cannot be staged there, so the clock-jump rule is checked here.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from remotebook import config, launch, ssh, state, supervise, tunnel
from remotebook.paths import Paths
from remotebook.session import Session


@pytest.fixture
def sess(tmp_path: Path) -> Session:
    paths = Paths(tmp_path / "c", tmp_path / "s", tmp_path / "r")
    profile = config.resolve(config.load(tmp_path, tmp_path / "none"), "gpu")
    target = ssh.Target("gpu", "", str(tmp_path / "cm"), "gpu", "me", 22, {})
    store = state.Store(paths, state.Identity("gpu", str(tmp_path), "gpu"))
    sess = Session(paths, profile, target, store, launch.launcher_for(target, profile))
    sess.store.save({"target": "gpu", "local_port": 1, "token": "t"})
    return sess


def stub(monkeypatch: pytest.MonkeyPatch, *, master: bool, http: int, ours: bool = True) -> None:
    monkeypatch.setattr(ssh, "master_pid", lambda _t: 4242 if master else None)
    monkeypatch.setattr(tunnel, "held_by_master", lambda _pid, _port: ours)
    monkeypatch.setattr(tunnel, "api_status", lambda *_a, **_k: http)


def test_a_port_no_longer_held_by_our_master_gets_no_token(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[object] = []
    stub(monkeypatch, master=True, http=200, ours=False)
    monkeypatch.setattr(tunnel, "api_status", lambda *a, **_k: sent.append(a) or 200)
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


def test_run_notices_a_wall_clock_jump(sess: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock runs ahead of the monotonic one across a suspend."""
    seen: list[bool] = []
    stop = threading.Event()
    # start, first check, its reset, then the second check an hour of sleep later
    clock = iter([1000.0, 1000.0, 1000.0, 5000.0])
    monkeypatch.setattr(supervise.time, "time", lambda: next(clock, 5000.0))
    monkeypatch.setattr(supervise, "CHECK_INTERVAL", 0.0)

    def problem(self: supervise.Supervisor, slept: bool) -> str:
        seen.append(slept)
        if len(seen) == 2:
            stop.set()
        return ""

    monkeypatch.setattr(supervise.Supervisor, "_problem", problem)
    supervise.Supervisor(sess, batch=True, say=print).run(stop)
    assert seen == [False, True]
