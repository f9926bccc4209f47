"""Local pieces: state files are atomic and private; ports; the server object from a recorded answer."""

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from remotebook.connection import tunnel
from remotebook.core.errors import TunnelError
from remotebook.launch import base as launch
from remotebook.launch import host
from remotebook.local import state
from remotebook.local.paths import Paths

DATA = Path(__file__).parent / "data"


def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "c", tmp_path / "s", tmp_path / "r")


def store(p: Paths, profile: str = "server", folder: str = "/home/me/a", host: str = "gpu") -> state.Store:
    return state.Store(p, state.Identity(profile, folder, host))


def test_state_roundtrip_is_private_and_leaves_no_temp_files(tmp_path: Path) -> None:
    p = paths(tmp_path)
    s = store(p)
    s.save({"target": "server", "token": "t"})
    file = s.path(state.STATE)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.dir.stat().st_mode) == 0o700
    assert s.load() == {"target": "server", "token": "t"}
    assert [f.name for f in s.dir.iterdir()] == [file.name]
    assert [d["target"] for _, d in state.all_projects(p)] == ["server"]
    s.remove()
    s.remove()  # idempotent
    assert s.load() is None


def test_two_projects_with_one_profile_name_share_nothing(tmp_path: Path) -> None:
    p = paths(tmp_path)
    a, b = store(p, folder="/home/me/a"), store(p, folder="/home/me/b")
    other_host, other_config = store(p, host="gpu2"), state.Store(p, state.Identity("server", "/home/me/a", "gpu", "x"))
    assert len({a.dir, b.dir, other_host.dir, other_config.dir}) == 4
    a.save({"target": "server", "token": "A"})
    b.save({"target": "server", "token": "B"})
    assert a.load() == {"target": "server", "token": "A"} and b.load() == {"target": "server", "token": "B"}
    fd = a.try_lock(state.UP_LOCK)
    assert fd is not None
    try:
        assert a.is_locked(state.UP_LOCK) and not b.is_locked(state.UP_LOCK)
        assert b.try_lock(state.UP_LOCK) is not None
    finally:
        os.close(fd)


def test_a_synced_file_named_target_is_not_a_project(tmp_path: Path) -> None:
    p = paths(tmp_path)
    s = store(p)
    s.save({"target": "server", "token": "t"})
    s.save({"target": [1, 2, 0], "notes.ipynb": [3, 4]}, "sync.json")  # a manifest of a file called `target`
    s.save({"pid": 1, "state": "watching"}, state.HEALTH)
    assert [(k, d["target"]) for k, d in state.all_projects(p)] == [(s.identity.key, "server")]


def test_state_save_failure_keeps_old_file(tmp_path: Path) -> None:
    p = paths(tmp_path)
    s = store(p)
    s.save({"target": "t", "n": 1})
    with pytest.raises(TypeError):
        s.save({"target": "t", "bad": object()})
    assert s.load() == {"target": "t", "n": 1}
    assert len(list(s.dir.iterdir())) == 1


def test_corrupt_state_reads_as_none(tmp_path: Path) -> None:
    p = paths(tmp_path)
    s = store(p)
    s.dir.mkdir(parents=True)
    s.path(state.STATE).write_text("{half")
    assert s.load() is None
    assert state.all_projects(p) == []


