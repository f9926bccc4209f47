"""Fixtures for remotebook's integration tests: a real ssh "remote" (tests/harness).

`remote_host` (session) starts one throwaway host for the whole run; the
autouse `clean_remote` resets it after every test that used it, so tests can
leave Jupyter servers, ~/.remotebook or temp files behind without affecting
the next one.  Set REMOTEBOOK_HARNESS_NETNS=0 to run sshd on loopback instead
of in a network namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.harness.remote_host import HarnessUnavailable, RemoteHost, start_remote_host


def _unavailable(reason: str) -> NoReturn:
    # On CI a missing prerequisite is a broken pipeline, not a reason to skip
    # silently; on a developer machine skipping is the friendly default.
    if os.environ.get("CI"):
        pytest.fail(f"remote-host harness unavailable on CI: {reason}", pytrace=False)
    pytest.skip(f"remote-host harness unavailable: {reason}")


@pytest.fixture(scope="session")
def remote_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteHost]:
    netns = os.environ.get("REMOTEBOOK_HARNESS_NETNS", "1") != "0"
    if os.geteuid() != 0:
        _unavailable("needs root (network namespace, test users, sshd)")
    try:
        host = start_remote_host(tmp_path_factory.mktemp("remote-host"), netns=netns)
    except HarnessUnavailable as exc:
        _unavailable(exc.reason)
    try:
        yield host
    finally:
        host.stop()


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
