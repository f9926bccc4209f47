"""The CLI in-process: help, version, usage errors, init; exit codes from the one table."""

from __future__ import annotations

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
    for number in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "130"):
        assert f"\n    {number} " in out
    for command in ("up", "status", "down", "open", "logs", "init"):
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
