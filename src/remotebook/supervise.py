"""Keep a target's tunnel alive: notice a dead master, a stalled link, a sleep or a dead server; reconnect."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from remotebook import proc, ssh, state, tunnel
from remotebook import session as core
from remotebook.deadline import poll
from remotebook.errors import NotRunningError, RemotebookError

log = logging.getLogger(__name__)

HEALTH = state.HEALTH
LOCK = state.SUPERVISOR_LOCK

CHECK_INTERVAL = 1.5  # seconds between checks: two cheap local calls, no busy polling
PROBE_TIMEOUT = 2.0  # an HTTP probe through a stalled link hangs; this bounds it
STALLED_AFTER = 2  # failed probes with a live master before the link counts as dead
BACKOFF = (0.5, 1.0, 2.0, 3.0)  # then 3 s: short enough to be back soon after the link is
MAX_TRIES = 60  # about 3 minutes of failed reconnects, then give up and say why
LINK_TIMEOUT = 5.0  # a command through a live master on a working link returns well within this
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
        saved = self.sess.store.load() or {}
        port, token = saved.get("local_port"), saved.get("token")
        pid = ssh.master_pid(self.sess.target)
        if pid is None:
            return "the ssh connection was lost" + (" (the computer slept)" if slept else "")
        if port and not tunnel.held_by_master(pid, port):
            return "the forward was gone"  # never send the token to whatever holds the port now
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
            self._drop_dead_master()
            self.sess.notes.clear()
            try:
                result = core.up(self.sess, batch=self.batch, restart_shut_down=False)
            except NotRunningError as e:  # shut down on purpose (menu, idle_timeout): leave it so
                self.health.state, self.health.message = "gave_up", f"{e}; run `remotebook up` to start it again"
                self.say(self.health.message)
                core.release_master(self.sess)
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

    def _drop_dead_master(self) -> None:
        """Exit the shared master only when its link is dead: then no project's forward works.

        A live link with our forward or server gone is repaired by `up` on the same master,
        so other projects riding it never notice.
        """
        target = self.sess.target
        if ssh.master_alive(target) and not ssh.link_alive(target, timeout=LINK_TIMEOUT):
            with ssh.host_lock(target):
                if not ssh.link_alive(target, timeout=LINK_TIMEOUT):  # another supervisor may have rebuilt it
                    log.info("the master's link is dead: closing it")
                    ssh.exit_master(target)

    def _recovered(self, result: core.UpResult) -> None:
        self.last_result = result
        lost = result.server.action == "started"
        parts = [f"reconnected on 127.0.0.1:{result.local_port}"]
        if lost:
            parts.append("the Jupyter server had stopped and was started again: kernel state was lost")
        parts += result.report.notes
        self.health.state, self.health.message = "watching", "; ".join(parts)
        self.health.reconnects += 1
        self.health.last_reconnect = time.time()
        self.failed_probes = 0
        self._publish()
        self.say(self.health.message)

    def _publish(self) -> None:
        self.sess.store.save(asdict(self.health), HEALTH)


def spawn(sess: core.Session, argv: list[str]) -> int | None:
    """Start a background supervisor unless one runs; its pid, or None.

    The lock is taken here and handed to the child as an inherited fd, so there is no
    moment in which `down` could miss a supervisor that is still starting.
    """
    fd = sess.store.try_lock(LOCK)
    if fd is None:
        return None  # one already supervises this project
    try:
        pid = proc.spawn_detached([*argv, "--lock-fd", str(fd)], pass_fds=(fd,))
        sess.store.save(asdict(Health(pid=pid, state="starting")), HEALTH)
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
    """Stop a background supervisor of this project (TERM, then KILL) and forget its health.

    True if one was running. Its lock tells whether it runs: a pid alone could be recycled.
    It leads its own process group (spawned in a new session): the signal goes to the
    group, so an ssh it was running at that moment goes with it.
    """
    running = sess.store.is_locked(LOCK)
    pid = int((sess.store.load(HEALTH) or {}).get("pid") or 0)
    if running and pid > 0:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)
            except ProcessLookupError:
                break
            if poll(lambda: True if not sess.store.is_locked(LOCK) else None, timeout=timeout, interval=0.05):
                break
    sess.store.remove(HEALTH)
    return running
