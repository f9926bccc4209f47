"""The remote side of issue 9: server identity, slim hosts, the user's umask and locale, auth, kernels over ipc."""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.remote_host import JUPYTER_VENV, _alive
from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import execute, request, run_in, start_kernel

NOTEBOOK = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}


def _add_to_profile(rb: Runner, text: str, user: str = "rbtest") -> None:
    """Append to the user's ~/.profile (the harness's reset restores it after the test)."""
    with open(rb.host.home(user) / ".profile", "a") as profile:
        profile.write(text)


def _login_shell(rb: Runner, command: str, alias: str = "rbremote") -> str:
    """What a login shell on the remote prints for `command` (the way remotebook's bootstrap runs)."""
    argv = ["ssh", "-F", str(rb.host.ssh_config), alias, f"bash -lc {shlex.quote(command)}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL).stdout


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} is still alive"
        time.sleep(0.02)  # polling for the process to be gone


def _pid_of(rb: Runner, marker: str) -> int:
    """The pid of rbtest's process whose argv starts with `marker` (polls for it to exist)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in rb.host.ps().splitlines()[1:]:
            user, pid, _ppid, args = line.split(None, 3)
            if user == "rbtest" and args.startswith(marker):
                return int(pid)
        time.sleep(0.02)  # polling for the process to start
    raise AssertionError(f"no process {marker!r}")


def test_a_recycled_pid_is_neither_the_server_nor_killed_by_down(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    state = Path(report["server"]["log"]).parent  # ~rbtest/.remotebook/<host>/<key>
    os.kill(report["server"]["pid"], signal.SIGKILL)  # the server dies behind remotebook's back
    _wait_gone(report["server"]["pid"])
    # ... and its pid now belongs to an editor with "jupyter" in its argv
    impostor = subprocess.Popen(
        rb.host.wrap(
            ["bash", "-c", 'printf %s "$$" >"$1"; exec -a "vim jupyter_notes.txt" sleep 600', "bash"]
            + [str(state / "server.pid")],
            "rbtest",
        ),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pid = _pid_of(rb, "vim jupyter_notes.txt")
        assert (state / "server.pid").read_text().strip() == str(pid)
        status = rb.run("status", "rbremote", "--json")
        assert json.loads(status.stdout)["server"]["running"] is False, status.stdout
        down = rb.run("down", "rbremote", "--server")
        assert down.returncode == 0, down.stderr
        assert "server stopped" not in down.stdout
        assert _alive(pid), "down --server killed a process that is not its server"
    finally:
        impostor.kill()
        impostor.wait(timeout=10)


def test_up_status_and_down_on_a_host_without_ps(rb: Runner) -> None:
    slim = rb.host.bin_without("rbtest", ["ps"])
    _add_to_profile(rb, f'PATH="{JUPYTER_VENV}/bin:{slim}"\nexport PATH\n')
    assert _login_shell(rb, "command -v ps || echo none").strip() == "none"
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)  # a kernel left running: down must find it without ps
    assert run_in(port, token, kernel, "6*7") == "42"
    status = rb.json("status", "rbremote")
    assert status["server"]["running"] is True
    assert status["server"]["pid"] == report["server"]["pid"]
    down = rb.run("down", "rbremote", "--server")
    assert down.returncode == 0, down.stderr
    assert "server stopped" in down.stdout
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest")] == []


def test_notebooks_get_the_users_umask_and_kernels_the_users_locale(rb: Runner) -> None:
    _add_to_profile(rb, "umask 002\nLANG=C.UTF-8\nexport LANG\nunset LC_ALL\n")
    login = _login_shell(rb, 'echo "$(umask) ${LANG-unset} ${LC_ALL-unset}"').split()
    assert login == ["0002", "C.UTF-8", "unset"]
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = report["local_port"], report["token"]
    status, _ = request(port, "PUT", "/api/contents/x.ipynb", token, NOTEBOOK)
    assert status == 201
    root = Path(report["server"]["root_dir"])
    assert stat.S_IMODE((root / "x.ipynb").stat().st_mode) & 0o060 == 0o060  # group read + write
    assert stat.S_IMODE(root.stat().st_mode) == 0o775  # remote_dir, made by the bootstrap
    code = "import os; m = os.umask(0); os.umask(m); (oct(m), os.environ.get('LANG'), os.environ.get('LC_ALL'))"
    assert execute(port, token, code) == "('0o2', 'C.UTF-8', None)"
    # ... while remotebook's own files stay private
    state = Path(report["server"]["log"]).parent
    for path, mode in [(state, 0o700), (state / "runtime", 0o700)] + [
        (state / name, 0o600) for name in ("token", "server.log", "server.pid", "transport", "python")
    ]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o777 == mode, path  # Jupyter adds a sticky bit to runtime/


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("jupyter_server_config.py", 'c.ServerApp.token = ""\n'),
        ("jupyter_server_config.json", '{"IdentityProvider": {"token": ""}}\n'),
    ],
)
def test_a_config_that_turns_the_token_off_is_refused_and_nothing_keeps_running(
    rb: Runner, name: str, config: str
) -> None:
    folder = rb.host.home("rbtest") / ".jupyter"
    rb.host.run_as("rbtest", ["mkdir", "-p", str(folder)], timeout=10)
    rb.host.run_as("rbtest", ["sh", "-c", f'printf %s "$1" >"{folder / name}"', "sh", config], timeout=10)
    out = rb.run("up", "rbremote", "--detach", "--no-browser")
    assert out.returncode == 12, out.stderr
    assert "without a token" in out.stderr
    assert str(folder / name) in out.stderr
    assert rb.jupyter_processes() == []
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest")] == []
    assert not any("url" in json.loads(f.read_text()) for f in rb.state_files())
    assert [p for p in rb.ssh_processes() if "[mux]" not in p] == []


def _connection_files(report: dict[str, object]) -> list[dict[str, object]]:
    server = report["server"]
    assert isinstance(server, dict)
    runtime = Path(str(server["log"])).parent / "runtime"
    return [json.loads(f.read_text()) for f in runtime.glob("kernel-*.json")]


def test_kernels_talk_over_ipc_in_the_private_runtime_dir(rb: Runner) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert report["server"]["kernel_transport"] == "ipc"
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)
    assert run_in(port, token, kernel, "6*7") == "42"
    [connection] = _connection_files(report)
    assert connection["transport"] == "ipc"
    assert str(connection["ip"]).startswith(str(Path(report["server"]["log"]).parent / "runtime"))
    assert rb.json("status", "rbremote")["server"]["kernel_transport"] == "ipc"


def test_old_jupyter_server_runs_kernels_too(rb: Runner) -> None:
    old = JUPYTER_VENV.parent / "old-jupyter-venv" / "bin" / "jupyter"
    rb.write_config(f'[profiles.old]\nhost = "rbbare"\njupyter = "{old}"\n')
    report = rb.json("up", "old", "--detach", "--no-browser")
    assert report["server"]["version"].startswith("1.13.")
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)
    assert run_in(port, token, kernel, "6*7") == "42"
    [connection] = _connection_files(report)
    assert connection["transport"] == report["server"]["kernel_transport"] == "ipc"


def test_jupyter_args_can_keep_kernels_on_tcp(rb: Runner) -> None:
    # e.g. for a kernel that only speaks tcp
    rb.write_config('[profiles.t]\nhost = "rbremote"\njupyter_args = ["--KernelManager.transport=tcp"]\n')
    report = rb.json("up", "t", "--detach", "--no-browser")
    assert report["server"]["kernel_transport"] == "tcp"
    port, token = report["local_port"], report["token"]
    kernel = start_kernel(port, token)
    assert run_in(port, token, kernel, "6*7") == "42"
    assert [c["transport"] for c in _connection_files(report)] == ["tcp"]
