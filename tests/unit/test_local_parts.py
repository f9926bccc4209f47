"""Local pieces: state files are atomic and private; ports; the server object from a recorded answer."""

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from remotebook import jupyter, state, tunnel
from remotebook.errors import TunnelError
from remotebook.paths import Paths

DATA = Path(__file__).parent / "data"


def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "c", tmp_path / "s", tmp_path / "r")


def test_state_roundtrip_is_private_and_leaves_no_temp_files(tmp_path: Path) -> None:
    p = paths(tmp_path)
    state.save(p, "me@gpu:22", {"target": "me@gpu:22", "token": "t"})
    file = state.path_for(p, "me@gpu:22")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.targets_dir.stat().st_mode) == 0o700
    assert state.load(p, "me@gpu:22") == {"target": "me@gpu:22", "token": "t"}
    assert [f.name for f in p.targets_dir.iterdir()] == [file.name]
    assert [d["target"] for d in state.all_targets(p)] == ["me@gpu:22"]
    state.remove(p, "me@gpu:22")
    state.remove(p, "me@gpu:22")  # idempotent
    assert state.load(p, "me@gpu:22") is None


def test_state_save_failure_keeps_old_file(tmp_path: Path) -> None:
    p = paths(tmp_path)
    state.save(p, "t", {"target": "t", "n": 1})
    with pytest.raises(TypeError):
        state.save(p, "t", {"target": "t", "bad": object()})
    assert state.load(p, "t") == {"target": "t", "n": 1}
    assert len(list(p.targets_dir.iterdir())) == 1


def test_corrupt_state_reads_as_none(tmp_path: Path) -> None:
    p = paths(tmp_path)
    p.targets_dir.mkdir(parents=True)
    state.path_for(p, "t").write_text("{half")
    assert state.load(p, "t") is None


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
    server = jupyter.Server.from_answer({"pid": 5815, "info": info, "log": "/l", "host": "vm", "action": "running"})
    assert server.transport == "unix"
    assert server.endpoint == info["sock"]
    assert server.token == "recorded-token"
    assert server.as_json()["running"] is True and server.as_json()["started"] is False
    tcp = jupyter.Server.from_answer({"pid": 1, "info": {**info, "sock": "", "port": 8890}})
    assert (tcp.transport, tcp.endpoint) == ("tcp", "127.0.0.1:8890")


def test_private_dir_refuses_foreign_owner(tmp_path: Path) -> None:
    from remotebook.paths import private_dir

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
    assert jupyter.idle_args(0) == ()
    assert jupyter.idle_args(7200) == (
        "--MappingKernelManager.cull_idle_timeout=7200",
        "--MappingKernelManager.cull_interval=60",
        "--ServerApp.shutdown_no_activity_timeout=7200",
    )
    assert "--MappingKernelManager.cull_interval=1" in jupyter.idle_args(3)
