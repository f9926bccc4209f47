"""`remotebook env` end to end: a real env on the harness's remote, its kernel used through the forward.

The remote (a network namespace) has no internet. Its pip or uv installs from a PEP 503
index served by this process on the host side of the harness's veth, holding the
wheelhouse that setup.sh downloaded (ipykernel, jupyterlab) and a tiny wheel made here.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.remote_host import HARNESS_PREFIX, JUPYTER_VENV, LMOD_CMD, SETUP_HINT, RemoteHost
from tests.integration.conftest import Runner, _unavailable
from tests.integration.jupyter_client_lite import request, run_in
from tests.integration.pkgindex import SimpleIndex, tiny_wheel

WHEELHOUSE = HARNESS_PREFIX / "wheelhouse"
UV_BIN = HARNESS_PREFIX / "uv" / "bin"
KERNEL = "rb-myproject"  # the tests' project folder is "myproject"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding rbtiny-1.0-py3-none-any.whl (VALUE = 42)."""
    if not (WHEELHOUSE / ".stamp").is_file() or not (UV_BIN / "uv").is_file():
        _unavailable(f"no wheelhouse or uv under {HARNESS_PREFIX}: {SETUP_HINT}")
    return tiny_wheel(tmp_path_factory.mktemp("tiny")).parent


@pytest.fixture(scope="module")
def index(remote_host: RemoteHost, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleIndex]:
    if remote_host.host_address is None:
        pytest.skip("needs the network namespace: a remote without internet, and our own address to serve from")
    served = SimpleIndex(tmp_path_factory.mktemp("index") / "root", remote_host.host_address, [WHEELHOUSE, tiny])
    try:
        yield served
    finally:
        served.close()


def write_as(user: str, path: Path, text: str) -> None:
    """A file in a remote user's home, owned by that user (as if they wrote it there)."""
    pw = pwd.getpwnam(user)
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in [path.parent, *path.parent.parents]:
        if folder == Path(pw.pw_dir):
            break
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    path.write_text(text)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def use_index(rb: Runner, user: str, index: SimpleIndex) -> None:
    """The remote user's pip.conf points at our index, as a company mirror would be configured."""
    conf = f"[global]\nindex-url = {index.url}\ntrusted-host = {index.host}\n"
    write_as(user, rb.host.home(user) / ".config" / "pip" / "pip.conf", conf)


def env_dirs(rb: Runner, user: str) -> list[Path]:
    return sorted((rb.host.home(user) / ".remotebook" / "envs").glob(f"{KERNEL}-*"))


