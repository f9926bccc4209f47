"""The supervisor's outage decisions, pure: backoff, signs of the network, giving up, what status says."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from remotebook.connection import failures
from remotebook.core.errors import InsecureServerError, NotRunningError, ServerError, SSHError
from remotebook.supervisor import outage

# ---- backoff ---------------------------------------------------------------


def test_the_wait_grows_with_the_time_offline_up_to_the_cap_and_never_ends() -> None:
    b = outage.Backoff(cap=30, horizon=30)
    assert b.delay(0) == outage.FLOOR
    assert b.delay(4) == 4
    assert b.delay(29) == 29
    assert b.delay(31) == b.delay(3600) == b.delay(10**9) == 30  # a day offline: still one try every 30 s


def test_tries_per_minute_while_offline_stay_low() -> None:
    """Instant failures (no route) spaced by the backoff: at most 2 a minute once the cap is reached."""
    b, t, starts = outage.Backoff(), 0.0, []
    while t < 600:
        starts.append(t)
        t += b.delay(t)
    assert len([s for s in starts if s < 60]) <= 7  # 0, 1, 2, 4, 8, 16, 32
    assert len([s for s in starts if 300 <= s < 360]) == 2


def test_horizon_sets_how_soon_the_cap_is_reached() -> None:
    b = outage.Backoff(cap=30, horizon=10)
    assert b.delay(5) == 15
    assert b.delay(10) == 30
    assert outage.Backoff(cap=0.2, horizon=0.2).delay(0) == 0.2  # a floor above the cap is the cap


def test_backoff_from_environment_takes_positive_seconds_only() -> None:
    assert outage.backoff_from({}) == outage.Backoff(30, 30)
    env = {outage.CAP_ENV: "0.5", outage.HORIZON_ENV: "2"}
    assert outage.backoff_from(env) == outage.Backoff(0.5, 2)
    for bad in ("", "0", "-3", "abc", "1e9"):
        assert outage.backoff_from({outage.CAP_ENV: bad}).cap == 30


# ---- signs -----------------------------------------------------------------


def test_a_suspend_shows_as_the_boot_clock_running_ahead() -> None:
    assert outage.slept((1000.0, 50.0), (1300.0, 52.0))  # 300 s of boot time, 2 s awake
    assert not outage.slept((1000.0, 50.0), (1002.0, 52.0))
    assert not outage.slept((1000.0, 50.0), (1003.0, 52.0), jump=5)


def test_clock_reads_two_clocks() -> None:
    boot, mono = outage.clock()
    assert boot > 0 and mono > 0


def nlmsg(kind: int, payload: bytes = b"") -> bytes:
    body = struct.pack("=IHHII", 16 + len(payload), kind, 0, 0, 0) + payload
    return body + b"\0" * (-len(body) % 4)


def test_netlink_messages_are_split_by_their_headers() -> None:
    data = nlmsg(16, b"x" * 5) + nlmsg(outage.RTM_NEWADDR, b"y" * 8) + nlmsg(25)
    assert outage.netlink_types(data) == [16, 20, 25]
    assert outage.netlink_types(data[:20]) == [16]  # a truncated tail is dropped
    assert outage.netlink_types(struct.pack("=IHHII", 3, 20, 0, 0, 0)) == []  # a bogus length stops the walk


def test_only_an_address_or_route_that_appears_is_a_sign() -> None:
    assert outage.network_appeared([16, outage.RTM_NEWROUTE])
    assert outage.network_appeared([outage.RTM_NEWADDR])
    assert not outage.network_appeared([16, 17, 21, 25])  # link changes, addresses and routes removed


def test_probe_target_from_ssh_g() -> None:
    base = {"hostname": "10.1.2.3", "port": "2222", "addressfamily": "any", "proxyjump": "none"}
    assert outage.probe_target(base) == ("10.1.2.3", 2222, 0)
    assert outage.probe_target({**base, "addressfamily": "inet6"}) == ("10.1.2.3", 2222, socket.AF_INET6)
    assert outage.probe_target({**base, "proxyjump": "bastion"}) is None  # the host's port says nothing then
    assert outage.probe_target({**base, "proxycommand": "nc %h %p"}) is None
    assert outage.probe_target({**base, "bindinterface": "wg0"}) is None
    assert outage.probe_target({**base, "port": "x"}) is None


# ---- giving up ---------------------------------------------------------------

# What OpenSSH 9.2 prints for a changed key in batch mode (fingerprint shortened).
CHANGED = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:Zq1hVnTx.
Please contact your system administrator.
Add correct host key in /tmp/known_hosts to get rid of this message.
Offending ED25519 key in /tmp/known_hosts:1
Host key for [10.144.79.2]:40111 has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize(
    ("stderr", "kind", "batch_gives_up"),
    [
        (CHANGED, "host_key_changed", True),
        (
            "No ED25519 host key is known for [h]:22 and you have requested strict checking.\n"
            "Host key verification failed.\n",
            "host_key_unknown",
            True,
        ),
        ("rbtest@10.1.1.2: Permission denied (publickey).\n", "auth", True),
        ("Received disconnect from 10.1.1.2 port 22:2: Too many authentication failures\n", "auth", True),
        ("ssh: connect to host 10.1.1.2 port 22: No route to host\n", "no_route", False),
        ("ssh: connect to host 10.1.1.2 port 22: Network is unreachable\n", "no_route", False),
        ("ssh: connect to host 10.1.1.2 port 22: Connection timed out\n", "timeout", False),
        ("ssh: connect to host 10.1.1.2 port 22: Connection refused\n", "refused", False),
        ("ssh: Could not resolve hostname gpu.lab: Temporary failure in name resolution\n", "unresolved", False),
        ("kex_exchange_identification: read: Connection reset by peer\n", "", False),
    ],
)
def test_ssh_failures_retried_or_given_up(stderr: str, kind: str, batch_gives_up: bool) -> None:
    err = failures.classify_failure("gpu", stderr)
    assert outage.kind_of(err) == kind
    assert outage.gives_up(kind, batch=True) is batch_gives_up
    assert (kind in outage.NETWORK_KINDS) is (kind in ("no_route", "timeout", "refused", "unresolved"))


def test_authentication_refused_is_retried_where_a_person_can_answer() -> None:
    assert outage.gives_up("auth", batch=True)
    assert not outage.gives_up("auth", batch=False)  # a foreground `up` prompts again


def test_a_server_shut_down_on_purpose_or_open_to_all_is_given_up() -> None:
    assert outage.kind_of(NotRunningError("gpu: the server was shut down")) == "shut_down"
    assert outage.kind_of(InsecureServerError("auth is off")) == "auth_off"
    assert outage.gives_up("shut_down", batch=True) and outage.gives_up("auth_off", batch=False)
    assert outage.kind_of(ServerError("Jupyter did not start")) == ""  # a crash may not happen again: retried
    assert not outage.gives_up("", batch=True)
    assert outage.kind_of(SSHError("ssh failed")) == ""


def test_commands_to_run_after_giving_up() -> None:
    opts = {"hostname": "10.1.2.3", "port": "2222", "userknownhostsfile": "/tmp/kh /tmp/kh2"}
    cmd = outage.command_for("host_key_changed", "gpu", opts)
    assert cmd.startswith("ssh-keygen -R '[10.1.2.3]:2222' -f /tmp/kh ") and cmd.endswith("remotebook up gpu")
    home = {"hostname": "gpu.lab", "port": "22", "userknownhostsfile": "/home/me/.ssh/known_hosts"}
    assert outage.forget_key_command(home) == "ssh-keygen -R 'gpu.lab'"
    assert outage.forget_key_command({**home, "hostkeyalias": "gpu"}) == "ssh-keygen -R 'gpu'"
    assert outage.command_for("host_key_unknown", "gpu", opts).startswith("ssh gpu ")
    assert outage.command_for("auth", "gpu", opts).startswith("remotebook up gpu")
    assert outage.command_for("shut_down", "gpu", opts) == "remotebook up gpu"


# ---- what status says --------------------------------------------------------


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("utc")
def test_offline_line_says_since_when_how_many_tries_next_and_why() -> None:
    since = 1_800_000_000.0  # 08:00 UTC
    h = {
        "state": "offline",
        "offline_since": since,
        "tries": 7,
        "next_try_at": since + 192.4,
        "last_error": "no route to gpu",
    }
    assert outage.describe(h, since + 180) == "offline since 08:00 (3 min), 7 tries, next in 12 s: no route to gpu"
    assert outage.describe({**h, "tries": 1, "state": "reconnecting"}, since + 5).startswith(
        "offline since 08:00 (5 s), 1 try, trying now"
    )
    assert outage.describe({**h, "state": "watching"}, since) == ""
    assert outage.describe({"state": "offline"}, since) == ""  # an older supervisor's file


def test_given_up_line_names_the_reason_and_the_command() -> None:
    h = {"state": "gave_up", "last_error": "the host key of gpu does not match", "command": "ssh-keygen -R 'gpu'"}
    assert outage.describe(h, 0) == "gave up: the host key of gpu does not match; run: ssh-keygen -R 'gpu'"


def test_span() -> None:
    spans = [outage.span(s) for s in (0, 59, 60, 3599, 3600, 7500)]
    assert spans == ["0 s", "59 s", "1 min", "59 min", "1 h 0 min", "2 h 5 min"]
