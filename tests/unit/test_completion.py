"""Shell completion: the scripts `remotebook completion SHELL` prints, sourced in the real shells, complete profile names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the venv's bin: `remotebook` is there

PROJECT = """\
default = "alpha"
[profiles.alpha]
host = "a.example"
[profiles.albatross]
host = "b.example"
"""
USER = """\
[profiles.beta]
host = "c.example"
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "remotebook.toml").write_text(PROJECT)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text(USER)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "REMOTEBOOK_CONFIG_DIR": str(tmp_path / "config"),
        "REMOTEBOOK_STATE_DIR": str(tmp_path / "state"),
        "REMOTEBOOK_RUNTIME_DIR": str(tmp_path / "rt"),
    }
    return folder, env


def shell(argv: list[str], folder: Path, env: dict[str, str]) -> str:
    out = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def bash_complete(words: str, folder: Path, env: dict[str, str]) -> list[str]:
    """Source the script in bash, then call its function as bash does on Tab (COMP_WORDS/COMP_CWORD)."""
    script = (
        "source <(remotebook completion bash) || exit 9\n"
        "complete -p remotebook || exit 8\n"
        f"COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
        "_remotebook_completion remotebook\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    lines = shell(["bash", "-c", script], folder, env).splitlines()
    assert lines[0].startswith("complete ") and lines[0].endswith(" remotebook"), lines
    return [line for line in lines[1:] if line]


def test_bash_completes_commands_and_profile_names(project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    assert bash_complete("remotebook al", folder, env) == []  # no command starts with "al"
    assert "completion" in bash_complete("remotebook comp", folder, env)
    assert bash_complete("remotebook up al", folder, env) == ["alpha", "albatross"]
    assert bash_complete("remotebook status b", folder, env) == ["beta"]
    assert set(bash_complete("remotebook doctor ''", folder, env)) == {"alpha", "albatross", "beta"}
    assert bash_complete("remotebook completion z", folder, env) == ["zsh"]


def test_a_broken_config_completes_nothing_and_prints_no_error(project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    (folder / "remotebook.toml").write_text("[profiles.x\n")
    out = subprocess.run(
        ["remotebook"],
        cwd=folder,
        env={**env, "_REMOTEBOOK_COMPLETE": "bash_complete", "COMP_WORDS": "remotebook up ", "COMP_CWORD": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert "plain,beta" not in out.stdout  # the user file is read only after the project file: nothing at all


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed (tests/harness/setup.sh installs it)")
def test_zsh_script_registers_and_completes_profiles(project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    script = (
        "autoload -Uz compinit && compinit -u -D; source <(remotebook completion zsh); print -r -- $_comps[remotebook]"
    )
    assert shell(["zsh", "-f", "-c", script], folder, env).strip() == "_remotebook_completion"
    # The script's function asks remotebook through click's protocol, as zsh does on Tab:
    answer = shell(
        ["env", "_REMOTEBOOK_COMPLETE=zsh_complete", "COMP_WORDS=remotebook open al", "COMP_CWORD=2", "remotebook"],
        folder,
        env,
    )
    assert [line for line in answer.splitlines() if line.startswith("al")] == ["alpha", "albatross"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed (tests/harness/setup.sh installs it)")
def test_fish_completes_profile_names(project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    script = "remotebook completion fish | source; complete -C 'remotebook logs al'"
    found = [line.split("\t")[0] for line in shell(["fish", "--no-config", "-c", script], folder, env).splitlines()]
    assert found == ["albatross", "alpha"] or found == ["alpha", "albatross"]
