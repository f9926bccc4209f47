"""doctor: doctor.sh run by a local sh, and the pure judges of its answer (recorded from the harness host)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.actions import doctor, server_checks
from remotebook.core.errors import EXIT_REMOTE, EXIT_SYNC, EXIT_TUNNEL
from remotebook.local.config import Profile
from remotebook.project.reports import Check, DoctorReport
from remotebook.remote.values import bootstrap_values

# What doctor.sh answered on the harness's rbtest (a healthy host), noise and listener aside.
HEALTHY = {
    "ok": True,
    "now": 1764640000,
    "shell": "/bin/bash",
    "env_error": "",
    "root_exists": "no",
    "root_writable": "yes",
    "root": "/home/rbtest/myproject",
    "disk": "overlay 100000000 19000000 81000000 19% /",
    "jupyter": "/opt/remotebook-harness/jupyter-venv/bin/jupyter",
    "python": "/opt/remotebook-harness/jupyter-venv/bin/python",
    "python_version": "3.11.2",
    "versions": "2.21.1 yes sock ipc",
    "rsync": "rsync  version 3.2.7  protocol version 31",
    "kill_user_processes": "",
    "linger": "",
    "sbatch": "",
    "squeue": "",
}


def answer(noise: str = "", **changes: object) -> remote.Answer:
    return remote.Answer(ok=True, data={**HEALTHY, **changes}, noise=noise)


def judged(noise: str = "", *, slurm: bool = False, **changes: object) -> dict[str, Check]:
    found = server_checks.remote_checks(
        answer(noise, **changes), app="lab", local_rsync="3.5.0", local_mid=1764640000.4, uses_slurm=slurm
    )
    return {c.name: c for c in found}


def test_healthy_answer_is_all_ok() -> None:
    found = judged()
    assert {c.status for c in found.values()} == {"ok"}, found
    assert found["Jupyter"].found.endswith("kernels over IPC, --sock")
    assert found["rsync"].found == "local 3.5.0, remote 3.2.7"
    assert "77.2 GiB free on /" in found["disk and quota"].found


@pytest.mark.parametrize(
    ("changes", "name", "status", "code"),
    [
        ({"jupyter": "", "versions": "none"}, "Jupyter", "fail", EXIT_REMOTE),
        ({"versions": "2.21.1 no sock ipc"}, "Jupyter", "fail", EXIT_REMOTE),
        ({"versions": "1.13.0 yes tcp tcp"}, "Jupyter", "warn", 0),
        ({"python": "", "jupyter": "", "versions": ""}, "remote python", "fail", EXIT_REMOTE),
        ({"env_error": "venv_missing: venv /x does not exist on the remote"}, "remote python", "fail", EXIT_REMOTE),
        ({"root_writable": "no", "root_exists": "yes"}, "remote_dir writable", "fail", EXIT_REMOTE),
        ({"rsync": ""}, "rsync", "fail", EXIT_SYNC),
        ({"disk": "tmpfs 100 99 500 99% /home"}, "disk and quota", "warn", 0),
        ({"quota": "Disk quota exceeded"}, "disk and quota", "warn", 0),
        ({"kill_user_processes": "b true", "linger": "no"}, "systemd linger", "warn", 0),
        ({"kill_user_processes": "b true", "linger": "yes"}, "systemd linger", "ok", 0),
        ({"now": 1764640000 + 300}, "clock", "warn", 0),
    ],
)
def test_each_broken_finding_marks_its_check(changes: dict[str, object], name: str, status: str, code: int) -> None:
    check = judged(**changes)[name]
    assert (check.status, check.exit_code) == (status, code), check
    if status != "ok":
        assert check.fix


def test_login_noise_is_a_warning_that_quotes_it() -> None:
    check = judged("Welcome to gpu-box!\nLast login: yesterday")["login shell"]
    assert check.status == "warn"
    assert "Welcome to gpu-box!" in check.found
    assert "interactive" in check.fix


def test_slurm_only_when_the_profile_uses_it() -> None:
    assert "Slurm" not in judged()
    assert judged(slurm=True)["Slurm"].status == "fail"
    assert judged(slurm=True, sbatch="/usr/bin/sbatch", squeue="/usr/bin/squeue")["Slurm"].status == "ok"


def test_forwarding_verdicts_from_the_master_log() -> None:
    assert doctor.forwarding("TCP forwarding", ("remotebook-doctor\n", "")).status == "ok"
    refused = "channel 3: open failed: administratively prohibited: open failed\n"
    tcp = doctor.forwarding("TCP forwarding", ("", refused))
    assert (tcp.status, tcp.exit_code) == ("fail", EXIT_TUNNEL)
    assert "AllowTcpForwarding" in tcp.found
    unix = doctor.forwarding("unix-socket forwarding", ("", "open failed: connect failed: open failed"))
    assert "AllowStreamLocalForwarding" in unix.found
    assert 'transport = "tcp"' in unix.fix
    assert doctor.forwarding("unix-socket forwarding", None).status == "skip"


def test_exit_code_is_the_first_failures() -> None:
    checks = (
        Check("a", "ok", ""),
        Check("b", "warn", ""),
        Check("c", "fail", "", "", 7),
        Check("d", "fail", "", "", 5),
    )
    assert DoctorReport("t", "t", checks, 0.1).exit_code == 7
    assert DoctorReport("t", "t", checks[:2], 0.1).exit_code == 0


def test_unreachable_port_fails_at_once_and_skips_the_rest() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = _target("127.0.0.1", port)
    found, _ = doctor.run(target, {}, app="lab")
    assert found[0].status == "fail"
    assert [c.status for c in found[1:]] == ["skip"] * (len(doctor.ORDER) - 1)


def _target(hostname: str, port: int) -> doctor.ssh.Target:
    return doctor.ssh.Target("x", "", "/nonexistent/cm", hostname, "me", port, {})


def test_doctor_sh_runs_in_a_local_sh_and_answers_everything(tmp_path: Path) -> None:
    """The real script, in POSIX sh on this machine: every key is there, and the listener answers."""
    profile = Profile(name="p", host="h", remote_dir=str(tmp_path / "root"), project_dir=tmp_path)
    script = remote.render("check", bootstrap_values(profile), script="doctor")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    environ = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}", "SHELL": "/bin/sh"}
    out = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True, timeout=30, env=environ)
    data = remote.parse(out.stdout, script.nonce).data
    assert set(HEALTHY) - {"ok"} <= set(data), data
    assert data["root_exists"] == "no"
    assert data["root_writable"] == "yes"
    assert abs(data["now"] - time.time()) < 5
    with socket.create_connection(("127.0.0.1", int(data["listen_port"])), timeout=5) as conn:
        assert conn.recv(64) == b"remotebook-doctor\n"
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(data["listen_sock"])
        assert conn.recv(64) == b"remotebook-doctor\n"
