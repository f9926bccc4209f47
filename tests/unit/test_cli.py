"""The CLI in-process: help, version, usage errors, init; exit codes from the one table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from remotebook import __version__, cli, config
from remotebook.config import tomllib  # tomli on 3.10


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
    for number in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "130"):
        assert f"\n    {number} " in out
    for command in ("up", "status", "down", "open", "logs", "init", "sync", "reqs", "env"):
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
