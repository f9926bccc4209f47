"""`module` in the profile's setup: re-made in the script's sh from what the login shell exported.

Environment Modules cannot be installed beside Lmod (Debian's packages conflict), so its cases
run the real common.sh through a real /bin/sh with a stand-in `modulecmd` that answers the way
Modules 4/5 do: sh code on stdout, its message on stderr, `test 0 = 1;` when a load fails.
Lmod itself is tested for real by tests/integration/test_modules.py.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.core.errors import EXIT_REMOTE, RemoteEnvError
from remotebook.remote import failures

NONCE = "0123abcd"

# Answers `modulecmd sh load NAME` (or `sh use DIR`) like Environment Modules: one module exists.
MODULECMD = """#!/bin/sh
[ "$1" = sh ] || { echo "modulecmd: unsupported shell $1" >&2; exit 1; }
case $2 in
    load)
        if [ "$3" = jupyter/4 ]; then
            echo "RB_TEST_LOADED=jupyter/4; export RB_TEST_LOADED;"
        else
            echo "ERROR: Unable to locate a modulefile for '$3'" >&2
            echo "test 0 = 1;"
        fi ;;
    *) echo "test 0 = 1;" ;;
esac
"""
# Environment Modules 3.2's init/sh, in essence: a function around the command it ships.
INIT_SH = 'module() { eval "$("$MODULESHOME/bin/modulecmd" sh "$@")"; }\n'


def _stand_in(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _activate(tmp_path: Path, setup: str, env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """common.sh's rb_activate with this setup, in a real sh; then what the next step would see."""
    header = prelude + f"RB_NONCE={NONCE}\nRB_VENV=\nRB_CONDA_ENV=\nRB_SETUP={shlex.quote(setup)}\n"
    body = f'rb_activate {shlex.quote(str(tmp_path / "setup.log"))}\necho "loaded=${{RB_TEST_LOADED:-none}}"\n'
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", **env}
    script = header + remote.COMMON.read_text() + "\n" + body
    return subprocess.run(["/bin/sh", "-s"], input=script, capture_output=True, text=True, env=environ, timeout=20)


def _kinds(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Ways a login shell leaves Environment Modules behind: MODULESHOME, MODULES_CMD, modulecmd on PATH."""
    home = tmp_path / "modules"
    cmd = _stand_in(home / "bin", "modulecmd", MODULECMD)
    _stand_in(home / "init", "sh", INIT_SH)
    return {
        "moduleshome": {"MODULESHOME": str(home)},
        "modules_cmd": {"MODULES_CMD": str(cmd)},
        "modulecmd_on_path": {"PATH": f"{cmd.parent}:/usr/bin:/bin"},
    }


@pytest.mark.parametrize("kind", ["moduleshome", "modules_cmd", "modulecmd_on_path"])
def test_environment_modules_load_in_setup(tmp_path: Path, kind: str) -> None:
    out = _activate(tmp_path, "module load jupyter/4", _kinds(tmp_path)[kind])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "loaded=jupyter/4"  # what setup loaded reaches what runs next


@pytest.mark.parametrize("kind", ["moduleshome", "modules_cmd"])
def test_a_module_that_fails_to_load_is_reported_in_its_own_words_with_exit_5(tmp_path: Path, kind: str) -> None:
    out = _activate(tmp_path, "module load jupyter/5", _kinds(tmp_path)[kind])
    assert out.returncode == 3  # the script's "I answered a failure"
    answer = remote.parse(out.stdout, NONCE)
    assert answer.error == "setup_failed"
    assert "ERROR: Unable to locate a modulefile for 'jupyter/5'" in answer.log_tail
    err = failures.translate(answer, "gpu")
    assert isinstance(err, RemoteEnvError) and err.exit_code == EXIT_REMOTE == 5
    assert "setup commands failed" in err.message and "Unable to locate" in err.detail


def test_a_stand_in_lmod_is_used_through_lmod_cmd(tmp_path: Path) -> None:
    # Lmod's own sh function: `eval "$($LMOD_CMD sh "$@")"`; the real one runs in the integration tests
    lmod = _stand_in(tmp_path / "lmod" / "libexec", "lmod", MODULECMD)
    out = _activate(tmp_path, "module load jupyter/4", {"LMOD_CMD": str(lmod), "MODULESHOME": str(tmp_path / "none")})
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "loaded=jupyter/4"


def test_a_host_without_module_system_runs_setup_as_before(tmp_path: Path) -> None:
    out = _activate(tmp_path, "export RB_TEST_LOADED=plain", {})
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "loaded=plain"


def test_module_on_a_host_without_module_system_says_so(tmp_path: Path) -> None:
    out = _activate(tmp_path, "module load jupyter/4", {})
    answer = remote.parse(out.stdout, NONCE)
    assert answer.error == "setup_failed"
    assert "no module system (Lmod, Environment Modules)" in answer.message
    assert "module: not found" in answer.log_tail  # the shell's own words, whatever sh it is


def test_a_module_function_the_sh_already_has_is_kept(tmp_path: Path) -> None:
    # e.g. bash as /bin/sh importing the login shell's exported function: nothing is re-made
    own = "module() { RB_TEST_LOADED=own; }\n"
    out = _activate(tmp_path, "module load jupyter/4", _kinds(tmp_path)["modules_cmd"], prelude=own)
    assert out.stdout.strip() == "loaded=own"


# What `conda init bash` writes (conda 23), behind Debian's guard: a login shell that is
# not interactive returns before it, so `conda` is not on its PATH.
BASHRC = """case $- in *i*) ;; *) return;; esac
# >>> conda initialize >>>
# !! Contents within this block are managed by 'conda init' !!
__conda_setup="$('{prefix}/bin/conda' 'shell.bash' 'hook' 2> /dev/null)"
if [ $? -eq 0 ]; then
    eval "$__conda_setup"
fi
unset __conda_setup
# <<< conda initialize <<<
"""
# conda's answers to the two calls rb_activate makes: `shell.posix hook`, then `activate ENV`
CONDA = """#!/bin/sh
case $1 in
    shell.posix) echo 'conda() { [ "$1" = activate ] && [ "$2" = lab ] && RB_TEST_LOADED="conda env $2"; }' ;;
    *) exit 1 ;;
esac
"""


def test_conda_env_finds_a_conda_initialised_only_in_bashrc(tmp_path: Path) -> None:
    prefix = tmp_path / "miniconda3"
    _stand_in(prefix / "bin", "conda", CONDA)
    _stand_in(prefix / "condabin", "conda", CONDA)
    (tmp_path / ".bashrc").write_text(BASHRC.format(prefix=prefix))
    header = f"RB_NONCE={NONCE}\nRB_VENV=\nRB_CONDA_ENV=lab\nRB_SETUP=\n"
    body = 'rb_activate "$HOME/setup.log"\necho "$RB_TEST_LOADED|$PATH"\n'
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    script = header + remote.COMMON.read_text() + "\n" + body
    out = subprocess.run(["/bin/sh", "-s"], input=script, capture_output=True, text=True, env=environ, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == f"conda env lab|{prefix}/condabin:/usr/bin:/bin"  # condabin: conda alone, not base


def test_the_relay_takes_only_the_login_nodes_addresses() -> None:
    from remotebook.remote import relay

    login = frozenset({"10.0.0.1"})
    assert relay.peer_allowed(("10.0.0.1", 5555), login)
    assert relay.peer_allowed(("::ffff:10.0.0.1", 5555, 0, 0), login)
    assert not relay.peer_allowed(("10.0.0.2", 5555), login)
    assert not relay.peer_allowed(None, login)
