"""Fixtures for remotebook's integration tests: a real ssh "remote" (tests/harness).

`remote_host` (session) starts one throwaway host for the whole run; the
autouse `clean_remote` resets it after every test that used it, so tests can
leave Jupyter servers, ~/.remotebook or temp files behind without affecting
the next one.  Set REMOTEBOOK_HARNESS_NETNS=0 to run sshd on loopback instead
of in a network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.harness import local
from tests.harness.local import LockTimeout, machine_lock
from tests.harness.remote_host import HarnessUnavailable, RemoteHost, start_remote_host
from tests.harness.slurm import SlurmCluster, start_slurm

if TYPE_CHECKING:  # Playwright is imported by the browser tests only
    from tests.harness.browser import Browser

_HERE = Path(__file__).parent
ARTIFACTS = _HERE.parents[1] / "test-artifacts"  # git-ignored; kept after the run (screenshots)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test: `pytest -m "not integration"` is the unit tier.

    A conftest hook sees the whole session's items, so only those collected from this folder are marked.
    """
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> NoReturn:
    # On CI a missing prerequisite is a broken pipeline, not a reason to skip
    # silently; on a developer machine skipping is the friendly default.
    if os.environ.get("CI"):
        pytest.fail(f"remote-host harness unavailable on CI: {reason}", pytrace=False)
    pytest.skip(f"remote-host harness unavailable: {reason}")


_LOCK = pytest.StashKey[contextlib.ExitStack]()


def pytest_configure(config: pytest.Config) -> None:
    """A run started from a background job of a script inherits SIGINT ignored, and so would every
    remotebook the tests spawn (an ignored signal survives exec): the Ctrl-C tests would then test
    nothing but a timeout. Give the children the default a terminal gives them."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Take the machine-wide harness lock before the first test, when the run has integration tests.

    A second pytest run (or a bench) waits here for the first instead of resetting its users. Waiting
    in the session hook, not in a fixture, keeps the wait out of the first test's per-test timeout.
    """
    if (
        session.config.option.collectonly
        or os.geteuid() != 0
        or not any(item.get_closest_marker("integration") for item in session.items)
    ):
        return
    stack = contextlib.ExitStack()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say_waiting() -> None:
        if reporter is not None:
            reporter.write_line("another harness run holds the machine lock; waiting for it")

    try:
        stack.enter_context(machine_lock(on_wait=say_waiting))
    except LockTimeout as exc:
        raise pytest.UsageError(str(exc)) from None
    session.stash[_LOCK] = stack


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _LOCK in session.stash:
        session.stash[_LOCK].close()


