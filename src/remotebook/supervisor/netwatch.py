"""Where the supervisor waits between reconnect tries: asleep in select(), woken by a sign that the network is back.

The signs: a local address or route appeared (netlink on Linux), the computer woke up
(the boot clock jumped past the monotonic one), the host's ssh port answers a TCP probe,
or someone asked (`remotebook up` sends SIGUSR1, which pokes a pipe). No process is
started while waiting, and nothing runs more often than every few seconds.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Sequence

from remotebook.supervisor import outage

log = logging.getLogger(__name__)

SLICE = 5.0  # the longest select(): the clock is looked at this often (a wake-up from sleep)
PROBE_EVERY = 3.0  # seconds between TCP probes while the host does not answer
PROBE_TIMEOUT = 2.0  # a probe that has not connected by then failed (the SYN went nowhere)
RESOLVE_EVERY = 60.0  # a failed name look-up is tried again this often (DNS may be down too)
MAX_WAKES = 100_000  # a bound on one wait's loop; at one wake per probe it is never reached

POKED = "asked to try now"
NETWORK = "a network address or route appeared"
WOKE = "the computer woke up"

# RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
_NETLINK_GROUPS = 0x1 | 0x10 | 0x40 | 0x100 | 0x400


class Probe:
    """A non-blocking TCP connect to the host's ssh port; only its change from failing to answering is a sign."""

    def __init__(self, host: str, port: int, family: int) -> None:
        self.host, self.port, self.family = host, port, family
        self.addresses: list[tuple[int, tuple[object, ...]]] = []
        self.reachable: bool | None = None  # None: not known (the last try failed for another reason)
        self.sock: socket.socket | None = None
        self.started = 0.0
        self.next_at = 0.0
        self._turn = 0
        self._resolving = False
        self._resolved_at = -RESOLVE_EVERY

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def resolve(self, now: float) -> None:
        """Look the name up in a thread (a dead DNS can block for many seconds); at most one at a time."""
        if self.addresses or self._resolving or now - self._resolved_at < RESOLVE_EVERY:
            return
        self._resolving, self._resolved_at = True, now

        def look_up() -> None:
            try:
                found = socket.getaddrinfo(self.host, self.port, self.family, socket.SOCK_STREAM)
                self.addresses = [(fam, addr) for fam, _t, _p, _c, addr in found]
            except OSError as e:
                log.debug("probe: cannot resolve %s: %s", self.host, e)
            finally:
                self._resolving = False

        threading.Thread(target=look_up, name="resolve", daemon=True).start()

    def due(self, now: float) -> bool:
        return self.reachable is not True and self.sock is None and bool(self.addresses) and now >= self.next_at

    def start(self, now: float) -> bool:
        """Begin a connect; True if it already failed (no route: the kernel says so at once)."""
        family, address = self.addresses[self._turn % len(self.addresses)]
        self._turn += 1  # ssh tries every address in turn: so does the probe, one per round
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # out of file descriptors, say: no probe this round
            self.finish(False, now)
            return True
        sock.setblocking(False)
        self.sock, self.started = sock, now
        try:
            code = sock.connect_ex(address)
        except OSError as e:
            code = e.errno or errno.EINVAL
        if code in (0, errno.EINPROGRESS, errno.EAGAIN):
            return False
        self.finish(False, now)
        return True

    def finish(self, answered: bool, now: float) -> bool:
        """Close the probe; True when this is the sign: the host did not answer before and does now."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        before, self.reachable = self.reachable, answered
        self.next_at = now + PROBE_EVERY
        return answered and before is False

    def connected(self) -> bool:
        return self.sock is not None and self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Watch:
    """The supervisor's waiting room; `poke` (safe in a signal handler) ends a wait at once."""

    def __init__(self, probe: tuple[str, int, int] | None) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._netlink = _open_netlink()
        self.probe = Probe(*probe) if probe else None
        self._clock = outage.clock()

    def poke(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe has been poked already
            os.write(self._w, b"!")

    def drain(self) -> bool:
        """Forget pokes (a try is starting: it answers them); True if there were any."""
        got = False
        with contextlib.suppress(OSError):
            for _ in range(1000):
                if not os.read(self._r, 4096):
                    break
                got = True
        return got

    def tried(self, reached: bool) -> None:
        """A try failed; `reached` False when it did not reach the host (then the probe watches for it)."""
        if self.probe is not None:
            self.probe.close()
            self.probe.reachable = None if reached else False
            self.probe.next_at = 0.0

    def wait(self, timeout: float, not_before: float = 0.0) -> str:
        """Sleep up to `timeout` s; return the sign that ended it early ("" if none).

        A sign other than a poke ends the wait no earlier than `not_before` (monotonic).
        """
        deadline = time.monotonic() + max(0.0, timeout)
        pending = ""
        for _ in range(MAX_WAKES):
            now = time.monotonic()
            self._probe_step(now)
            readers = [self._r] + ([self._netlink] if self._netlink else [])
            writers = [self.probe.sock] if self.probe and self.probe.sock else []
            left, sign = deadline - now, ""
            if left > 0:
                r, w, _ = select.select(readers, writers, [], self._slice(now, left))
                now = time.monotonic()
                if self._r in r:
                    self.drain()
                    return POKED
                sign = self._read(r, w, now)
            if sign and not pending:
                pending = sign
                deadline = min(deadline, max(now, not_before))
            if time.monotonic() >= deadline:
                return pending
        return pending

    def _slice(self, now: float, left: float) -> float:
        wait = min(left, SLICE)
        if self.probe is not None and self.probe.sock is not None:
            wait = min(wait, self.probe.started + PROBE_TIMEOUT - now)
        elif self.probe is not None and self.probe.reachable is not True and self.probe.addresses:
            wait = min(wait, self.probe.next_at - now)
        return max(0.0, wait)

    def _probe_step(self, now: float) -> None:
        """Start a probe when one is due; end one that has had its time."""
        probe = self.probe
        if probe is None:
            return
        probe.resolve(now)
        if probe.sock is not None and now - probe.started >= PROBE_TIMEOUT:
            probe.finish(False, now)
        if probe.due(now):
            probe.start(now)

    def _read(self, r: Sequence[object], w: Sequence[object], now: float) -> str:
        sign = ""
        if self._netlink is not None and self._netlink in r and outage.network_appeared(_drain_netlink(self._netlink)):
            sign = NETWORK
        probe = self.probe
        if probe is not None and probe.sock is not None and probe.sock in w and probe.finish(probe.connected(), now):
            sign = sign or f"{probe.name} answers"
        clock = outage.clock()
        if outage.slept(self._clock, clock):
            sign = WOKE
        self._clock = clock
        return sign

    def close(self) -> None:
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._netlink is not None:
            self._netlink.close()
        if self.probe is not None:
            self.probe.close()


def _open_netlink() -> socket.socket | None:
    """A socket the kernel tells of every address and route change (Linux); None elsewhere."""
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        return None
    try:
        sock = socket.socket(family, socket.SOCK_RAW, getattr(socket, "NETLINK_ROUTE", 0))
        sock.bind((0, _NETLINK_GROUPS))
        sock.setblocking(False)
    except OSError as e:  # a sandbox may forbid it: the probe and the backoff remain
        log.debug("no netlink: %s", e)
        return None
    return sock


def _drain_netlink(sock: socket.socket) -> list[int]:
    types: list[int] = []
    for _ in range(256):  # a burst (a VPN coming up adds many routes) is read in one go
        try:
            types += outage.netlink_types(sock.recv(65536))
        except BlockingIOError:
            break
        except OSError as e:  # ENOBUFS: we missed messages; something changed
            if e.errno == errno.ENOBUFS:
                types.append(outage.RTM_NEWROUTE)
                continue
            break
    return types
