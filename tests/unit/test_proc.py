"""The one door to local processes: a timeout is a bound even when another process holds the child's pipes."""

from __future__ import annotations

import time

import pytest

from remotebook.core import proc
from remotebook.core.errors import CommandError


def test_a_timed_out_child_whose_pipes_someone_else_holds_does_not_hang() -> None:
    """An ssh mux client passes its stdio to the master; a master on a dead link keeps them open.

    Here a backgrounded `sleep` plays the master: it keeps stdout/stderr open after sh is stopped.
    """
    start = time.monotonic()
    with pytest.raises(CommandError) as err:
        proc.run(["sh", "-c", "sleep 30 & wait"], timeout=0.5)
    assert err.value.returncode is None
    assert time.monotonic() - start < 0.5 + 3 * 2 + proc.PIPE_GRACE + 1  # timeout, INT/TERM/KILL, the pipe grace
