"""Sanity checks of the test harness itself: each ssh alias models what it claims."""

from __future__ import annotations

import select
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.remote_host import JUPYTER_VENV, RemoteHost

SSH_TIMEOUT = 30.0


def ssh(host: RemoteHost, alias: str, command: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(host.ssh_config), *options, alias, command],
        capture_output=True,
        text=True,
        timeout=SSH_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def test_happy_path_connects(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbremote", "true")
    assert result.returncode == 0, result.stderr


def test_jupyter_only_on_login_shell_path(remote_host: RemoteHost) -> None:
    login = ssh(remote_host, "rbremote", 'bash -lc "command -v jupyter"')
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == f"{JUPYTER_VENV}/bin/jupyter"
    plain = ssh(remote_host, "rbremote", "command -v jupyter")
    assert plain.returncode != 0
    assert plain.stdout.strip() == ""


def test_remote_user_can_run_the_venv_jupyter(remote_host: RemoteHost) -> None:
    # Catches a venv built from a python the remote user cannot execute.
    result = ssh(remote_host, "rbremote", 'bash -lc "jupyter server --version"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()[0].isdigit()


def test_bare_user_has_python_but_no_jupyter(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbbare", 'bash -lc "command -v python3; command -v jupyter"')
    assert result.stdout.strip() == "/usr/bin/python3"
    assert result.returncode != 0


def test_wrong_host_key_is_rejected(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbbadkey", "true")
    assert result.returncode == 255
    assert "host key" in result.stderr.lower(), result.stderr


def test_unauthorized_identity_is_denied(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbnoauth", "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_refused_port(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbrefused", "true")
    assert result.returncode == 255
    assert "refused" in result.stderr.lower(), result.stderr


def test_unknown_host(remote_host: RemoteHost) -> None:
    result = ssh(remote_host, "rbunknown", "true")
    assert result.returncode == 255
    assert "no-such-host.invalid" in result.stderr


def test_nopy_user_has_no_python(remote_host: RemoteHost) -> None:
    login = ssh(remote_host, "rbnopy", 'bash -lc "command -v python3 python; command -v sh awk"')
    assert "python" not in login.stdout
    assert login.stdout.split() == [
        f"{remote_host.home('rbnopy')}/minbin/sh",
        f"{remote_host.home('rbnopy')}/minbin/awk",
    ]
    plain = ssh(remote_host, "rbnopy", "command -v python3 python")
    assert plain.returncode != 0 and plain.stdout.strip() == ""


def test_nofwd_refuses_forwarding(remote_host: RemoteHost) -> None:
    target = f"{remote_host.address}:{remote_host.port}"
    assert ssh(remote_host, "rbnofwd", "true").returncode == 0
    denied = ssh(remote_host, "rbnofwd", "", "-W", target)
    assert denied.returncode == 255
    assert "prohibited" in denied.stderr, denied.stderr


def test_forwarding_works_on_happy_path(remote_host: RemoteHost) -> None:
    # -W opens the same kind of channel as -L: the far end's sshd banner comes back.
    target = f"{remote_host.address}:{remote_host.port}"
    with subprocess.Popen(
        ["ssh", "-F", str(remote_host.ssh_config), "-W", target, "rbremote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], SSH_TIMEOUT)
            assert ready, "no banner through the forward"
            assert proc.stdout.readline().startswith(b"SSH-2.0-")
        finally:
            proc.kill()


def test_run_as_runs_as_that_user(remote_host: RemoteHost) -> None:
    result = remote_host.run_as("rbother", ["id", "-un"], timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "rbother"


LISTENER = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(20)
print(s.getsockname()[1], flush=True)
s.accept()
"""


def test_namespace_loopback_is_not_ours(remote_host: RemoteHost) -> None:
    if remote_host.netns is None:
        pytest.skip("only meaningful with a network namespace")
    argv = remote_host.wrap(["/usr/bin/python3", "-c", LISTENER], user="rbtest")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, text=True, cwd="/", env=remote_host.user_env("rbtest")
    ) as listener:
        try:
            assert listener.stdout is not None
            ready, _, _ = select.select([listener.stdout], [], [], 10)
            assert ready, "listener inside the namespace did not start"
            port = int(listener.stdout.readline())
            # From the test's network namespace: nothing there.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            # From inside the namespace: the listener answers.
            inside = remote_host.run_as(
                "rbbare",
                ["/usr/bin/python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 5)"],
                timeout=10,
            )
            assert inside.returncode == 0, inside.stderr
        finally:
            listener.kill()


def test_reset_kills_processes_and_cleans_home(remote_host: RemoteHost) -> None:
    started = ssh(
        remote_host,
        "rbremote",
        # `;` not `&&`: the `&` must background only the sleep, whose
        # fds are detached, or ssh waits for the whole list to end.
        "mkdir -p ~/.remotebook ~/project; touch /tmp/rbtest-leftover; "
        "setsid nohup sleep 300 >/dev/null 2>&1 </dev/null &",
    )
    assert started.returncode == 0, started.stderr
    home = remote_host.home("rbtest")
    deadline = time.monotonic() + 5
    while "sleep 300" not in remote_host.ps() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "sleep 300" in remote_host.ps()

    remote_host.reset()

    assert "sleep 300" not in remote_host.ps()
    assert not (home / ".remotebook").exists() and not (home / "project").exists()
    assert not Path("/tmp/rbtest-leftover").exists()
    assert (home / ".profile").read_text().count(str(JUPYTER_VENV)) == 1
    assert ssh(remote_host, "rbremote", "true").returncode == 0
