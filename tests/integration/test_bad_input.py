"""Bad input: one line saying what is wrong and what to do, a fixed exit code, nothing left behind."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Runner


def assert_clean_failure(rb: Runner, out: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert out.returncode == code, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("remotebook: error: ")]
    assert len(errors) == 1, out.stderr  # progress lines may come before it; one error line
    first = errors[0]
    for needle in needles:
        assert needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert "hint:" in out.stderr  # always says what to do
    assert rb.ssh_processes() == []  # no master, no client left running
    assert rb.state_files() == []  # no half-written state
    return first


@pytest.mark.parametrize(
    ("alias", "needle"),
    [
        ("rbunknown", "cannot resolve the host name of rbunknown"),
        ("rbrefused", "connection to rbrefused refused"),
        ("rbnoauth", "authentication to rbnoauth failed"),
    ],
)
def test_unreachable_hosts(rb: Runner, alias: str, needle: str) -> None:
    assert_clean_failure(rb, rb.run("up", alias, "--detach", "--no-browser"), 4, needle)


def test_host_key_mismatch_is_refused_and_known_hosts_untouched(rb: Runner) -> None:
    files = sorted(rb.host.workdir.glob("known_hosts*"))
    before = [f.read_bytes() for f in files]
    out = rb.run("up", "rbbadkey", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 4, "does not match your known_hosts", "ssh-keygen -R")
    assert [f.read_bytes() for f in files] == before
    assert rb.jupyter_processes() == []  # nothing ran on the impostor


def test_no_jupyter_on_the_remote(rb: Runner) -> None:
    out = rb.run("up", "rbbare", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 5, "python3 is there but jupyter is not", "pip install --user jupyterlab")


def test_no_python_on_the_remote(rb: Runner) -> None:
    out = rb.run("up", "rbnopy", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 5, "no python3 and no jupyter", "install Python 3")


def test_remote_dir_not_writable(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\nremote_dir = "/root/not-yours"\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 5, "cannot create remote_dir /root/not-yours")


def test_missing_app_is_named(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\napp = "notebook"\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 5, "the notebook app is not installed")


def test_server_that_dies_while_starting_shows_its_log(rb: Runner) -> None:
    rb.write_config('[profiles.p]\nhost = "rbremote"\njupyter_args = ["--ServerApp.port=not-a-number"]\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 6, "Jupyter exited while starting", "  | ", "not-a-number")
    assert rb.jupyter_processes() == []


def test_local_port_given_and_taken(rb: Runner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = rb.run("up", "rbremote", "--detach", "--no-browser", "--port", str(port))
    assert_clean_failure(rb, out, 7, f"local port {port} is already in use", "--port")
    assert rb.jupyter_processes() == []  # it failed before touching the remote


def test_configured_port_taken_falls_back_and_says_so(rb: Runner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rb.write_config(f'[profiles.p]\nhost = "rbremote"\nlocal_port = {port}\n')
        report = rb.json("up", "p", "--detach", "--no-browser")
    assert report["local_port"] != port
    assert report["notes"] == [f"local port {port} is in use; using {report['local_port']} instead"]


def test_forwarding_refused_by_the_server(rb: Runner) -> None:
    out = rb.run("up", "rbnofwd", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 7, "refuses to forward to Jupyter's unix socket", 'transport = "tcp"')
    rb.write_config('[profiles.p]\nhost = "rbnofwd"\ntransport = "tcp"\nremote_dir = "~/tcp"\n')
    out = rb.run("up", "p", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 7, "refuses port forwarding (AllowTcpForwarding is off")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[profiles.p\nhost = 'x'\n", "not valid TOML"),
        ('[profiles.p]\nhost = "rbremote"\napp = "vscode"\n', "`profiles.p.app` must be one of: lab, notebook"),
        ('[profiles.p]\nhost = "rbremote"\nlocal_prot = 8888\n', "unknown key `profiles.p.local_prot`"),
    ],
)
def test_bad_config(rb: Runner, text: str, needle: str) -> None:
    rb.write_config(text, trusted=False)  # nothing in it needs approval, and `trust` itself would refuse it
    out = rb.run("up", "p", "--detach", "--no-browser")
    first = assert_clean_failure(rb, out, 3, needle)
    assert str(rb.project / "remotebook.toml") in first


def test_missing_ssh_config_file(rb: Runner) -> None:
    out = rb.run("--ssh-config", "/nonexistent/ssh_config", "up", "rbremote", "--detach", "--no-browser")
    assert_clean_failure(rb, out, 3, "/nonexistent/ssh_config does not exist")


def test_no_target_and_no_profile(rb: Runner) -> None:
    assert_clean_failure(rb, rb.run("up", "--detach", "--no-browser"), 3, "no target given")


def test_shell_metacharacters_arrive_as_literals(rb: Runner) -> None:
    nasty = 'it\'s a $(touch PWNED1) ; `touch PWNED2` "dir" & | > x'
    rb.write_config(
        "[profiles.p]\n"
        'host = "rbremote"\n'
        f"remote_dir = '''~/{nasty}'''\n"
        "jupyter_args = ['--ServerApp.custom_display_url=http://x/$(touch PWNED3);touch PWNED4']\n"
    )
    report = rb.json("up", "p", "--detach", "--no-browser")
    home = rb.host.home("rbtest")
    assert report["server"]["root_dir"] == f"{home}/{nasty}"
    assert (home / nasty).is_dir()
    leaked = [p for p in (*home.rglob("PWNED*"), *Path("/tmp").glob("PWNED*"), *rb.project.rglob("PWNED*"))]
    assert leaked == []


def test_status_of_a_target_that_is_down(rb: Runner) -> None:
    out = rb.run("status", "rbremote")
    assert out.returncode == 8
    assert "server: not running" in out.stdout and "tunnel: down" in out.stdout
    assert rb.ssh_processes() == []


def test_open_when_not_up(rb: Runner) -> None:
    out = rb.run("open", "rbremote")
    assert out.returncode == 8
    assert "rbremote is not up" in out.stderr and "remotebook up rbremote" in out.stderr
