"""The CLI in-process: help, version, usage errors, init; exit codes from the one table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from remotebook import __version__
from remotebook.local import config
from remotebook.local.config import tomllib  # tomli on 3.10
from remotebook.ui import cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTEBOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REMOTEBOOK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("REMOTEBOOK_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.chdir(tmp_path)


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for number in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "130"):
        assert f"\n    {number} " in out
    for command in (
        "up",
        "status",
        "down",
        "open",
        "logs",
        "init",
        "sync",
        "reqs",
        "env",
        "trust",
        "untrust",
        "doctor",
        "run",
        "password",
        "completion",
    ):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"remotebook, version {__version__}\n", "")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "up", "--port", "99999")
    assert code == 2
    assert "99999" in err
    assert run(capsys, "frobnicate")[0] == 2


def test_init_writes_a_valid_commented_file_and_never_overwrites(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "init", "--host", "me@gpu-box")
    assert code == 0 and "remotebook.toml" in out
    text = (tmp_path / "remotebook.toml").read_text()
    assert "#" in text
    tomllib.loads(text)
    profile = config.resolve(config.load(tmp_path, tmp_path / "none"), None)
    assert (profile.host, profile.remote_dir, profile.app) == ("me@gpu-box", f"~/{tmp_path.name}", "lab")
    code, _, err = run(capsys, "init")
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert (tmp_path / "remotebook.toml").read_text() == text
    assert run(capsys, "init", "--force")[0] == 0


def test_status_without_targets_lists_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "no targets are up" in out


def test_config_error_is_one_line_with_hint_and_no_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "remotebook.toml").write_text("[profiles.a]\nport = 1\n")
    code, _, err = run(capsys, "status", "a")
    assert code == 3
    assert err.startswith("remotebook: error: ") and "profiles.a.port" in err
    assert "hint:" in err and "Traceback" not in err
    code, _, err = run(capsys, "-v", "status", "a")
    assert code == 3 and "Traceback" in err  # -v shows it


def test_reqs_writes_checks_and_never_overwrites_a_hand_written_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("import sklearn\nimport zzz_unknown_module\n")
    empty = str(Path(__import__("sys").executable))  # any interpreter: sklearn is not installed in the test env
    code, _, err = run(capsys, "reqs", str(project), "--python", empty)
    assert code == 0 and "wrote" in err and "1 unresolved" in err and "unresolved: import zzz_unknown_module" in err
    written = (project / "requirements.txt").read_text()
    assert "scikit-learn" in written and "# import zzz_unknown_module  (a.py:2)" in written
    assert run(capsys, "reqs", str(project), "--python", empty, "--check")[0] == 0

    (project / "b.py").write_text("import PIL.Image\n")
    code, out, err = run(capsys, "reqs", str(project), "--python", empty, "--check")
    assert code == 10 and out.startswith("+ Pillow") and "differs from the imports (1 line)" in err
    assert "Traceback" not in err

    (project / "requirements.txt").write_text("numpy\n")  # written by hand
    code, _, err = run(capsys, "reqs", str(project), "--python", empty)
    assert code == 2 and "was not written by remotebook" in err and "--force" in err
    assert (project / "requirements.txt").read_text() == "numpy\n"
    assert run(capsys, "reqs", str(project), "--python", empty, "--force")[0] == 0
    assert "Pillow" in (project / "requirements.txt").read_text()

    code, out, _ = run(capsys, "reqs", str(project), "--python", empty, "-o", "-", "--pin", "none")
    assert code == 0 and out.splitlines()[2:4] == ["Pillow", "scikit-learn"]
    assert sorted(p.name for p in project.iterdir()) == ["a.py", "b.py", "requirements.txt"]  # no temp files


def test_reqs_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "reqs", str(tmp_path / "missing"))
    assert code == 2 and "Traceback" not in err
    code, _, err = run(capsys, "reqs", str(tmp_path), "--python", "/no/such/python")
    assert code == 2 and "no such interpreter" in err
    code, _, err = run(capsys, "reqs", str(tmp_path), "--check", "--python", sys.executable)
    assert code == 2 and "is not a file" in err


def test_reqs_writes_through_symlinks_and_never_replaces_a_pipe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import os
    import threading

    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("import sklearn\n")
    real = tmp_path / "shared-requirements.txt"
    (project / "requirements.txt").symlink_to(real)
    assert run(capsys, "reqs", str(project), "--python", sys.executable)[0] == 0
    assert (project / "requirements.txt").is_symlink() and "scikit-learn" in real.read_text()

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    assert run(capsys, "reqs", str(project), "--python", sys.executable, "-o", str(fifo), "--force")[0] == 0
    reader.join(timeout=10)
    assert fifo.is_fifo() and "scikit-learn" in got[0]


# Trust: a project file that could run commands is obeyed only when it is yours and approved.

NOBODY = 65534


@pytest.fixture
def proof_config(tmp_path: Path) -> Path:
    """An ssh config whose `Match exec` leaves a file behind: `ssh -G` alone runs it."""
    proof = tmp_path / "PROOF"
    (tmp_path / "x").write_text(
        f'Match exec "touch {proof}"\nHost *\n  HostName 127.0.0.1\n  Port 1\n  BatchMode yes\n  ConnectTimeout 5\n'
    )
    (tmp_path / "remotebook.toml").write_text('[profiles.x]\nhost = "x"\nssh_config = "x"\n')
    return proof


def test_an_unapproved_ssh_config_runs_nothing_until_trust(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, proof_config: Path
) -> None:
    project_file = tmp_path / "remotebook.toml"
    code, _, err = run(capsys, "status", "x")
    assert code == 13 and not proof_config.exists()
    assert err.splitlines() == [
        f"remotebook: error: {project_file} sets ssh_config, which run commands; it is not approved",
        "  hint: review it, then run `remotebook trust`",
    ]
    code, out, _ = run(capsys, "trust")  # no terminal: running it is the consent (like `direnv allow`)
    assert code == 0 and not proof_config.exists()
    assert out.splitlines()[:3] == [
        f"{project_file} makes remotebook run:",
        '  profiles.x.ssh_config = "x"',
        "      read by ssh on this computer (`ssh -F`): Match exec, ProxyCommand, LocalCommand run here",
    ]
    assert out.splitlines()[3].startswith(f"approved {project_file} (sha256 ")
    code, _, err = run(capsys, "status", "x")
    assert code != 13 and proof_config.exists()  # now ssh -F x was used (the server itself is unreachable)

    proof_config.unlink()
    project_file.write_text(project_file.read_text() + 'setup = ["true"]\n')
    code, _, err = run(capsys, "status", "x")
    assert code == 13 and not proof_config.exists()
    assert "sets setup, ssh_config, which run commands; it changed since you approved it" in err
    assert "review the change, then run `remotebook trust`" in err


def test_ssh_config_given_by_the_user_needs_no_approval(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, proof_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = stub_session(monkeypatch)
    assert run(capsys, "--ssh-config", str(tmp_path / "mine"), "status", "x")[0] == 8
    assert opened[0].ssh_config == str(tmp_path / "mine")
    monkeypatch.setenv("REMOTEBOOK_SSH_CONFIG", str(tmp_path / "env"))
    assert run(capsys, "status", "x")[0] == 8
    assert opened[1].ssh_config == str(tmp_path / "env") and not proof_config.exists()


def stub_session(monkeypatch: pytest.MonkeyPatch) -> list[config.Profile]:
    """Session.open records the profile it got and stops there (exit 8): no ssh runs."""
    from remotebook.core.errors import NotRunningError
    from remotebook.project import handle

    opened: list[config.Profile] = []

    def fake_open(_paths: object, profile: config.Profile) -> None:
        opened.append(profile)
        raise NotRunningError("stub: stopped before ssh")

    monkeypatch.setattr(handle.Session, "open", staticmethod(fake_open))
    return opened


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[profiles.d]\nhost = "h"\nremote_dir = "~/r"\nexclude = ["a"]\n[profiles.c]\nsetup = "x"\n', 8),
        ('[profiles.d]\nhost = "h"\nsetup = ["module load x"]\n', 13),
        ('[profiles.d]\nhost = "h"\nvenv = "~/v"\n', 13),
    ],
)
def test_a_profile_without_command_keys_works_unapproved(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: int
) -> None:
    opened = stub_session(monkeypatch)
    (tmp_path / "remotebook.toml").write_text(text)
    assert run(capsys, "status", "d")[0] == expected
    assert len(opened) == (expected == 8)


def test_group_writable_or_another_users_file_is_refused_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, proof_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    project_file = tmp_path / "remotebook.toml"
    assert run(capsys, "trust", "--yes")[0] == 0
    project_file.chmod(0o664)
    code, _, err = run(capsys, "status", "x")
    assert code == 13 and not proof_config.exists()
    assert f"error: {project_file} is writable by group; remotebook does not read it" in err
    assert f"`chmod go-w {project_file}`" in err
    code, _, err = run(capsys, "trust")
    assert code == 13 and "is writable by group" in err  # cannot be approved either
    project_file.chmod(0o644)
    if os.geteuid() != 0:
        return
    os.chown(project_file, NOBODY, NOBODY)  # the same bytes, approved, but now another user's file
    code, _, err = run(capsys, "status", "x")
    assert code == 13 and not proof_config.exists()
    assert f"error: {project_file} is owned by nobody (uid 65534), not by you" in err
    assert run(capsys, "trust", "--yes")[0] == 13
    link = tmp_path / "sub" / "remotebook.toml"
    link.parent.mkdir()
    link.symlink_to(project_file)
    monkeypatch.chdir(link.parent)
    code, _, err = run(capsys, "status", "x")
    assert code == 13 and f"{link} (a symlink to {project_file}) is owned by nobody" in err


def test_commands_that_use_no_profile_are_not_blocked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "remotebook.toml").write_text('[profiles.x]\nsetup = "x"\n')
    (tmp_path / "remotebook.toml").chmod(0o666)
    (tmp_path / "a.py").write_text("import json\n")
    assert run(capsys, "reqs", "-o", "-", "--python", sys.executable)[0] == 0
    assert run(capsys, "list")[0] == 0


def test_trust_asks_on_a_terminal_lists_and_revokes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    project_file = tmp_path / "remotebook.toml"
    project_file.write_text('[profiles.x]\nhost = "h"\nsetup = ["module load cuda"]\n')
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, err = run(capsys, "trust")
    assert code == 2 and '  profiles.x.setup = ["module load cuda"]' in out
    assert "approve this file as it is now?" in err and "nothing was recorded" in err
    assert run(capsys, "trust", "--list")[1] == "no approved files (approve one with `remotebook trust`)\n"
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert run(capsys, "trust")[0] == 0
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    assert run(capsys, "trust", "--yes")[0] == 0  # --yes: no question
    code, out, _ = run(capsys, "trust", "--list")
    assert code == 0 and out.startswith("approved ") and out.rstrip().endswith(str(project_file))
    project_file.write_text(project_file.read_text() + "# edited\n")
    assert run(capsys, "trust", "--list")[1].startswith("changed ")
    assert run(capsys, "trust", "--revoke")[1] == f"revoked the approval of {project_file}\n"
    assert run(capsys, "untrust", str(project_file))[1] == f"{project_file} was not approved\n"
    assert run(capsys, "trust", "--list", "--revoke")[0] == 2


def test_init_writes_an_approved_file_and_the_user_config_is_trusted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from remotebook.local import project_file as init
    from remotebook.local import trust

    monkeypatch.setattr(init, "TEMPLATE", init.TEMPLATE + 'setup = ["module load x"]\n')
    assert run(capsys, "init", "--host", "h", "--profile", "server")[0] == 0
    assert trust.entries(cli.AppContext("", False).paths)[str(tmp_path / "remotebook.toml")]["by"] == "init"
    opened = stub_session(monkeypatch)
    assert run(capsys, "status", "server")[0] == 8 and opened[0].setup == ("module load x",)

    user = tmp_path / "config" / "config.toml"
    user.parent.mkdir()
    user.write_text('[profiles.u]\nhost = "h"\nssh_config = "/mine"\n')
    assert run(capsys, "status", "u")[0] == 8 and opened[1].ssh_config == "/mine"
    user.chmod(0o646)
    code, _, err = run(capsys, "status", "u")
    assert code == 13 and f"{user} is writable by others" in err
