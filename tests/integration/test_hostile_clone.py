"""A cloned repo whose remotebook.toml aims remote_dir at the server account: nothing lands there, nothing runs.

Each row is a hostile clone: a remote_dir that is the home (or holds it, or is in ~/.ssh), and the
start-up files that would take the account over (a .bash_profile that leaves a marker when a login
shell runs it, an authorized_keys2, a Jupyter config that runs code).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Runner

USER = "rbtest"
ATTACKER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostileCloneKeyHostileCloneKeyHostileClo attacker\n"
STARTUP = {
    ".bash_profile": 'touch "$HOME/PWNED-bash_profile"\n. "$HOME/.profile"\n',
    "authorized_keys2": ATTACKER_KEY,
    ".ssh/authorized_keys2": ATTACKER_KEY,
    ".jupyter/jupyter_server_config.py": "import os\nopen(os.path.expanduser('~/PWNED-jupyter'), 'w').close()\n",
    "notes.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
}


def hostile_clone(rb: Runner, remote_dir: str, *, trusted: bool = False) -> None:
    for name, text in STARTUP.items():
        path = rb.project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    rb.write_config(f'[profiles.p]\nhost = "rbremote"\nremote_dir = "{remote_dir}"\n', trusted=trusted)


def server_tree(rb: Runner) -> list[str]:
    """Every path in the remote user's home (what a refused command must leave as it was)."""
    home = rb.host.home(USER)
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if ".remotebook" not in p.parts)


def assert_no_code_ran(rb: Runner, planted: tuple[str, ...] = ("authorized_keys2",)) -> None:
    """A second remotebook command starts a login shell there: a planted .bash_profile would leave its marker."""
    out = rb.run("doctor", "rbremote")
    assert "Traceback" not in out.stderr
    home = rb.host.home(USER)
    assert list(home.glob("PWNED*")) == [], out.stdout + out.stderr
    for name in (".bash_profile", ".ssh/authorized_keys2", ".jupyter/jupyter_server_config.py", *planted):
        assert not (home / name).exists(), name


def refused(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 13, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("remotebook: error: ")]
    assert len(errors) == 1, out.stderr
    assert "hint:" in out.stderr and "Traceback" not in out.stderr
    for needle in needles:
        assert needle in errors[0], out.stderr


@pytest.mark.parametrize(
    ("remote_dir", "says"),
    [
        ("~", "is your home folder on the server"),
        ("~/", "is your home folder on the server"),
        ("{home}", "is your home folder on the server"),  # absolute: judged on the server, in the action's call
        ("{home}/", "is your home folder on the server"),
        ("~/.ssh", "is inside ~/.ssh"),
        ("~/.config/x", "is inside ~/.config"),
        ("/", "holds your home folder"),
        ("/home", "holds your home folder"),
        ("~/innocent", "is inside ~/.ssh"),  # a symlink on the server into ~/.ssh: judged by its real path
        ("{home}/innocent/new", "is inside ~/.ssh"),  # below it, not there yet
    ],
)
def test_a_hostile_clone_writes_nothing_and_runs_nothing(rb: Runner, remote_dir: str, says: str) -> None:
    home = rb.host.home(USER)
    link = rb.host.run_as(USER, ["sh", "-c", 'mkdir -p "$HOME/.ssh" && ln -s "$HOME/.ssh" "$HOME/innocent"'], 10)
    assert link.returncode == 0, link.stderr
    hostile_clone(rb, remote_dir.format(home=home))
    before = server_tree(rb)
    for command in (["sync", "push"], ["sync", "pull"], ["up", "--detach", "--no-browser"], ["env"]):
        refused(rb.run(*command), "remote_dir", says)
        assert server_tree(rb) == before, command
    assert rb.jupyter_processes() == []
    assert_no_code_ran(rb)


def test_an_approved_home_remote_dir_still_never_gets_start_up_files(rb: Runner) -> None:
    hostile_clone(rb, "~", trusted=True)
    home = rb.host.home(USER)
    for round_ in ("first push (makes no dir)", "again, with a manifest"):
        (rb.project / "more.txt").write_text(round_)
        out = rb.run("sync", "push")
        assert out.returncode == 0, out.stderr
        assert "skipped" in out.stdout and "remote_dir is your home there" in out.stdout, out.stdout
        for name in (".bash_profile", ".ssh/", ".jupyter/"):
            assert name in out.stdout, out.stdout
        assert (home / "notes.ipynb").is_file() and (home / "more.txt").read_text() == round_
        assert (home / "authorized_keys2").is_file()  # a plain file in the home: no tool reads it there
    assert_no_code_ran(rb, planted=())


def test_trust_names_the_risk_of_a_home_remote_dir(rb: Runner) -> None:
    hostile_clone(rb, "~")
    out = rb.run("trust", "--yes")
    assert out.returncode == 0, out.stderr
    assert "remote_dir = '~' lets this file write your shell start-up files and ~/.ssh on the server" in out.stdout


def test_a_remote_dir_chosen_in_the_users_own_config_is_obeyed_without_start_up_files(rb: Runner) -> None:
    user_config = Path(rb.env["REMOTEBOOK_CONFIG_DIR"]) / "config.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text('[profiles.mine]\nhost = "rbremote"\nremote_dir = "~/.ssh/mine"\n')
    user_config.chmod(0o600)
    (rb.project / "authorized_keys").write_text(ATTACKER_KEY)
    out = rb.run("sync", "push", "mine")
    assert out.returncode == 0, out.stderr
    assert "remote_dir is inside ~/.ssh there" in out.stdout and "authorized_keys" in out.stdout, out.stdout
    assert not (rb.host.home(USER) / ".ssh" / "mine" / "authorized_keys").exists()
