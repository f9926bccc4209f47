"""Keep a target's tunnel alive: notice a dead master, a stalled link, a sleep or a dead server; reconnect."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from remotebook.actions import session
from remotebook.connection import mux, tunnel
from remotebook.core import proc
from remotebook.core.deadline import poll
from remotebook.core.errors import RemotebookError, SSHError
from remotebook.launch.base import walltime_warning
from remotebook.local import state
from remotebook.platform import exitwatch
from remotebook.project import endpoint, handle
from remotebook.supervisor import netwatch, outage

log = logging.getLogger(__name__)

HEALTH = state.HEALTH
LOCK = state.SUPERVISOR_LOCK

CHECK_INTERVAL = 1.5  # seconds between checks: two cheap local calls, no busy polling
PROBE_TIMEOUT = 2.0  # an HTTP probe through a stalled link hangs; this bounds it (the first one: it adapts)
MAX_PROBE_TIMEOUT = 30.0  # a server slower than this on /api/status is as good as hung
SLOW_FACTOR = 4.0  # the limit stays this many times above the slowest of the recent answers
OWNER_EVERY = 4  # a TCP server: every this many checks (and the first), the remote says it still holds its port
STALLED_AFTER = 2  # failed probes with a live master before the link counts as dead
LINK_TIMEOUT = 5.0  # a command through a live master on a working link returns well within this
SLEEP_JUMP = outage.SLEEP_JUMP
TRY_NOW_TIMEOUT = 120.0  # `up` waits this long for the try it asked for (a Jupyter restart included)


@dataclass
class Health:
    pid: int = field(default_factory=os.getpid)
    state: str = "watching"  # watching | reconnecting (a try runs) | offline (waiting for the next) | gave_up | stopped
    since: float = field(default_factory=time.time)
    reconnects: int = 0
    last_reconnect: float | None = None
    last_reason: str = ""
    message: str = ""
    offline_since: float | None = None  # the outage in progress: when it began,
    tries: int = 0  # how many tries failed,
    next_try_at: float | None = None  # when the next one starts (wall clock),
    last_error: str = ""  # and why the last one failed
    woke: str = ""  # the last sign of the network that cut a wait short
    gave_up_reason: str = ""  # a kind retrying cannot fix (outage.gives_up)
    command: str = ""  # what the user runs then
    warnings: list[str] = field(default_factory=list)  # said once each: a job near its walltime
    warned_job: str = ""  # the job whose walltime warning was given (a new job gets its own)


class Supervisor:
    """One loop per target; `say` gets a line for each event worth telling the user."""

    def __init__(self, sess: handle.Session, *, batch: bool, say: Callable[[str], None]) -> None:
        self.sess = sess
        self.batch = batch
        self.say = say
        self.health = Health()
        self.failed_probes = 0
        self.probe_timeout = PROBE_TIMEOUT  # adapted to the server: see _answered and _slow
        self.answers: deque[float] = deque(maxlen=5)  # how long the recent probes took
        self.checks = 0  # probes since the last (re)connect: when to ask the remote who holds a TCP port
        self.master_pid: int | None = None  # cached by _master
        self._tick = threading.Event()  # ends the wait between checks: poke(), or the master's exit
        self._done = threading.Event()  # set when run() returns: the exit watchers end with it
        self._watched: int | None = None  # the master pid an exit watcher listens to
        self.last_result: session.UpResult | None = None
        self.backoff = outage.backoff_from(os.environ)
        self._watch: netwatch.Watch | None = None

    @property
    def watch(self) -> netwatch.Watch:
        """Opened at the first outage (a netlink socket and a pipe): a foreground `up` may never need it."""
        if self._watch is None:
            self._watch = netwatch.Watch(outage.probe_target(self.sess.target.options))
        return self._watch

    def poke(self) -> None:
        """End a wait now, between checks or between tries (from a signal handler: SIGUSR1 from `up`, or SIGTERM).

        Whoever sets run()'s `stop` from elsewhere pokes too, so that the loop sees it at once.
        """
        self._tick.set()
        if self._watch is not None:
            self._watch.poke()

    def run(self, stop: threading.Event) -> Health:
        """Watch until `stop`; SIGUSR1 (from another `up`) then means "try now", in the background and the foreground."""
        self._publish()
        self._done.clear()
        self._watched = None  # watchers of an earlier run() ended with it
        before = outage.clock()
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGUSR1, lambda *_: self.poke()) if main else None
        try:
            while not stop.is_set():
                self._tick.wait(CHECK_INTERVAL)  # a dead master ends it at once (_master watches its pid)
                self._tick.clear()
                if stop.is_set():
                    break
                now = outage.clock()
                slept, before = outage.slept(before, now, SLEEP_JUMP), now
                self._warn_walltime()
                reason = self._problem(slept)
                if reason and not self._reconnect(reason, stop):
                    break
        finally:
            self._done.set()
            if self._watch is not None:
                self._watch.close()
            if main:
                signal.signal(signal.SIGUSR1, previous)
        if self.health.state != "gave_up":
            self.health.state = "stopped"
        self._publish()
        return self.health

    def _problem(self, slept: bool) -> str:
        """Why the tunnel needs rebuilding, or "" while it works."""
        saved = self.sess.store.load() or {}
        port, token = saved.get("local_port"), saved.get("token")
        pid = self._master()
        if pid is None:
            return "the ssh connection was lost" + (" (the computer slept)" if slept else "")
        if port and not tunnel.held_by_master(pid, port):
            return "the forward was gone"  # never send the token to whatever holds the port now
        if port and token:
            # A TCP port may be someone else's once our server is gone: the probe there carries no
            # token (any HTTP answer says the server answers); a unix socket is in our private dir.
            server = session.saved_server(saved)
            tokenless = server is None or endpoint.needs_proof(server)
            self.checks += 1
            if server and tokenless and self.checks % OWNER_EVERY == 1 and not endpoint.is_ours(self.sess, server):
                return "the server no longer holds its port"  # it died and something else listens there
            got = tunnel.probe(port, "" if tokenless else token, self.probe_timeout)
            if got.status != 0 if tokenless else got.status == 200:
                self._answered(got.elapsed)
                return ""
            if got.timed_out and not slept and self._slow():
                return ""
        self.failed_probes += 1
        if slept or self.failed_probes >= STALLED_AFTER:
            return "no answer through the tunnel" + (" after the computer slept" if slept else "")
        return ""

    def _answered(self, elapsed: float) -> None:
        """The limit follows the server: a few times its slowest recent answer, never below the first."""
        self.failed_probes = 0
        self.answers.append(elapsed)
        self.probe_timeout = min(MAX_PROBE_TIMEOUT, max(PROBE_TIMEOUT, SLOW_FACTOR * max(self.answers)))

    def _slow(self) -> bool:
        """No answer in time, but is the link alive? Then the server is slow (busy, swapping, stopped), not gone.

        Rebuilding would not help: `up` would find the same server running. The next probe waits
        twice as long, up to MAX_PROBE_TIMEOUT; past that, the misses count as a dead tunnel.
        """
        if self.probe_timeout >= MAX_PROBE_TIMEOUT or not mux.link_alive(self.sess.target, timeout=LINK_TIMEOUT):
            return False
        self.probe_timeout = min(MAX_PROBE_TIMEOUT, self.probe_timeout * 2)
        log.info(
            "Jupyter gave no answer in time through a live link: slow, not gone (next limit %.0fs)", self.probe_timeout
        )
        return True

    def _warn_walltime(self) -> None:
        """Once per job, `warn_before` ahead of its walltime: from the end recorded at `up`, no scheduler query."""
        if self.sess.profile.scheduler != "slurm":  # no walltime: no state file read every check
            return
        saved = (self.sess.store.load() or {}).get("server")
        location = (saved.get("location") or {}) if isinstance(saved, dict) else {}
        job, ends_at = str(location.get("job") or ""), float(location.get("ends_at") or 0.0)
        if not job or job == self.health.warned_job:
            return
        text = walltime_warning(job, ends_at, self.sess.profile.slurm.warn_before, time.time())
        if text:
            self.health.warned_job, self.health.warnings = job, [text]
            self._publish()
            self.say("warning: " + text)

    def _master(self) -> int | None:
        """The master's pid: asked once with `-O check`, then watched in /proc (no process every check)."""
        target = self.sess.target
        if self.master_pid is None or not mux.still_master(self.master_pid, target.control_path):
            self.master_pid = mux.master_pid(target)
            if self.master_pid is not None and self.master_pid != self._watched:
                # its exit wakes the loop: a reconnect need not wait for the next check (one watcher per master)
                exitwatch.watch_exit(self.master_pid, self._tick, self._done, CHECK_INTERVAL)
                self._watched = self.master_pid
        return self.master_pid

    def _reconnect(self, reason: str, stop: threading.Event) -> bool:
        """Rebuild master, server (if it died) and forward, on the same port, until it works or `down`.

        False if we stopped (`down`) or gave up (a reason retrying cannot fix).
        """
        self.say(f"{reason}: reconnecting")
        h = self.health
        h.state, h.last_reason, h.offline_since, h.tries, h.last_error, h.woke = (
            "reconnecting",
            reason,
            time.time(),
            0,
            "",
            "",
        )
        self._publish()
        ramp = time.monotonic()  # the wait grows from here; a sign of the network starts it again
        while not stop.is_set():
            self.watch.drain()  # a poke that came before this try is answered by it
            started = time.monotonic()
            error = self._try_once()
            if error is None:
                return True
            kind = outage.kind_of(error)
            if outage.gives_up(kind, batch=self.batch):
                self._give_up(error, kind)
                return False
            delay = self.backoff.delay(time.monotonic() - ramp)
            h.tries, h.last_error = h.tries + 1, str(error)
            h.state, h.next_try_at = "offline", time.time() + delay
            self._publish()
            log.info("reconnect try %d failed: %s", h.tries, error)
            self.say(outage.describe(asdict(h), time.time()))
            self.watch.tried(reached=kind not in outage.NETWORK_KINDS)
            sign = self.watch.wait(delay, not_before=started + outage.SIGN_GAP)
            h.state, h.next_try_at = "reconnecting", None
            if sign and not stop.is_set():
                h.woke = sign
                log.info("trying again now: %s", sign)
            if sign and sign != netwatch.POKED:  # a person asking is no sign that the network is back
                ramp = time.monotonic()
            self._publish()
        return False

    def _try_once(self) -> RemotebookError | None:
        try:
            self._drop_dead_master()
            self.sess.notes.clear()
            result = session.up(self.sess, batch=self.batch, restart_shut_down=False)
        except RemotebookError as e:
            return e
        self._recovered(result)
        return None

    def _give_up(self, error: RemotebookError, kind: str) -> None:
        h = self.health
        h.state, h.gave_up_reason, h.last_error, h.next_try_at = "gave_up", kind, str(error), None
        h.command = outage.command_for(kind, self.sess.profile.name, self.sess.target.options)
        h.message = f"{error}; retrying cannot fix this: run {h.command}"
        self._publish()
        self.say(h.message)
        if kind == "shut_down":  # the master is up and nothing of ours rides it any more
            handle.release_master(self.sess)

    def _drop_dead_master(self) -> None:
        """Exit the shared master only when its link is dead: then no project's forward works.

        A live link with our forward or server gone is repaired by `up` on the same master,
        so other projects riding it never notice.
        """
        target = self.sess.target
        if mux.master_alive(target) and not mux.link_alive(target, timeout=LINK_TIMEOUT):
            with mux.host_lock(target):
                if not mux.link_alive(target, timeout=LINK_TIMEOUT):  # another supervisor may have rebuilt it
                    log.info("the master's link is dead: closing it")
                    mux.exit_master(target)

    def _recovered(self, result: session.UpResult) -> None:
        self.last_result = result
        h = self.health
        lost = result.server.action == "started"
        parts = [f"reconnected on 127.0.0.1:{result.local_port}"]
        if h.offline_since is not None and h.tries:
            parts[0] += f" after {outage.span(time.time() - h.offline_since)} offline ({h.tries + 1} tries)"
        if lost:
            parts.append("the Jupyter server had stopped and was started again: kernel state was lost")
        parts += result.report.notes
        h.state, h.message = "watching", "; ".join(parts)
        h.offline_since, h.next_try_at, h.last_error, h.tries = None, None, "", 0
        h.reconnects += 1
        h.last_reconnect = time.time()
        self.failed_probes = 0
        self.probe_timeout = PROBE_TIMEOUT  # a new server (or link) earns its own limit
        self.answers.clear()
        self.checks = 0
        self._publish()
        self.say(h.message)

    def _publish(self) -> None:
        self.sess.store.save(asdict(self.health), HEALTH)


