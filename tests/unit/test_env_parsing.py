"""`remotebook env`, screen-free parts: parsers of installer output (recorded), version checks, hashes, wheel tags."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.core.errors import EXIT_INSTALL, EXIT_REMOTE, InstallError, RemoteEnvError, UsageError
from remotebook.deps.installer import failed_requirement
from remotebook.env import remote_env, wheels
from remotebook.local.config import Profile, kernel_name
from remotebook.remote import failures

DATA = Path(__file__).parent / "data" / "env"


@pytest.mark.parametrize(
    ("recording", "blamed"),
    [
        ("pip23-missing.txt", "rbmissing==1.0"),
        ("pip23-version.txt", "rbtiny>=2"),
        ("pip23-build.txt", "rbbroken-1.0.tar.gz"),  # pip names no requirement: the last one it processed
        ("pip26-download-missing.txt", "rbmissing"),
        ("uv-missing.txt", "rbmissing"),
        ("uv-version.txt", "rbtiny>=2"),
        ("uv-build.txt", "rbbroken==1.0"),  # not setuptools, which uv names as the cause
    ],
)
def test_failed_requirement_from_recorded_installer_output(recording: str, blamed: str) -> None:
    assert failed_requirement((DATA / recording).read_text()) == blamed


def test_failed_requirement_says_nothing_when_the_output_names_nothing() -> None:
    assert failed_requirement("Killed\n") == ""
    assert failed_requirement("ERROR: Could not install packages due to an OSError: [Errno 28] No space left\n") == ""


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Python 3.11.2\n", (3, 11, 2)),
        ("Python 3.12.0rc1", (3, 12, 0)),
        ("Python 3.8", (3, 8, 0)),
        ("Python 2.7.18", (2, 7, 18)),  # python2 -V writes to stderr; the probe reads both
        ("", None),
        ("bash: python3: command not found", None),
    ],
)
def test_parse_python_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert remote_env.parse_python_version(text) == version


def probe(**fields: object) -> remote_env.Probe:
    data: dict[str, object] = {"python": "/usr/bin/python3", "python_version": "Python 3.11.2", "env": "/h/e"}
    data.update(fields)
    return remote_env.Probe.from_answer(data)


def test_check_python_names_what_it_found_and_what_it_needs() -> None:
    assert remote_env.check_python(probe(), "gpu") == (3, 11, 2)
    with pytest.raises(RemoteEnvError, match=r"gpu: /usr/bin/python3 is Python 3\.6\.8; .* needs Python 3\.8 or newer"):
        remote_env.check_python(probe(python_version="Python 3.6.8"), "gpu")
    with pytest.raises(RemoteEnvError, match="no python3 on the remote PATH") as info:
        remote_env.check_python(probe(python=""), "gpu")
    assert info.value.exit_code == EXIT_REMOTE
    with pytest.raises(RemoteEnvError, match="does not say which Python"):
        remote_env.check_python(probe(python_version="Segmentation fault"), "gpu")


def test_env_hash_changes_with_each_thing_that_decides_the_env() -> None:
    base = remote_env.env_hash("numpy==2.0\n", False, "/usr/bin/python3", (3, 11, 2))
    assert base == remote_env.env_hash("numpy==2.0\n", False, "/usr/bin/python3", (3, 11, 9))  # a patch release
    commented = "# written by reqs\nnumpy==2.0  # pinned here\n\n# unresolved: import foo\n"
    assert base == remote_env.env_hash(commented, False, "/usr/bin/python3", (3, 11, 2))  # comments install nothing
    others = [
        remote_env.env_hash("numpy==2.1\n", False, "/usr/bin/python3", (3, 11, 2)),
        remote_env.env_hash("numpy==2.0\n", True, "/usr/bin/python3", (3, 11, 2)),
        remote_env.env_hash("numpy==2.0\n", False, "/opt/py/bin/python3", (3, 11, 2)),
        remote_env.env_hash("numpy==2.0\n", False, "/usr/bin/python3", (3, 12, 0)),
    ]
    assert len({base, *others}) == 5


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("myproject", "rb-myproject"),
        ("My Analysis (2026)", "rb-my-analysis-2026"),
        ("données", "rb-donn-es"),
        ("···", "rb-project"),
    ],
)
def test_kernel_name_is_what_jupyter_accepts(tmp_path: Path, folder: str, name: str) -> None:
    (tmp_path / folder).mkdir()
    assert kernel_name(tmp_path / folder) == name


def test_requirements_default_file_count_and_nested_files_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# data\nnumpy==2.0\n\npandas>=2  # frames\n--extra-index-url x\n")
    reqs = remote_env.load_requirements(tmp_path, None)
    assert (reqs.count, reqs.path) == (2, tmp_path / "requirements.txt")
    (tmp_path / "all.txt").write_text("-r requirements.txt\nscipy\n")
    with pytest.raises(UsageError, match="includes another file"):
        remote_env.load_requirements(tmp_path, tmp_path / "all.txt")
    with pytest.raises(UsageError, match="does not exist"):
        remote_env.load_requirements(tmp_path, tmp_path / "nope.txt")


RECORDED_FACTS = {  # Debian 12's python3 with pip: what rb_wheel_facts printed (platforms shortened)
    "version": "3.11",
    "implementation": "cpython",
    "platform": "linux-x86_64",
    "glibc": "2.36",
    "platforms": ["manylinux_2_36_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64", "any"],
    "abis": ["cp311", "abi3", "none"],
}


def test_download_args_ask_for_the_servers_tags() -> None:
    args = wheels.download_args(RECORDED_FACTS)
    assert args[:6] == ["--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--abi"] == ["cp311", "abi3", "none"]
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms == RECORDED_FACTS["platforms"][:-1]  # "any" is implied


def test_fallback_platforms_for_a_python_without_packaging() -> None:
    facts = {"version": "3.9", "implementation": "cpython", "platform": "linux-aarch64", "glibc": "2.17"}
    platforms = wheels.fallback_platforms(facts)
    assert platforms[0] == "manylinux_2_17_aarch64" and platforms[-1] == "linux_aarch64"
    assert "manylinux_2_5_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    assert "manylinux_2_18_aarch64" not in platforms
    assert wheels.download_args(facts).count("--abi") == 3  # cp39, abi3, none


def test_install_failure_becomes_exit_11_naming_the_requirement() -> None:
    tail = (DATA / "pip23-missing.txt").read_text()
    stdout = (
        f"{remote.answer_mark('n1')}\n"
        + json.dumps(
            {
                "ok": False,
                "error": "install_failed",
                "message": "pip could not install the requirements",
                "installer": "pip",
                "fresh": False,
                "log": "/h/e/install.log",
            }
        )  # fmt: skip
        + f"\n{remote.log_mark('n1')}\n"
        + "noise\n" * 60
        + tail
    )
    err = failures.translate(remote.parse(stdout, "n1"), "gpu")
    assert isinstance(err, InstallError) and err.exit_code == EXIT_INSTALL
    assert err.message == "gpu: pip could not install rbmissing==1.0; the previous env is unchanged and still works"
    assert "/h/e/install.log" in err.hint
    assert len(err.detail.splitlines()) == failures.SHOWN_LINES


def test_no_network_hint_offers_wheels() -> None:
    stdout = f"{remote.answer_mark('n1')}\n" + json.dumps(
        {"ok": False, "error": "no_network", "message": "the server cannot reach https://pypi.org/simple/ (timed out)"}
    )
    err = failures.translate(remote.parse(stdout, "n1"), "gpu")
    assert isinstance(err, RemoteEnvError)
    assert "remotebook env --wheels" in err.hint


def test_env_script_is_valid_posix_sh_and_probes_for_real(tmp_path: Path) -> None:
    values = remote_env._values(_profile(tmp_path), TAGS="yes")
    script = remote.render("probe", values, script="env")
    assert subprocess.run(["sh", "-n"], input=script.text, text=True, timeout=10).returncode == 0
    environ = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    out = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True, timeout=60, env=environ)
    found = remote_env.Probe.from_answer(remote.parse(out.stdout, script.nonce).data)
    assert found.python and remote_env.parse_python_version(found.python_version)
    assert found.env.startswith(f"{tmp_path}/.remotebook/envs/rb-proj-")
    assert (found.ready, found.kernel, found.hash) == (False, False, "")
    assert found.wheel is not None and found.wheel["version"].startswith("3.")
    assert (tmp_path / "proj").is_dir()  # made, as `up` does


def _profile(home: Path) -> Profile:
    (home / "proj").mkdir(exist_ok=True)
    return Profile(name="p", host="h", remote_dir="~/proj", project_dir=home / "proj")


def test_cli_env_refuses_a_missing_requirements_file_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from remotebook.ui import cli

    for name in ("STATE", "CONFIG", "RUNTIME"):
        monkeypatch.setenv(f"REMOTEBOOK_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["env", "gpu.invalid", "-r", "nope.txt"])
    assert info.value.code == 2
    assert "requirements file nope.txt does not exist" in capsys.readouterr().err


def test_without_requirements_txt_the_requirements_come_from_the_imports(tmp_path: Path) -> None:
    (tmp_path / "analysis.py").write_text("import os\nimport sklearn\n")
    reqs = remote_env.load_requirements(tmp_path, None)
    assert reqs.path is None and "imports" in reqs.source
    assert "scikit-learn" in reqs.text and reqs.count == 1
