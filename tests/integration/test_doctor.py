"""`doctor` against the harness: a healthy host, then hosts set up against us, each caught by the right check."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.conftest import Runner

pytestmark = pytest.mark.integration


def checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in data["checks"]}


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in data["checks"]}


def append_profile(rb: Runner, text: str, user: str = "rbtest") -> None:
    with open(rb.host.home(user) / ".profile", "a") as profile:  # the harness's reset restores it
        profile.write(text)


def test_healthy_host_every_check_passes_in_one_connection(rb: Runner) -> None:
    # How fast: bench/bench_doctor.py (the goal is <= 2 s), never a wall-clock assert here.
    data = rb.json("doctor", "rbremote")
    found = statuses(data)
    assert list(found)[:6] == [
        "ssh reachable",
        "host key known",
        "authentication",
        "multiplexing",
        "TCP forwarding",
        "unix-socket forwarding",
    ]
    assert {name for name, status in found.items() if status not in ("ok",)} <= {"disk and quota"}, data["checks"]
    assert "--sock" in checks(data)["Jupyter"]["found"]
    assert data["ok"] is True
    assert rb.masters() == []  # the master doctor made is closed again
    log = (rb.state / "remotebook.log").read_text()
    assert log.count("remote exchange:") == 1  # every remote check in one round trip


def test_human_output_has_marks_found_and_fixes(rb: Runner) -> None:
    out = rb.run("doctor", "rbnofwd")
    assert out.returncode == 7, out.stdout + out.stderr  # forwarding's exit code
    assert "✓ ssh reachable" in out.stdout
    assert "✗ TCP forwarding" in out.stdout
    assert "AllowTcpForwarding is off" in out.stdout
    assert "fix: ask the admin" in out.stdout
    assert "failed" in out.stdout.splitlines()[-1]


def test_forwarding_disabled_is_two_failures_and_nothing_else(rb: Runner) -> None:
    data = rb.json("doctor", "rbnofwd", expect=7)
    bad = {name for name, status in statuses(data).items() if status == "fail"}
    assert bad == {"TCP forwarding", "unix-socket forwarding"}, data


@pytest.mark.parametrize("alias", ["rbunknown", "rbrefused"])
def test_unreachable_host_skips_the_rest_quickly(rb: Runner, alias: str) -> None:
    started = time.monotonic()
    data = rb.json("doctor", alias, expect=4)
    assert time.monotonic() - started < 30
    found = statuses(data)
    assert found["ssh reachable"] == "fail"
    assert set(list(found.values())[1:]) == {"skip"}, data
    assert rb.ssh_processes() == []


def test_link_down_finishes_within_30_s_and_skips(rb: Runner) -> None:
    rb.host.set_link(False)
    try:
        started = time.monotonic()
        data = rb.json("doctor", "rbremote", expect=4)
        assert time.monotonic() - started < 30
    finally:
        rb.host.set_link(True)
    assert statuses(data)["ssh reachable"] == "fail"
    assert statuses(data)["clock"] == "skip"


def test_unauthorized_key_and_wrong_host_key(rb: Runner) -> None:
    auth = statuses(rb.json("doctor", "rbnoauth", expect=4))
    assert (auth["ssh reachable"], auth["authentication"], auth["multiplexing"]) == ("ok", "fail", "skip")
    key = checks(rb.json("doctor", "rbbadkey", expect=4))
    assert key["host key known"]["status"] == "fail"
    assert "does NOT match" in key["host key known"]["found"]
    assert key["authentication"]["status"] == "skip"


def test_noisy_login_shell_is_a_warning_and_the_rest_still_works(rb: Runner) -> None:
    append_profile(rb, 'echo "Welcome to the cluster! Quota: fine"\n')
    data = rb.json("doctor", "rbremote")
    noisy = checks(data)["login shell"]
    assert noisy["status"] == "warn"
    assert "Welcome to the cluster" in noisy["found"]
    assert checks(data)["Jupyter"]["status"] == "ok"


def test_no_rsync_no_jupyter_read_only_remote_dir(rb: Runner) -> None:
    slim = rb.host.bin_without("rbtest", ["rsync"])
    append_profile(rb, f'PATH="{slim}"\nexport PATH\n')  # also drops the Jupyter venv from PATH
    rb.write_config('[profiles.p]\nhost = "rbremote"\nremote_dir = "/root/not-yours"\n')
    data = rb.json("doctor", "p", expect=5)
    found = checks(data)
    assert found["rsync"]["status"] == "fail"
    assert "none on the remote" in found["rsync"]["found"]
    assert found["Jupyter"]["status"] == "fail"
    assert "pip install --user jupyterlab" in found["Jupyter"]["fix"]
    assert found["remote_dir writable"]["status"] == "fail"
    assert found["remote python"]["status"] == "ok"  # Debian's python3 is still there


def test_no_python_at_all(rb: Runner) -> None:
    data = rb.json("doctor", "rbnopy", expect=5)
    found = statuses(data)
    assert found["remote python"] == "fail"
    assert found["unix-socket forwarding"] == "skip"  # nothing to listen with there