def env_python(rb: Runner, user: str, code: str) -> str:
    (env,) = [d for d in env_dirs(rb, user) if d.is_dir()]
    out = rb.host.run_as(user, [str(env / "bin" / "python"), "-c", code], timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def kernel_run(report: dict[str, object], code: str, kernel: str = KERNEL) -> str:
    port, token = int(str(report["local_port"])), str(report["token"])
    status, started = request(port, "POST", "/api/kernels", token, {"name": kernel})
    assert status == 201, (status, started)
    try:
        return run_in(port, token, started["id"], code)
    finally:
        request(port, "DELETE", f"/api/kernels/{started['id']}", token)


@pytest.mark.timeout(300)
def test_env_makes_a_kernel_that_notebooks_use_then_does_nothing_twice_and_survives_a_bad_requirement(
    rb: Runner, index: SimpleIndex
) -> None:
    use_index(rb, "rbtest", index)
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    out = rb.run("env", "rbremote", "--json", timeout=240)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert (made["action"], made["installer"], made["kernel"]) == ("created", "pip", KERNEL)
    (env,) = env_dirs(rb, "rbtest")
    assert made["env"] == str(env)
    spec = json.loads((env / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == str(env / "bin" / "python")
    assert spec["display_name"] == "myproject (remotebook)"
    assert stat.S_IMODE((rb.host.home("rbtest") / ".remotebook").stat().st_mode) == 0o700

    # `up` makes it the default kernel; a notebook's kernel imports what `env` installed
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    status, specs = request(report["local_port"], "GET", "/api/kernelspecs", report["token"])
    assert status == 200 and specs["default"] == KERNEL
    assert kernel_run(report, "import rbtiny; rbtiny.VALUE") == "42"

    # the same requirements again: nothing installed, nothing asked of the index
    log_mtime = (env / "install.log").stat().st_mtime_ns
    asked = len(index.requests)
    again = rb.run("env", "rbremote")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"env {KERNEL} is up to date (1 requirements)"
    assert (env / "install.log").stat().st_mtime_ns == log_mtime
    assert len(index.requests) == asked

    # a requirement that cannot be installed: named, exit 11, and the env still works
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\nrbmissing==1.0\n")
    bad = rb.run("env", "rbremote", timeout=120)
    assert bad.returncode == 11, bad.stderr
    assert "could not install rbmissing==1.0" in bad.stderr
    assert "previous env is unchanged" in bad.stderr
    assert "No matching distribution found for rbmissing" in bad.stderr  # the installer's own last lines
    assert kernel_run(report, "import rbtiny; rbtiny.VALUE") == "42"
    assert rb.ssh_processes() != []  # the master of `up` is left alone


def test_env_without_network_there_says_so_and_offers_wheels(rb: Runner, index: SimpleIndex) -> None:
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    out = rb.run("env", "rbremote", timeout=120)  # no pip.conf: pip would use pypi.org
    assert out.returncode == 5, out.stderr
    assert "the server cannot reach https://pypi.org/simple/" in out.stderr
    assert "remotebook env --wheels" in out.stderr
    assert env_dirs(rb, "rbtest") == []  # nothing left behind
    assert rb.ssh_processes() == []


@pytest.mark.timeout(240)
def test_env_wheels_downloads_here_and_installs_offline_there(rb: Runner, tiny: Path) -> None:
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    # This side's pip finds its wheels in local folders (a laptop would ask PyPI).
    rb.env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=f"{WHEELHOUSE} {tiny}", PIP_CONFIG_FILE=os.devnull)
    out = rb.run("env", "rbbare", "--wheels", "--json", timeout=200)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["action"] == "created" and made["wheels"] > 5
    assert env_python(rb, "rbbare", "import rbtiny; print(rbtiny.VALUE)") == "42"
    assert not Path(made["env"] + ".wheels").exists()  # pushed for that install only
    assert stat.S_IMODE((rb.host.home("rbbare") / ".remotebook").stat().st_mode) == 0o700
    # a package pip cannot download is named, and nothing changes there
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\nrbmissing\n")
    bad = rb.run("env", "rbbare", "--wheels")
    assert bad.returncode == 11, bad.stderr
    assert "pip download could not download rbmissing" in bad.stderr


@pytest.mark.timeout(240)
def test_env_jupyter_with_uv_gives_a_remote_without_jupyter_one(rb: Runner, index: SimpleIndex) -> None:
    rb.write_config(
        f'[profiles.uv]\nhost = "rbbare"\nsetup = ["PATH={UV_BIN}:$PATH", "export UV_DEFAULT_INDEX={index.url}"]\n'
    )
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    before = rb.run("up", "uv", "--detach", "--no-browser")
    assert before.returncode == 5
    assert "remotebook env --jupyter" in before.stderr
    out = rb.run("env", "uv", "--jupyter", "--json", timeout=200)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert (made["action"], made["installer"]) == ("created", "uv")
    assert env_python(rb, "rbbare", "import pip, jupyterlab; print('ok')") == "ok"  # %pip works in it too
    report = rb.json("up", "uv", "--detach", "--no-browser")
    assert any(made["env"] + "/bin/" in line for line in rb.jupyter_processes("rbbare"))
    assert kernel_run(report, "import rbtiny, sys; (rbtiny.VALUE, sys.prefix)") == f"(42, '{made['env']}')"


def test_env_on_a_remote_without_python(rb: Runner) -> None:
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    out = rb.run("env", "rbnopy")
    assert out.returncode == 5, out.stderr
    assert "no python3 on the remote PATH" in out.stderr
    assert not (rb.host.home("rbnopy") / ".remotebook").exists()


def test_env_with_a_python_too_old(rb: Runner) -> None:
    fake = Path(tempfile.mkdtemp(prefix="rb-old-python-", dir="/tmp"))  # reachable by the remote user
    try:
        fake.chmod(0o755)
        (fake / "python3").write_text('#!/bin/sh\necho "Python 3.6.8"\n')
        (fake / "python3").chmod(0o755)
        rb.write_config(f'[profiles.old]\nhost = "rbbare"\nsetup = ["PATH={fake}:$PATH"]\n')
        (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
        out = rb.run("env", "old")
        assert out.returncode == 5, out.stderr
        assert f"{fake}/python3 is Python 3.6.8; remotebook env needs Python 3.8 or newer" in out.stderr
        assert env_dirs(rb, "rbbare") == []
    finally:
        shutil.rmtree(fake, ignore_errors=True)


@pytest.mark.timeout(240)
def test_up_env_writes_requirements_from_the_imports_installs_them_and_starts_with_that_kernel(
    rb: Runner, index: SimpleIndex
) -> None:
    rb.write_config(
        f'[profiles.proj]\nhost = "rbremote"\nsetup = ["PATH={UV_BIN}:$PATH", "export UV_DEFAULT_INDEX={index.url}"]\n'
    )
    cells = [{"cell_type": "code", "source": "%pip install rbtiny\nimport rbtiny\n", "metadata": {}, "outputs": []}]
    (rb.project / "analysis.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells}))
    out = rb.run("up", "proj", "--env", "--detach", "--no-browser", timeout=200)
    assert out.returncode == 0, out.stderr
    written = (rb.project / "requirements.txt").read_text()
    assert "\nrbtiny  # not installed here: not pinned\n" in written
    assert "wrote requirements.txt: 1 requirements from 1 files" in out.stderr
    assert f"env {KERNEL} created" in out.stderr
    report = rb.json("up", "proj", "--detach", "--no-browser")  # the same server, its URL and token
    assert kernel_run(report, "import rbtiny; rbtiny.VALUE") == "42"
    status, specs = request(report["local_port"], "GET", "/api/kernelspecs", report["token"])
    assert status == 200 and specs["default"] == KERNEL

    # a hand-written requirements.txt is used as it is, and an unchanged env is left alone
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    again = rb.run("up", "proj", "--env", "--detach", "--no-browser", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "using requirements.txt as written by hand" in again.stderr
    assert (rb.project / "requirements.txt").read_text() == "rbtiny==1.0\n"
    assert "updated" in again.stderr  # the pin changed: the env follows


@pytest.mark.timeout(240)
def test_env_uses_the_python_a_module_in_setup_puts_on_path(rb: Runner, index: SimpleIndex) -> None:
    if not LMOD_CMD.is_file():
        _unavailable(f"no Lmod at {LMOD_CMD}: {SETUP_HINT}")
    # rbbare's own python3 is Debian's; the cluster's module brings another one (the harness's venv)
    rb.host.add_modulefile("rbbare", "python/3", f'prepend_path("PATH", "{JUPYTER_VENV}/bin")\n')
    use_index(rb, "rbbare", index)
    rb.write_config('[profiles.mods]\nhost = "rbbare"\nsetup = ["module load python/3"]\n')
    (rb.project / "requirements.txt").write_text("rbtiny==1.0\n")
    out = rb.run("env", "mods", "--json", timeout=200)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["python"] == str(JUPYTER_VENV / "bin" / "python3")
    assert env_python(rb, "rbbare", "import rbtiny; print(rbtiny.VALUE)") == "42"
