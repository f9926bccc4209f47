"""A pseudo-terminal that a program runs on as on a person's: its controlling tty, a size, keys, the screen read back.

For the live view of a foreground `up` (tests/integration/test_live.py, bench/bench_live.py). The
child leads its own session with the pty as controlling terminal, so Ctrl-C (a 0x03 byte) reaches it
through the line discipline as SIGINT, and closing the controller is a real hang-up (SIGHUP). A thread
drains everything the child writes (it would block on a full pty otherwise); `text` is that output
with the escape codes taken out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07|\r")
READ_CHUNK = 65536


class Terminal:
    """One program on one pty."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], cols: int = 200, rows: int = 50
    ) -> None:
        self.controller, self.terminal = pty.openpty()
        self.resize(cols, rows)
        self.before = termios.tcgetattr(self.terminal)  # the mode a shell leaves it in
        self.raw = bytearray()
        self._lock = threading.Lock()

        def take_terminal() -> None:  # in the child, after setsid: the pty becomes its controlling tty
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env={**env, "TERM": "xterm-256color"}, stdin=self.terminal, stdout=self.terminal,
            stderr=self.terminal, start_new_session=True, preexec_fn=take_terminal,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._drain, name="pty-reader", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.controller, READ_CHUNK)
            except OSError:  # closed, or the last writer went away
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk

    def resize(self, cols: int, rows: int) -> None:
        """What a terminal window does when dragged: a new size, and SIGWINCH to the foreground group."""
        fcntl.ioctl(self.controller, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def mark(self) -> int:
        with self._lock:
            return len(self.raw)

    def find(self, raw: bytes, since: int = 0) -> int:
        """Where these bytes (an escape code) were written first after `since`; -1 if not yet."""
        with self._lock:
            return self.raw.find(raw, since)

    def count(self, raw: bytes, since: int = 0) -> int:
        """How often these bytes were written after `since` (a bench counts redraws so)."""
        with self._lock:
            return self.raw.count(raw, since)

    def text(self, since: int = 0) -> str:
        with self._lock:
            data = bytes(self.raw[since:])
        return _ESCAPES.sub(b"", data).decode("utf-8", "replace")

    def wait_for(self, needle: str, *, since: int = 0, timeout: float = 60.0) -> str:
        """The text since `since` once it holds `needle`; AssertionError (with the screen) at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text(since)
            if needle in text:
                return text
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the last output may still be in flight
                if needle in self.text(since):
                    return self.text(since)
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not on the screen (exit {self.proc.poll()}):\n{self.text(since)[-3000:]}")

    def wait_for_line(self, wanted: Callable[[str], bool], *, since: int = 0, timeout: float = 60.0) -> str:
        """The first line of the text since `since` that is `wanted`; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = [line for line in self.text(since).split("\n") if wanted(line)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no such line on the screen (exit {self.proc.poll()}):\n{self.text(since)[-3000:]}")

    def press(self, keys: bytes) -> None:
        os.write(self.controller, keys)

    def attrs(self) -> list[Any]:
        return termios.tcgetattr(self.terminal)

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout=timeout)

    def hang_up(self) -> None:
        """The window closed: the controller goes (the kernel sends SIGHUP to the session)."""
        for fd in (self.terminal, self.controller):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Whatever happened: the child's group gone, the fds closed."""
        if self.proc.poll() is None:
            for sig in (signal.SIGINT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=20)
                    break
        self.hang_up()
        self._reader.join(timeout=5)
