"""The launcher seam: a server that is not there yet is a state to show and poll, within a deadline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from remotebook.core.deadline import Deadline
from remotebook.core.errors import ServerError
from remotebook.launch import base as launch
from remotebook.project import reports

ANSWER = {
    "pid": 42,
    "host": "node7",
    "action": "started",
    "info": {"sock": "/h/.remotebook/node7/1/jupyter.sock", "token": "t", "version": "2.14.2", "root_dir": "/h/p"},
}


class Queued:
    """A stand-in launcher whose server appears after `pending` ensures (a job waiting in a queue)."""

    kind = "test"
    wait_seconds = 600.0
    job = ended = None
    notes: list[str] = []

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.calls = 0

    def abandon(self) -> str:
        return ""

    def ensure(self, token: str, *, batch: bool, restart_shut_down: bool) -> launch.Server | launch.Waiting:
        self.calls += 1
        if self.calls <= self.pending:
            return launch.Waiting("PENDING", "Priority", since=0.0, retry_after=3.0)
        return launch.Server.from_answer(ANSWER, launch.Location("job", "node7", "1234"))

    def query(self, *, through_master: bool) -> launch.Server | None:
        return None

    def stop(self) -> launch.Stopped:
        return launch.Stopped("not_running")

    def logs(self, *, follow: bool, lines: int, write: Callable[[str], None]) -> None:
        pass


def test_waiting_is_shown_and_polled_at_the_launchers_pace() -> None:
    queued, shown, pauses = Queued(pending=2), [], []
    server = launch.wait_for_server(
        queued,
        "t",
        batch=True,
        restart_shut_down=True,
        deadline=Deadline(600),
        show=shown.append,
        pause=pauses.append,
    )
    assert server.location == launch.Location("job", "node7", "1234") and server.started
    assert queued.calls == 3 and len(shown) == 2 and pauses == [3.0, 3.0]
    assert shown[0].line(now=75.0) == "waiting for the server: PENDING (Priority), 75s so far"


def test_a_wait_past_its_deadline_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="did not start in 0s"):
        launch.wait_for_server(
            Queued(pending=10**6),
            "t",
            batch=True,
            restart_shut_down=True,
            deadline=Deadline(0),
            show=lambda _w: None,
            pause=lambda _s: None,
        )


def test_the_host_launcher_is_the_default_and_reports_the_host_as_location() -> None:
    server = launch.Server.from_answer(ANSWER)
    assert server.location == launch.Location("host", "node7")
    assert server.as_json()["location"] == {
        "kind": "host",
        "node": "node7",
        "job": "",
        "via": "",
        "login": "",
        "ends_at": 0.0,
    }


def test_reports_print_the_json_that_up_and_status_always_printed() -> None:
    server = launch.Server.from_answer(ANSWER)
    tunnel = reports.Tunnel(True, 8888, True, "/r/cm")
    up = reports.ProjectReport("p", "gpu", "/home/me/p", "lab", "~/p", server, tunnel, url="http://x", notes=("n",))
    out = up.as_json()
    assert (out["local_port"], out["token"], out["server"]["pid"], out["tunnel"]["up"]) == (8888, "t", 42, True)
    assert "supervisor" not in out and up.is_up
    kernels = (reports.Kernel("k1", "python3", "busy", 1, 3),)
    status = reports.ProjectReport(
        "p", "gpu", "/p", "lab", "~/p", server, tunnel, activity=reports.Activity(10, 2, kernels), asked_status=True
    )
    out = status.as_json()
    assert out["supervisor"] is None and out["server"]["kernels"][0]["state"] == "busy"
    assert out["server"]["uptime_s"] == 10 and status.activity and status.activity.busy == 1
    down = reports.DownReport("p", "/p", master_kept_for=("/q",), server=launch.Stopped("stopped", 42, "api"))
    assert down.as_json()["server"] == {"action": "stopped", "pid": 42, "how": "api"}
    assert down.as_json()["master_kept_for"] == ["/q"]