def spawn(sess: handle.Session, argv: list[str]) -> int | None:
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


def run_detached(sess: handle.Session, lock_fd: int) -> int:
    """The body of `remotebook _supervise`, holding the lock its parent took."""
    fd = lock_fd
    stop = threading.Event()
    sup = Supervisor(sess, batch=True, say=lambda line: log.warning("%s", line))

    def stop_now(*_: object) -> None:
        stop.set()
        sup.poke()

    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGHUP, stop_now)
    try:
        sup.run(stop)
    finally:
        os.close(fd)
    return 0


def try_now(sess: handle.Session, say: Callable[[str], None], timeout: float = TRY_NOW_TIMEOUT) -> bool:
    """`up` while this project's background supervisor waits between tries: make it try now, wait for that try.

    True: it reconnected (the `up` that follows is a warm one). False: no supervisor was
    waiting, or it gave up (then the user's own `up` shows why, and may prompt). A try that
    failed again raises SSHError: a second reconnect of our own would only race it.
    """
    health = sess.store.load(HEALTH) or {}
    pid = health.get("pid")
    if health.get("state") != "offline" or not isinstance(pid, int) or pid <= 0 or not sess.store.is_locked(LOCK):
        return False  # "offline" is written only by a supervisor that handles SIGUSR1
    tries, reconnects = int(health.get("tries") or 0), int(health.get("reconnects") or 0)
    say(
        f"the background supervisor is waiting to reconnect ({outage.describe(health, time.time())}): asking it to try now"
    )
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return False

    def outcome() -> str | None:
        h = sess.store.load(HEALTH) or {}
        if h.get("state") == "gave_up" or not sess.store.is_locked(LOCK):
            return "gave_up"
        if int(h.get("reconnects") or 0) > reconnects:
            return "back"
        if int(h.get("tries") or 0) > tries and h.get("state") == "offline":
            return "failed"
        return None

    got = poll(outcome, timeout=timeout, interval=0.1)
    if got == "back":
        return True
    if got == "gave_up":
        return False
    now = sess.store.load(HEALTH) or {}
    raise SSHError(
        f"{sess.profile.host} is still out of reach: {now.get('last_error') or 'no answer in time'}",
        hint=f"the background supervisor keeps trying ({outage.describe(now, time.time())}); "
        "`remotebook status` shows it, `remotebook down` stops it",
    )


def stop_detached(sess: handle.Session, timeout: float = 5.0) -> bool:
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
