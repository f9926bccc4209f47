"""The live view of a foreground `up` on a terminal: one screen that refreshes itself, and a few keys.

The main thread keeps supervising (and gets Ctrl-C, SIGHUP and SIGTERM as ever); one
thread here reads keys and redraws, at most once a second and at once after a key, a
resize or a reconnect. The data is `watch.Watch`'s report (one round of API requests
every few seconds through the live forward); a push, a pull or the log tail runs in a
worker thread, so the screen stays alive meanwhile. `close` restores the terminal
(termios mode, cursor, normal screen) on every way out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from remotebook.core.errors import RemotebookError
from remotebook.ui.commands.live_screen import Screen, render, signature

if TYPE_CHECKING:
    from remotebook.project.handle import Session
    from remotebook.supervisor.loop import Supervisor
    from remotebook.ui.commands.context import AppContext

log = logging.getLogger(__name__)

POLL_EVERY = 3.0  # seconds between two rounds of API requests through the forward
REDRAW_EVERY = 1.0  # the screen redraws by itself at most this often
LOG_LINES = 15  # of the server's log, for `g`
THREAD_WAIT = 5.0  # the key loop ends within one poll's timeout
ACTION_WAIT = 60.0  # on quit, a sync that began just before finishes: no rsync left behind


def wanted(quiet: bool) -> bool:
    """A person at a terminal: keys come from it and the screen goes to it (not a pipe, not --json)."""
    return not quiet and sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


class LiveView:
    """The screen of one foreground `up`: `start` in the main thread, `close` in a `finally`."""

    def __init__(self, app: AppContext, sess: Session, supervisor: Supervisor, stop: threading.Event) -> None:
        from remotebook.actions.watch import Watch

        self.app, self.sess, self.supervisor, self.stop = app, sess, supervisor, stop
        self.screen = Screen()
        self.watch = Watch(sess)
        self.stop_server = False  # `Q`
        self.quit_by_key = False
        self.failed = ""  # a bug in the view: `up` ends (the terminal given back) and says so
        self._closing = threading.Event()
        self._repoll = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._stdin = sys.stdin.fileno()
        self._saved: list[Any] | None = None
        self._live: Live | None = None
        self._winch: Any = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._shown: tuple[object, ...] = ()  # the signature of the screen last drawn, and the size

    def start(self) -> None:
        self._saved = termios.tcgetattr(self._stdin)
        tty.setcbreak(self._stdin)  # keys one by one, unechoed; Ctrl-C still sends SIGINT
        self._winch = signal.signal(signal.SIGWINCH, lambda *_: self._wake())
        console = Console(file=sys.stdout)
        self._live = Live(
            console=console, screen=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
        )
        self._live.start()
        for handler in self._screen_handlers():
            handler.addFilter(self._to_screen)
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)
        self._thread.start()

    @staticmethod
    def _screen_handlers() -> list[logging.Handler]:
        """The log's handlers that write to the terminal (not the log file): the screen takes their lines."""
        return [h for h in logging.getLogger("remotebook").handlers if type(h) is logging.StreamHandler]

    def _to_screen(self, record: logging.LogRecord) -> bool:
        """While the view is up, a warning is an event on it, not text over it (the log file keeps everything)."""
        if record.levelno >= logging.WARNING:
            self.screen.event(record.getMessage())
        return False

    def say(self, line: str) -> None:
        """An event (the supervisor's words): shown under the health lines, and the report asked again."""
        self.screen.event(line)
        self._repoll.set()
        self._wake()

    def close(self) -> None:
        """Stop the loop, leave the alternate screen, show the cursor, put the terminal's mode back."""
        self._closing.set()
        self._wake()
        loop_alive = False
        if self._thread is not None:
            self._thread.join(timeout=THREAD_WAIT)
            loop_alive = self._thread.is_alive()  # in a slow poll: it stops before drawing, but may still select
        for handler in self._screen_handlers():
            handler.removeFilter(self._to_screen)
        if self._live is not None:
            with contextlib.suppress(OSError):  # a hung-up terminal takes no escape codes
                self._live.stop()
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._stdin, termios.TCSADRAIN, self._saved)
        if self._winch is not None:
            signal.signal(signal.SIGWINCH, self._winch)
        if self._worker is not None:
            self._worker.join(timeout=ACTION_WAIT)
            if self._worker.is_alive():
                return  # it still wakes the loop when done: its pipe must not become some other file's fd
        if loop_alive:
            return  # the same for the loop: its select() must not see a recycled fd
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already wakes the loop; a closed one: we are done
            os.write(self._wake_w, b"!")

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # a view that cannot draw must not leave a frozen screen behind
            log.debug("the live view failed", exc_info=True)
            self.failed = repr(e)
            self.stop.set()
            self.supervisor.poke()

    def _loop(self) -> None:
        next_poll = next_draw = 0.0
        force = True
        while not self._closing.is_set():
            if time.monotonic() >= next_poll or self._repoll.is_set():
                self._repoll.clear()
                self._poll()
                next_poll = time.monotonic() + POLL_EVERY
            if self._closing.is_set():  # a slow poll outlived close(): the terminal is no longer ours
                return
            if force or time.monotonic() >= next_draw:
                if not self._draw(force=force):
                    return
                next_draw, force = time.monotonic() + REDRAW_EVERY, False
            timeout = max(0.0, min(next_poll, next_draw) - time.monotonic())
            ready = select.select([self._stdin, self._wake_r], [], [], timeout)[0]
            if self._wake_r in ready:
                os.read(self._wake_r, 512)
                force = True  # a resize, an event: draw now
            if self._stdin in ready:
                if not self._keys():
                    return
                force = True

    def _poll(self) -> None:
        try:
            self.screen.report = self.watch.report()
        except RemotebookError as e:
            self.screen.event(f"could not ask: {e}")
        self.screen.polled_at = time.monotonic()

    def _draw(self, *, force: bool) -> bool:
        """Draw unless nothing shown would change (after the first minute uptime moves by minutes); False once
        the terminal is gone."""
        if self._live is None:
            return False
        now = time.monotonic()
        shown = (signature(self.screen, now), self._live.console.size)
        if shown == self._shown and not force:
            return True
        self._shown = shown
        try:
            self._live.update(render(self.screen, now), refresh=True)
        except OSError:
            return False
        return True

    def _keys(self) -> bool:
        try:
            data = os.read(self._stdin, 32)
        except OSError:  # the terminal was closed
            return False
        for key in data.decode(errors="ignore"):
            self.key(key)
        return bool(data)

    def key(self, key: str) -> None:
        actions: dict[str, Callable[[], None]] = {
            "o": lambda: self._in_worker("opening the browser", self._open),
            "p": lambda: self._in_worker("pushing", lambda: self._sync("push")),
            "l": lambda: self._in_worker("pulling", lambda: self._sync("pull")),
            "g": self._log_key,
            "?": self._help_key,
            "q": lambda: self._quit(stop_server=False),
            "Q": lambda: self._quit(stop_server=True),
        }
        if key in actions and not self.quit_by_key:
            actions[key]()

    def _quit(self, *, stop_server: bool) -> None:
        self.stop_server, self.quit_by_key = stop_server, True
        self.screen.busy = "closing the tunnel" + (" and stopping the server" if stop_server else "")
        self.stop.set()
        self.supervisor.poke()  # a wait between reconnect tries ends now

    def _help_key(self) -> None:
        self.screen.show_help = not self.screen.show_help

    def _log_key(self) -> None:
        if self.screen.log_tail is not None:
            self.screen.log_tail = None
            return
        self._in_worker("reading the server's log", self._read_log)

    def _in_worker(self, what: str, action: Callable[[], None]) -> None:
        """One action at a time, off the key loop: the screen keeps refreshing while rsync runs."""
        if self._worker is not None and self._worker.is_alive():
            self.screen.event(f"still {self.screen.busy}: wait for it to finish")
            return
        self.screen.busy = what

        def run() -> None:
            try:
                action()
            except RemotebookError as e:
                self.screen.event(f"{what} failed: {e}")
            except Exception as e:  # a bug must not kill the view; the log has the traceback
                log.debug("live view action failed", exc_info=True)
                self.screen.event(f"{what} failed: unexpected error: {e!r}")
            finally:
                if not self.quit_by_key:
                    self.screen.busy = ""
                self._repoll.set()
                self._wake()

        self._worker = threading.Thread(target=run, name="live-action", daemon=True)
        self._worker.start()

    def _open(self) -> None:
        from remotebook.ui import browser

        url = self.screen.report.url if self.screen.report else None
        if not url:
            self.screen.event("no URL to open: the tunnel is down")
        elif browser.open_url(self.app.paths, self.sess.profile.name, url):
            self.screen.event("opened the browser")
        else:
            self.screen.event("no browser found here; open the URL above yourself")

    def _sync(self, direction: str) -> None:
        from remotebook.sync import engine as sync

        try:
            outcome = sync.run(self.sess, direction)
        except RemotebookError as e:
            self.screen.last_sync = f"{direction} failed at {time.strftime('%H:%M:%S')}: {e}"
            raise
        self.screen.last_sync = f"{outcome.summary()}, at {time.strftime('%H:%M:%S')}"
        for name in outcome.plan.conflicts:
            self.screen.event(
                f"conflict: {name} changed on both sides; the other version is kept as {outcome.kept.get(name, '?')}"
            )

    def _read_log(self) -> None:
        from remotebook.actions import session

        lines: list[str] = []
        session.logs(self.sess, follow=False, lines=LOG_LINES, write=lambda line: lines.append(line.rstrip("\n")))
        self.screen.log_tail = lines[-LOG_LINES:]