_ARTIFACT_DIRS = pytest.StashKey[list[Path]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the browser tests left their screenshots (also with -q, also when they passed)."""
    for folder in config.stash.get(_ARTIFACT_DIRS, []):
        terminalreporter.write_line(f"browser artifacts: {folder}")


@pytest.fixture(scope="session")
def remote_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteHost]:
    netns = os.environ.get("REMOTEBOOK_HARNESS_NETNS", "1") != "0"
    if os.geteuid() != 0:
        _unavailable("needs root (network namespace, test users, sshd)")
    with contextlib.ExitStack() as stack:
        try:
            host = start_remote_host(tmp_path_factory.mktemp("remote-host"), netns=netns)
        except HarnessUnavailable as exc:
            _unavailable(exc.reason)
        stack.callback(host.stop)
        yield host


@pytest.fixture(autouse=True)
def clean_remote(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that uses `remote_host`, kill remote users' processes and reset homes.

    Autouse but lazy: a test that does not ask for `remote_host` does not
    start the harness just for this fixture.
    """
    yield
    if "remote_host" in request.fixturenames:
        host: RemoteHost = request.getfixturevalue("remote_host")
        host.reset()


class Runner:
    """Runs the real `remotebook` CLI in a subprocess with private config, state and runtime dirs."""

    def __init__(self, host: RemoteHost, project: Path, runtime: Path, state: Path) -> None:
        self.host = host
        self.project = project
        self.runtime = runtime
        self.state = state
        self.env = local.remotebook_env(host, state, runtime)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "remotebook", *args]

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        out = self.run(*args, "--json")
        assert out.returncode == expect, out.stderr
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        # Its own process group, so a test can press "Ctrl-C" the way a terminal does.
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def write_config(self, text: str, *, trusted: bool = True) -> None:
        """Write the project file; as its author, the test approves it (`remotebook trust`) unless told not to."""
        (self.project / "remotebook.toml").write_text(text)
        if trusted:
            out = self.run("trust", "--yes")
            assert out.returncode == 0, out.stderr

    def ssh_processes(self) -> list[str]:
        """Local ssh processes that use our control dir (masters and clients)."""
        return [str(p) for p in local.ssh_processes(self.runtime)]

    def masters(self) -> list[str]:
        """ssh masters on our control dir: `up`'s (`ssh -f -N -o ControlMaster=yes`) or a backgrounded `[mux]`."""
        return [str(p) for p in local.masters(self.runtime)]

    def ssh_clients(self) -> list[str]:
        """ssh processes on our control dir that are not masters (what a finished command must not leave)."""
        return [str(p) for p in local.ssh_clients(self.runtime)]

    def jupyter_processes(self, user: str = "rbtest") -> list[str]:
        """Jupyter *servers* of that user (JupyterLab also runs short-lived node helpers)."""
        return [
            line
            for line in self.host.ps().splitlines()
            if line.startswith(user) and "jupyter" in line and "--ServerApp.root_dir=" in line
        ]

    def state_files(self) -> list[Path]:
        """Every JSON file of local state (per project: state, health, sync manifest); not the locks."""
        folder = self.state / "projects"
        return sorted(folder.glob("*/*.json")) if folder.is_dir() else []

    def supervisors(self) -> list[int]:
        """Pids of `remotebook _supervise` processes running with our state dir."""
        return local.supervisors(self.state)

    def stop_supervisors(self) -> None:
        """Kill background supervisors started with our state dir (they would reconnect)."""
        for pid in self.supervisors():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def close_masters(self) -> None:
        for sock in self.runtime.glob("cm-*"):
            subprocess.run(
                ["ssh", "-F", str(self.host.ssh_config), "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                capture_output=True,
                timeout=10,
            )


@pytest.fixture
def rb(remote_host: RemoteHost, tmp_path: Path) -> Iterator[Runner]:
    project = tmp_path / "myproject"
    project.mkdir()
    # The control socket path must stay short (sockaddr_un): not under pytest's tmp_path.
    runtime = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))
    runner = Runner(remote_host, project, runtime, tmp_path / "state")
    try:
        yield runner
    finally:
        runner.stop_supervisors()
        runner.close_masters()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A headless Chromium (tests/harness/browser.py); screenshots and its log go to test-artifacts/<test>/.

    The folder is emptied first and named at the end of pytest's output. To reopen after
    `browser.kill()`, call `start_browser(browser.artifacts, browser.profile)` and close that one.
    """
    from tests.harness.browser import remove_profile, start_browser

    artifacts = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    shutil.rmtree(artifacts, ignore_errors=True)
    request.config.stash.setdefault(_ARTIFACT_DIRS, []).append(artifacts)
    chromium = start_browser(artifacts)
    try:
        yield chromium
    finally:
        chromium.close()
        remove_profile(chromium.profile)


@pytest.fixture(scope="session")
def slurm_cluster(remote_host: RemoteHost) -> Iterator[SlurmCluster]:
    """A two-node Slurm on the harness (tests/harness/slurm.py), for the whole run."""
    try:
        cluster = start_slurm(remote_host)
    except HarnessUnavailable as exc:
        _unavailable(exc.reason)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(slurm_cluster: SlurmCluster, rb: Runner) -> Iterator[SlurmCluster]:
    """The cluster with the user's cluster-side ssh files in place; every job is cancelled after the test.

    Torn down before `clean_remote` (autouse fixtures are set up first), so no job is left
    for the harness's reset to kill behind slurmd's back.
    """
    slurm_cluster.write_user_files()
    try:
        yield slurm_cluster
    finally:
        slurm_cluster.cancel_all()
        slurm_cluster.set_node_ssh(True)
