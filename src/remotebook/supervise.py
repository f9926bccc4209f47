"""Keep a target's tunnel alive: notice a dead master, a stalled link, a sleep or a dead server; reconnect."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from remotebook import proc, ssh, state, tunnel
from remotebook import session as core
from remotebook.deadline import poll
from remotebook.errors import NotRunningError, RemotebookError
from remotebook.paths import Paths

log = logging.getLogger(__name__)

HEALTH = state.HEALTH
LOCK = state.SUPERVISOR_LOCK

CHECK_INTERVAL = 1.5  # seconds between checks: two cheap local calls, no busy polling
PROBE_TIMEOUT = 2.0  # an HTTP probe through a stalled link hangs; this bounds it
STALLED_AFTER = 2  # failed probes with a live master before the link counts as dead
BACKOFF = (0.5, 1.0, 2.0, 3.0)  # then 3 s: short enough to be back soon after the link is
MAX_TRIES = 60  # about 3 minutes of failed reconnects, then give up and say why
SLEEP_JUMP = 5.0  # wall clock ahead of the monotonic clock by more: the laptop slept


@dataclass
class Health:
    pid: int = field(default_factory=os.getpid)
    state: str = "watching"  # watching | reconnecting | gave_up | stopped
    since: float = field(default_factory=time.time)
    reconnects: int = 0
    last_reconnect: float | None = None
    last_reason: str = ""
    message: str = ""


class Supervisor:
    """One loop per target; `say` gets a line for each event worth telling the user."""

    def __init__(self, sess: core.Session, *, batch: bool, say: Callable[[str], None]) -> None:
        self.sess = sess
        self.batch = batch
        self.say = say
        self.health = Health()
        self.failed_probes = 0
        self.last_result: core.UpResult | None = None

    def run(self, stop: threading.Event) -> Health:
        self._publish()
        wall, mono = time.time(), time.monotonic()
        while not stop.wait(CHECK_INTERVAL):
            slept = (time.time() - wall) - (time.monotonic() - mono) > SLEEP_JUMP
            wall, mono = time.time(), time.monotonic()
            reason = self._problem(slept)
            if reason and not self._reconnect(reason, stop):
                break
        if self.health.state != "gave_up":
            self.health.state = "stopped"
        self._publish()
        return self.health

    def _problem(self, slept: bool) -> str:
        """Why the tunnel needs rebuilding, or "" while it works."""
        saved = state.load(self.sess.paths, self.sess.profile.name) or {}
        port, token = saved.get("local_port"), saved.get("token")
        if not ssh.master_alive(self.sess.target):
            return "the ssh connection was lost" + (" (the computer slept)" if slept else "")
        if port and token and tunnel.api_status(port, token, timeout=PROBE_TIMEOUT) == 200:
            self.failed_probes = 0
            return ""
        self.failed_probes += 1
        if slept or self.failed_probes >= STALLED_AFTER:
            return "no answer through the tunnel" + (" after the computer slept" if slept else "")
        return ""

    def _reconnect(self, reason: str, stop: threading.Event) -> bool:
        """Rebuild master, server (if it died) and forward, on the same port; False if we gave up."""
        self.say(f"{reason}: reconnecting")
        self.health.state, self.health.last_reason = "reconnecting", reason
        self._publish()
        for attempt in range(MAX_TRIES):
            if stop.is_set():
                return False
            ssh.exit_master(self.sess.target)  # a stalled master still holds the local port
            self.sess.notes.clear()
            try:
                result = core.up(self.sess, batch=self.batch, restart_shut_down=False)
            except NotRunningError as e:  # shut down on purpose (menu, idle_timeout): leave it so
                self.health.state, self.health.message = "gave_up", f"{e}; run `remotebook up` to start it again"
                self.say(self.health.message)
                ssh.exit_master(self.sess.target)
                return False
            except RemotebookError as e:
                self.health.message = f"try {attempt + 1} failed: {e}"
                self._publish()
                log.info("reconnect try %d failed: %s", attempt + 1, e)
                stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            self._recovered(result)
            return True
        self.health.state = "gave_up"
        self.health.message = f"gave up after {MAX_TRIES} tries: {self.health.message}"
        self.say(self.health.message)
        return False

    def _recovered(self, result: core.UpResult) -> None:
        self.last_result = result
        lost = result.server.action == "started"
        parts = [f"reconnected on 127.0.0.1:{result.local_port}"]
        if lost:
            parts.append("the Jupyter server had stopped and was started again: kernel state was lost")
        parts += result.report.get("notes", [])
        self.health.state, self.health.message = "watching", "; ".join(parts)
        self.health.reconnects += 1
        self.health.last_reconnect = time.time()
        self.failed_probes = 0
        self._publish()
        self.say(self.health.message)

    def _publish(self) -> None:
        state.save(self.sess.paths, self.sess.profile.name, asdict(self.health), suffix=HEALTH)


def health(paths: Paths, name: str) -> dict[str, Any] | None:
    """The supervisor's last word for a target, if one ever ran."""
    return state.load(paths, name, suffix=HEALTH)


def spawn(sess: core.Session, argv: list[str]) -> int | None:
    """Start a background supervisor unless one runs; its pid, or None.

    The lock is taken here and handed to the child as an inherited fd, so there is no
    moment in which `down` could miss a supervisor that is still starting.
    """
    fd = state.try_lock(sess.paths, sess.profile.name, LOCK)
    if fd is None:
        return None  # one already supervises this target
    try:
        pid = proc.spawn_detached([*argv, "--lock-fd", str(fd)], pass_fds=(fd,))
        state.save(sess.paths, sess.profile.name, asdict(Health(pid=pid, state="starting")), suffix=HEALTH)
    finally:
        os.close(fd)  # the child holds the lock now
    return pid


def run_detached(sess: core.Session, lock_fd: int) -> int:
    """The body of `remotebook _supervise`, holding the lock its parent took."""
    fd = lock_fd
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: stop.set())
    try:
        Supervisor(sess, batch=True, say=lambda line: log.warning("%s", line)).run(stop)
    finally:
        os.close(fd)
    return 0


def stop_detached(sess: core.Session, timeout: float = 5.0) -> bool:
    """Stop a background supervisor of this target (TERM, then KILL) and forget its health.

    True if one was running. Its lock tells whether it runs: a pid alone could be recycled.
    """
    name = sess.profile.name
    running = not _lock_free(sess)
    pid = int((health(sess.paths, name) or {}).get("pid") or 0)
    if running and pid > 0:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if poll(lambda: True if _lock_free(sess) else None, timeout=timeout, interval=0.05):
                break
    state.remove(sess.paths, name, suffix=HEALTH)
    return running


def _lock_free(sess: core.Session) -> bool:
    fd = state.try_lock(sess.paths, sess.profile.name, LOCK)
    if fd is None:
        return False
    os.close(fd)
    return True