def test_old_layout_is_dropped_and_its_supervisor_stopped(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = paths(tmp_path)
    old = p.state_dir / "targets"
    old.mkdir(parents=True)
    (old / "server-1234abcd.json").write_text(json.dumps({"target": "server", "local_port": 8888}))
    lock = old / "server-1234abcd.supervisor.lock"
    lock.touch()
    code = "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); print(1, flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"  # it holds the lock now
        (old / "server-1234abcd.health.json").write_text(json.dumps({"pid": child.pid, "state": "watching"}))
        assert state.drop_old_layout(p)
        assert child.wait(timeout=10) != 0  # stopped by SIGTERM
        assert not old.exists()
        assert not state.drop_old_layout(p)
    finally:
        child.kill()
        child.wait()


def test_choose_port_prefers_wanted_then_falls_back_unless_strict() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        choice = tunnel.choose_port(taken, strict=False)
        assert choice.port != taken and choice.wanted == taken
        with pytest.raises(TunnelError, match=f"local port {taken} is already in use"):
            tunnel.choose_port(taken, strict=True)
    free = tunnel.free_port()
    assert tunnel.choose_port(free, strict=True).port == free


def test_forward_spec_is_loopback_only() -> None:
    assert (
        tunnel.forward_spec(8888, "/home/u/.remotebook/h/1/jupyter.sock")
        == "127.0.0.1:8888:/home/u/.remotebook/h/1/jupyter.sock"
    )
    assert tunnel.forward_spec(8888, "127.0.0.1:9000") == "127.0.0.1:8888:127.0.0.1:9000"


def test_server_from_recorded_runtime_info() -> None:
    info = json.loads((DATA / "jpserver.json").read_text())
    server = launch.Server.from_answer({"pid": 5815, "info": info, "log": "/l", "host": "vm", "action": "running"})
    assert server.transport == "unix"
    assert server.endpoint == info["sock"]
    assert server.token == "recorded-token"
    assert server.as_json()["running"] is True and server.as_json()["started"] is False
    tcp = launch.Server.from_answer({"pid": 1, "info": {**info, "sock": "", "port": 8890}})
    assert (tcp.transport, tcp.endpoint) == ("tcp", "127.0.0.1:8890")


def test_private_dir_refuses_foreign_owner(tmp_path: Path) -> None:
    from remotebook.local.paths import private_dir

    d = tmp_path / "x"
    d.mkdir(mode=0o755)
    private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    if os.getuid() == 0:
        os.chown(d, 65534, 65534)
        with pytest.raises(PermissionError, match="not a directory owned by you"):
            private_dir(d)


@pytest.mark.parametrize(
    ("head", "status"),
    [(b"HTTP/1.1 200 OK\r\nServer: x\r\n", 200), (b"HTTP/1.1 403 Forbidden\r\n", 403), (b"", 0), (b"SSH-2.0-x\r\n", 0)],
)
def test_parse_status_line(head: bytes, status: int) -> None:
    assert tunnel.parse_status_line(head) == status


def test_idle_args_use_jupyters_own_culling() -> None:
    assert host.idle_args(0) == ()
    assert host.idle_args(7200) == (
        "--MappingKernelManager.cull_idle_timeout=7200",
        "--MappingKernelManager.cull_interval=60",
        "--ServerApp.shutdown_no_activity_timeout=7200",
    )
    assert "--MappingKernelManager.cull_interval=1" in host.idle_args(3)


LISTEN_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41233 1 0000000000000000 100 0 0 10 0
   1: 0100007F:22B8 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 20 4 30 10 -1
   2: 00000000:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 61235 1 0000000000000000 100 0 0 10 0
"""


def test_listening_inodes_reads_only_loopback_listeners_of_that_port() -> None:
    assert tunnel.listening_inodes(LISTEN_TABLE, 0x22B8) == {"41233"}
    assert tunnel.listening_inodes(LISTEN_TABLE, 8889) == set()


def test_listened_by_tells_our_process_from_another() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert tunnel.listened_by(os.getpid(), port) is True
        assert tunnel.listened_by(1, port) is False  # pid 1 does not hold our socket
    assert tunnel.listened_by(os.getpid(), port) is False  # closed: nobody listens


def test_listened_by_follows_a_new_listener_on_the_same_port() -> None:
    """The inode remembered from the last look is checked first; a new socket on the port is found anew."""
    with socket.socket() as first:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind(("127.0.0.1", 0))
        first.listen()
        port = first.getsockname()[1]
        assert tunnel.listened_by(os.getpid(), port) is True
        assert tunnel.listened_by(os.getpid(), port) is True  # from the remembered inode
    with socket.socket() as other:  # a socket of ours, but not a listener on that port
        assert tunnel.listened_by(os.getpid(), port) is False
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        assert tunnel.listened_by(os.getpid(), port) is True
