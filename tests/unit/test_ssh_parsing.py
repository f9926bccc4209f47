"""ssh: `ssh -G` output (recorded) and the translation of exit-255 prose into one-line errors."""

from pathlib import Path

import pytest

from remotebook.connection import failures, mux, ssh
from remotebook.core.errors import SSHError, TunnelError

DATA = Path(__file__).parent / "data"


def test_parse_recorded_ssh_g() -> None:
    options = ssh.parse_ssh_g((DATA / "ssh-G.txt").read_text())
    assert options["hostname"] == "127.0.0.1"
    assert options["port"] == "2299"
    assert options["user"] == "root"
    assert options["stricthostkeychecking"] == "true"
    assert options["controlpath"].startswith("/tmp/remotebook-0/cm-")
    assert len(options["controlpath"]) < 100


def test_target_argv_keeps_config_and_control_path() -> None:
    t = ssh.Target("gpu", "/cfg", "/run/cm-1", "gpu", "me", 22, {})
    assert t.argv("-O", "check") == ["ssh", "-F", "/cfg", "-o", "ControlPath=/run/cm-1", "-O", "check"]
    assert "-F" not in ssh.Target("gpu", "", "/run/cm-1", "gpu", "me", 22, {}).argv()


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.\n",
            "does not match",
        ),
        (
            "No ED25519 host key is known for [h]:22 and you have requested strict checking.\nHost key verification failed.\n",
            "host key verification failed",
        ),
        ("ssh: Could not resolve hostname nope.invalid: Name or service not known\n", "cannot resolve"),
        ("ssh: connect to host 10.0.0.2 port 2: Connection refused\n", "refused"),
        ("rb@10.1.1.2: Permission denied (publickey).\n", "authentication"),
        ("ssh: connect to host 10.9.9.9 port 22: Connection timed out\n", "timed out"),
        ("kex_exchange_identification: read: Connection reset by peer\n", "failed: kex_exchange"),
    ],
)
def test_classify_failure(stderr: str, expected: str) -> None:
    err = failures.classify_failure("gpu", stderr)
    assert isinstance(err, SSHError)
    assert expected in err.message
    assert err.hint
    assert "\n" not in err.message


def test_forward_refused_is_recognised() -> None:
    # recorded from the harness: an sshd with AllowTcpForwarding/AllowStreamLocalForwarding no
    tcp = failures.forward_refused("channel 1: open failed: administratively prohibited: open failed\n")
    assert isinstance(tcp, TunnelError) and "AllowTcpForwarding" in tcp.message
    unix = failures.forward_refused("channel 1: open failed: connect failed: open failed\n")
    assert isinstance(unix, TunnelError) and "AllowStreamLocalForwarding" in unix.message
    # a refused TCP connection on the remote is not a policy refusal
    assert failures.forward_refused("channel 1: open failed: connect failed: Connection refused\n") is None


def test_login_wrapper_runs_stdin_in_sh(tmp_path: Path) -> None:
    import subprocess

    out = subprocess.run(
        ["sh", "-c", ssh.LOGIN_SH],
        input="echo from-stdin $0\n",
        capture_output=True,
        text=True,
        timeout=20,
        env={"SHELL": "/bin/sh", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "from-stdin" in out.stdout


def test_check_answer_gives_the_master_pid() -> None:
    # recorded from OpenSSH 9.2 (`ssh -O check`): on stderr, with a CR before the newline
    assert mux.parse_check("Master running (pid=48211)\r\n") == 48211
    assert mux.parse_check("Control socket connect(/tmp/x): No such file or directory\r\n") is None


def test_a_master_is_watched_in_proc_by_its_pid_and_control_path(tmp_path: Path) -> None:
    import subprocess
    import sys

    control = tmp_path / "cm-0123abcd"
    control.touch()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(control)])
    try:
        assert mux.still_master(child.pid, str(control))
        assert not mux.still_master(child.pid, str(tmp_path / "cm-other"))  # a recycled pid is not ours
        control.unlink()
        assert not mux.still_master(child.pid, str(control))  # no socket: nothing can ride it
        control.touch()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not mux.still_master(child.pid, str(control))
