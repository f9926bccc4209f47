"""The live view's picture, rendered from typed reports (the terminal and the data are the integration tests')."""

from __future__ import annotations

from remotebook.launch.base import Location, Server
from remotebook.launch.slurm_text import Job
from remotebook.project.reports import Activity, Kernel, ProjectReport, Tunnel
from remotebook.ui.commands.live_screen import Screen, signature, text_of

URL = "http://127.0.0.1:8123/lab?token=abc"


def report(*, up: bool = True, job: Job | None = None, health: dict[str, object] | None = None) -> ProjectReport:
    server = Server(
        pid=4242, transport="unix", endpoint="/run/j.sock", token="abc", version="2.14.2", root_dir="/home/u/p",
        base_url="/", log="/tmp/j.log", host="gpu-box", action="running", location=Location("host", "gpu-box"),
    )  # fmt: skip
    kernels = (Kernel("k1", "python3", "busy", 1, 0), Kernel("k2", "python3", "idle", 0, 30))
    return ProjectReport(
        target="gpu",
        host="gpu-box",
        project_dir="/home/me/p",
        app="lab",
        remote_dir="~/p",
        server=server,
        tunnel=Tunnel(up, 8123 if up else None, True, "/tmp/cm"),
        url=URL if up else None,
        activity=Activity(uptime_s=3700, idle_s=65, kernels=kernels) if up else None,
        supervisor=health,
        job=job,
    )


def test_the_screen_shows_url_server_kernels_tunnel_and_keys() -> None:
    text = text_of(Screen(report=report(health={"state": "watching", "reconnects": 0})), width=120)
    assert URL in text
    assert "Jupyter 2.14.2 on gpu-box (pid 4242), up 1h, idle 1m" in text
    assert "2 kernel(s), 1 busy" in text
    assert "up on 127.0.0.1:8123; supervisor watching" in text
    assert "none since this `up` began" in text
    assert "quit and stop the server" not in text  # the help is hidden until `?`
    assert " Q " in text and " ? " in text


def test_a_tunnel_that_is_down_says_so_and_shows_no_url() -> None:
    health = {"state": "reconnecting", "offline_since": 1.0, "last_reason": "the ssh connection was lost"}
    text = text_of(Screen(report=report(up=False, health=health)), width=120)
    assert URL not in text
    assert "(none: the tunnel is down)" in text
    assert "not answering through the tunnel" in text
    assert "supervisor reconnecting" in text


def test_a_reconnect_is_counted_with_its_reason() -> None:
    health = {"state": "watching", "reconnects": 2, "last_reconnect": 0.0, "last_reason": "the forward was gone"}
    text = text_of(Screen(report=report(health=health)), width=160)
    assert "2 reconnect(s)" in text and "the forward was gone" in text


def test_a_batch_job_shows_its_node_and_time_left() -> None:
    job = Job("77", "RUNNING", node="node1", run_time=600, time_limit=3600)
    text = text_of(Screen(report=report(job=job)), width=160)
    assert "77 RUNNING on node1" in text and "left" in text


def test_help_log_tail_events_and_the_last_sync() -> None:
    screen = Screen(report=report(), show_help=True, log_tail=["[I 10:00] Jupyter Server is running"])
    screen.last_sync = "push: transferred 3 file(s), 1,024 bytes in 0.4s, at 10:01:02"
    screen.event("reconnected on 127.0.0.1:8123")
    screen.busy = "pulling"
    text = text_of(screen, width=120)
    assert "quit and stop the server" in text
    assert "Jupyter Server is running" in text and "server log" in text
    assert "push: transferred 3 file(s)" in text
    assert "reconnected on 127.0.0.1:8123" in text
    assert "pulling..." in text


def test_before_the_first_answer_the_screen_says_it_is_asking() -> None:
    assert "asking..." in text_of(Screen())


def test_the_signature_changes_only_with_what_is_shown() -> None:
    screen = Screen(report=report(health={"state": "watching"}), polled_at=100.0)
    later = signature(screen, 100.0 + 30)  # uptime 1h, idle 1m: the same on the screen 30 s on
    assert signature(screen, 100.0) == later
    screen.event("opened the browser")
    assert signature(screen, 100.0 + 30) != later


def test_a_walltime_warning_stands_out() -> None:
    from dataclasses import replace

    warned = replace(report(), warnings=("job 77 ends in 9 min (walltime): save your work",))
    assert "warning     job 77 ends in 9 min" in text_of(Screen(report=warned), width=120)
