"""The one polling loop: every wait in remotebook checks readiness against a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T | None], *, timeout: float, interval: float) -> T | None:
    """Call `check` until it returns something other than None, or `timeout` passes (-> None).

    `interval` is the pause between checks, not a guess at how long a thing takes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(interval, left))


class Deadline:
    """A point in monotonic time that a loop must not wait past."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return self._end - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0
