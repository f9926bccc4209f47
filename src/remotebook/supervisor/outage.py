"""The supervisor's decisions during an outage, pure: how long to wait, what counts as a sign, when to give up.

The supervisor (supervise.py) and its waiting room (netwatch.py) do the I/O; everything that
decides is here, so it can be tested without a network.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from remotebook.core.errors import InsecureServerError, NotRunningError, RemotebookError, SSHError

# While the user has not said `down`, the supervisor never stops trying. The wait between
# tries grows with the time offline, from FLOOR to the cap, which it reaches `horizon`
# seconds into the outage; a sign that the network is back starts the ramp again.
FLOOR = 1.0
CAP = 30.0
HORIZON = (
    30.0  # with cap = horizon the wait equals the time offline: tries at about 1, 2, 4, 8, 16, 30 s, then every 30 s
)
CAP_ENV = "REMOTEBOOK_BACKOFF_CAP"  # tests squeeze a long outage into seconds with these two
HORIZON_ENV = "REMOTEBOOK_BACKOFF_HORIZON"
SLEEP_JUMP = 5.0  # the boot clock ahead of the monotonic one by more: the computer was suspended
SIGN_GAP = 2.0  # a sign of the network starts a try at most this often (a flapping Wi-Fi is not a busy loop)

# ssh failure kinds (ssh.classify_failure) that mean "the host was not reached": the probe may tell when it is.
NETWORK_KINDS = frozenset({"timeout", "no_route", "unresolved", "refused"})


@dataclass(frozen=True)
class Backoff:
    cap: float = CAP
    horizon: float = HORIZON

    def delay(self, offline_for: float) -> float:
        """Seconds to wait before the next try, `offline_for` seconds after the outage (or the last sign) began."""
        floor = min(FLOOR, self.cap)
        if self.horizon <= 0:
            return self.cap
        return max(floor, min(self.cap, self.cap * max(0.0, offline_for) / self.horizon))


def backoff_from(environ: Mapping[str, str]) -> Backoff:
    """The cap and horizon, from the environment when set to a positive number of seconds (else the defaults)."""
    return Backoff(_seconds(environ.get(CAP_ENV), CAP), _seconds(environ.get(HORIZON_ENV), HORIZON))


def _seconds(text: str | None, default: float) -> float:
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if 0 < value < 86400 else default


# --------------------------------------------------------------------------
# signs that the network is back
# --------------------------------------------------------------------------


def clock() -> tuple[float, float]:
    """(a clock that counts suspended time, one that does not). Linux: boot time, immune to NTP steps."""
    boot = time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.time()
    return boot, time.monotonic()


def slept(before: tuple[float, float], after: tuple[float, float], jump: float = SLEEP_JUMP) -> bool:
    """Did the computer sleep between two clock() readings? Suspend stops the monotonic clock only."""
    return (after[0] - before[0]) - (after[1] - before[1]) > jump


RTM_NEWADDR = 20
RTM_NEWROUTE = 24
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid


def netlink_types(data: bytes, limit: int = 1000) -> list[int]:
    """Message types in one datagram from a NETLINK_ROUTE socket (a truncated tail is ignored)."""
    types: list[int] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data) and len(types) < limit:
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        types.append(kind)
        offset += (length + 3) & ~3  # messages are 4-byte aligned
    return types


def network_appeared(types: Iterable[int]) -> bool:
    """An address or a route was added: the network may be back (a removal never is)."""
    return any(t in (RTM_NEWADDR, RTM_NEWROUTE) for t in types)


def probe_target(options: Mapping[str, str]) -> tuple[str, int, int] | None:
    """(host, port, address family) a cheap TCP probe can try, from `ssh -G`; None when ssh would go elsewhere.

    Through a ProxyJump or ProxyCommand the host's port says nothing; a BindAddress or
    BindInterface would make the probe leave by another way than ssh.
    """
    for key in ("proxyjump", "proxycommand", "bindaddress", "bindinterface"):
        if options.get(key, "none").lower() not in ("none", ""):
            return None
    host = options.get("hostname", "")
    try:
        port = int(options.get("port", "22"))
    except ValueError:
        return None
    if not host or host.startswith("/") or not 0 < port < 65536:
        return None
    family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(options.get("addressfamily", "any"), 0)
    return host, port, family


# --------------------------------------------------------------------------
# giving up
# --------------------------------------------------------------------------


def kind_of(error: RemotebookError) -> str:
    """What failed, in a word: ssh's kind, or the remote's answer for a server shut down or with auth off."""
    if isinstance(error, NotRunningError):
        return "shut_down"
    if isinstance(error, InsecureServerError):
        return "auth_off"
    if isinstance(error, SSHError):
        return error.kind
    return ""


def gives_up(kind: str, *, batch: bool) -> bool:
    """Retrying cannot fix it: a host key that changed or is unknown, a server shut down on purpose
    (File > Shut Down, idle_timeout), a server that lets anyone in, or authentication refused where
    nobody can answer a prompt (batch: the background supervisor)."""
    if kind == "auth":
        return batch
    return kind in ("host_key_changed", "host_key_unknown", "shut_down", "auth_off")


def command_for(kind: str, name: str, options: Mapping[str, str]) -> str:
    """What the user runs after the supervisor gave up for `kind` (target `name`, `ssh -G` options)."""
    up = f"remotebook up {name}"
    if kind == "host_key_changed":
        return f"{forget_key_command(options)} (only if the server really was reinstalled), then {up}"
    if kind == "host_key_unknown":
        return f"ssh {name} (check and accept its host key), then {up}"
    if kind == "auth":
        return f"{up} (in a terminal, where ssh can ask for a password or passphrase)"
    if kind == "auth_off":
        return f"remove the token setting from the server's Jupyter config, then {up}"
    return up


def forget_key_command(options: Mapping[str, str]) -> str:
    """`ssh-keygen -R NAME [-f FILE]` for the host's entry as known_hosts spells it."""
    host = options.get("hostkeyalias") or options.get("hostname", "HOST")
    port = options.get("port", "22")
    name = host if port == "22" or options.get("hostkeyalias") else f"[{host}]:{port}"
    files = options.get("userknownhostsfile", "").split()
    default = files[0] if files else ""
    custom = default and not default.endswith("/.ssh/known_hosts")
    return f"ssh-keygen -R '{name}'" + (f" -f {default}" if custom else "")


# --------------------------------------------------------------------------
# what status and the foreground view say
# --------------------------------------------------------------------------


def describe(health: Mapping[str, Any], now: float) -> str:
    """One line about an outage in progress, or about giving up; "" otherwise.

    "offline since 10:42 (3 min), 7 tries, next in 12 s: connection to gpu timed out"
    """
    state = health.get("state")
    if state == "gave_up":
        command = health.get("command")
        return f"gave up: {health.get('last_error') or health.get('message', '')}" + (
            f"; run: {command}" if command else ""
        )
    since = health.get("offline_since")
    if state not in ("offline", "reconnecting") or not isinstance(since, (int, float)):
        return ""
    tries = int(health.get("tries") or 0)
    text = f"offline since {time.strftime('%H:%M', time.localtime(since))} ({span(now - since)})"
    text += f", {tries} {'try' if tries == 1 else 'tries'}"
    next_at = health.get("next_try_at")
    if state == "reconnecting" or not isinstance(next_at, (int, float)):
        text += ", trying now"
    else:
        text += f", next in {max(0, round(next_at - now))} s"
    return text + (f": {health['last_error']}" if health.get("last_error") else "")


def span(seconds: float) -> str:
    """45 s, 3 min, 2 h 5 min."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"
