"""The one door to local processes: argv lists, a timeout on every call, DEBUG logging, typed errors."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from remotebook.core.errors import CommandError

log = logging.getLogger(__name__)

PIPE_GRACE = 2.0  # after a timed-out child is stopped, how long its last output may take to arrive
_SECRET_MARK = "token="  # noqa: S105 - the marker we mask, not a secret


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def masked(argv: Sequence[str]) -> str:
    """argv as one line for the log, with anything that looks like a token hidden."""
    out = []
    for arg in argv:
        if _SECRET_MARK in arg:
            arg = arg.split(_SECRET_MARK, 1)[0] + _SECRET_MARK + "***"
        out.append(arg)
    return " ".join(out)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: str | None = None,
    check: bool = False,
    capture: bool = True,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Result:
    """Run argv to completion within `timeout` seconds.

    stdin is /dev/null unless `input` is given, so a child never steals the user's
    terminal input; ssh still reads passwords and 2FA codes from /dev/tty.
    On timeout the child is stopped (INT, TERM, KILL) and CommandError is raised.
    """
    argv = list(argv)
    log.debug("run: %s", masked(argv))
    start = time.monotonic()
    stdio = subprocess.PIPE if capture else None
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=stdio,
        stderr=stdio,
        text=True,
        encoding="utf-8",
        errors="replace",  # remote output (logs, login-script noise) may hold any bytes
        env=env,
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        try:
            out, err = proc.communicate(timeout=PIPE_GRACE)
        except subprocess.TimeoutExpired:
            # Someone else holds our pipes open: an ssh mux client hands its stdio to the
            # master, which keeps them while its dead link hangs. Stop reading.
            err = ""
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        raise CommandError(argv, None, err or "") from None
    except BaseException:  # Ctrl-C: never leave the child behind
        stop(proc)
        raise
    result = Result(argv, proc.returncode, out or "", err or "", time.monotonic() - start)
    log.debug("exit %s in %.3fs: %s", result.returncode, result.elapsed, masked(argv[:1]))
    if check and not result.ok:
        raise CommandError(argv, result.returncode, result.stderr)
    return result


def stop(proc: subprocess.Popen, grace: float = 2.0) -> None:  # type: ignore[type-arg]
    """Stop a child in three steps (INT, TERM, KILL), each with a bounded wait."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def stream(argv: Sequence[str], *, input: str, on_line: Callable[[str], None], timeout: float) -> Result:
    """Run argv, handing each stdout line to `on_line` as it arrives; stopped at `timeout`.

    stderr is collected (its last 64 KiB), not shown: the caller decides what it means.
    """
    argv = list(argv)
    log.debug("stream: %s", masked(argv))
    start = time.monotonic()
    child = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    errors: list[str] = []
    reader = threading.Thread(target=_collect, args=(child.stderr, errors), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, stop, [child])
    timer.start()
    try:
        if child.stdin is None or child.stdout is None:  # pragma: no cover - PIPE was asked for
            raise RuntimeError("no pipes")
        child.stdin.write(input)
        child.stdin.close()
        for line in child.stdout:
            on_line(line)
        code = child.wait()
    except BaseException:
        stop(child)
        raise
    finally:
        timer.cancel()
    reader.join(timeout=2)  # stderr ends with the child; a grandchild holding it must not hang us
    return Result(argv, code, "", "".join(errors)[-65536:], time.monotonic() - start)


def _collect(pipe: IO[str] | None, into: list[str], limit: int = 65536) -> None:
    size = 0
    for chunk in iter(pipe.readline, "") if pipe else ():
        into.append(chunk)
        size += len(chunk)
        while size > limit and len(into) > 1:
            size -= len(into.pop(0))


def spawn_detached(argv: Sequence[str], pass_fds: Sequence[int] = ()) -> int:
    """Start a background helper in its own session, no tty, stdio on /dev/null; returns its pid.

    It outlives this process on purpose (the supervisor of `up --detach`); its owner
    is the state dir, where `down` finds it and stops it.
    """
    argv = list(argv)
    log.debug("spawn detached: %s", masked(argv))
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        pass_fds=tuple(pass_fds),
    )
    return child.pid
