"""Clusters (issue 15): Jupyter from a real Lmod module in `setup`, and a login shell that talks.

The harness's remote has Debian's Lmod (setup.sh installs it): /etc/profile.d/lmod.sh defines
`module` in every login shell, as on a cluster. rbbare's profile puts no Jupyter on PATH;
a modulefile in its MODULEPATH puts the harness's JupyterLab venv there.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest

from tests.harness.remote_host import JUPYTER_VENV, LMOD_CMD, SETUP_HINT
from tests.integration.conftest import Runner, _unavailable
from tests.integration.jupyter_client_lite import request

MODULE = "jupyterlab/4"
MOTD = "Welcome to the cluster! (MOTD on stdout)"
MOTD_ERR = "quota warning (MOTD on stderr)"


def _login(rb: Runner, alias: str, command: str) -> subprocess.CompletedProcess[str]:
    """`command` in the user's login shell, the way `ssh host` then typing it would run it."""
    argv = ["ssh", "-F", str(rb.host.ssh_config), alias, f"bash -lc {shlex.quote(command)}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture
def jupyter_module(rb: Runner) -> str:
    """rbbare gets a `jupyterlab/4` module; the profile `mods` loads it in setup."""
    if not LMOD_CMD.is_file():
        _unavailable(f"no Lmod at {LMOD_CMD}: {SETUP_HINT}")
    rb.host.add_modulefile("rbbare", MODULE, f'prepend_path("PATH", "{JUPYTER_VENV}/bin")\n')
    assert _login(rb, "rbbare", "command -v jupyter").stdout == ""  # the profile alone gives no Jupyter
    found = _login(rb, "rbbare", f"module load {MODULE} && command -v jupyter")
    assert found.stdout.strip() == f"{JUPYTER_VENV}/bin/jupyter", found.stderr  # the module does
    return MODULE


def test_up_with_module_load_in_setup_serves_jupyter(rb: Runner, jupyter_module: str) -> None:
    rb.write_config(f'[profiles.mods]\nhost = "rbbare"\nsetup = ["module load {jupyter_module}"]\n')
    report = rb.json("up", "mods", "--detach", "--no-browser")
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
    server = rb.jupyter_processes("rbbare")
    assert len(server) == 1 and f"{JUPYTER_VENV}/bin/" in server[0]


def test_a_module_that_does_not_exist_fails_with_lmods_message_and_exit_5(rb: Runner, jupyter_module: str) -> None:
    rb.write_config('[profiles.mods]\nhost = "rbbare"\nsetup = ["module load jupyterlab/99"]\n')
    for command in (["up", "mods", "--detach", "--no-browser"], ["env", "mods"]):
        out = rb.run(*command)
        assert out.returncode == 5, out.stderr
        assert "the profile's setup commands failed" in out.stderr
        assert "The following module(s) are unknown" in out.stderr and "jupyterlab/99" in out.stderr  # Lmod's words
    assert rb.jupyter_processes("rbbare") == []


def _noisy_profile(rb: Runner) -> None:
    with open(rb.host.home("rbtest") / ".profile", "a") as profile:
        profile.write(f'echo "{MOTD}"\necho "{MOTD_ERR}" >&2\n')
    assert MOTD in _login(rb, "rbremote", "true").stdout  # it does talk in a login shell


def test_a_login_shell_that_prints_a_motd_changes_nothing_in_up_and_status(rb: Runner) -> None:
    _noisy_profile(rb)
    up = rb.run("up", "rbremote", "--detach", "--no-browser", "--json")
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)  # stdout is the JSON and only the JSON
    assert request(report["local_port"], "GET", "/api/status", report["token"])[0] == 200
    status = rb.run("status", "rbremote", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["server"]["running"] is True and state["server"]["pid"] == report["server"]["pid"]
    for out in (up, status):
        assert MOTD not in out.stdout + out.stderr and MOTD_ERR not in out.stdout + out.stderr


def test_logs_show_the_server_log_and_no_login_shell_output(rb: Runner) -> None:
    rb.json("up", "rbremote", "--detach", "--no-browser")
    _noisy_profile(rb)
    deadline = time.monotonic() + 30
    while True:  # the server log fills as Jupyter starts
        out = rb.run("logs", "rbremote", "-n", "50")
        assert out.returncode == 0, out.stderr
        if "Jupyter Server" in out.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # polling the log for Jupyter's start-up lines
    assert "Jupyter Server" in out.stdout
    assert MOTD not in out.stdout + out.stderr and MOTD_ERR not in out.stdout + out.stderr
