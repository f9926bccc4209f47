"""The live view's picture: what it knows (`Screen`) rendered into rich renderables, no terminal and no I/O."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from remotebook.ui.commands.status import ago, job_text, supervisor_text

if TYPE_CHECKING:
    from remotebook.project.reports import ProjectReport

KEYS = (  # key, its word in the key line, what it does
    ("o", "open", "open the browser"),
    ("p", "push", "sync push: the project to the server"),
    ("l", "pull", "sync pull: results back from the server"),
    ("g", "log", "show the tail of the server's log (again: hide it)"),
    ("q", "quit", "quit: the server keeps running (Ctrl-C too)"),
    ("Q", "stop", "quit and stop the server"),
    ("?", "help", "this help (again: hide it)"),
)
EVENTS = 4  # the last few things that happened, under the health lines


@dataclass
class Screen:
    """What the view shows; the key loop and the poller change it, `render` draws it."""

    report: ProjectReport | None = None
    polled_at: float = 0.0  # time.monotonic() of the report
    last_sync: str = "none since this `up` began"
    busy: str = ""  # the action running now ("pushing")
    events: deque[str] = field(default_factory=lambda: deque(maxlen=EVENTS))
    log_tail: list[str] | None = None  # shown while not None
    show_help: bool = False

    def event(self, text: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')}  {text}")


def render(screen: Screen, now: float) -> RenderableType:
    """The whole screen at monotonic time `now` (uptime and idle time go on between two polls)."""
    parts: list[RenderableType] = [_health(screen, now - screen.polled_at)]
    if screen.events:
        parts.append(Text("\n".join(screen.events), style="dim", overflow="fold"))
    if screen.log_tail is not None:
        body = "\n".join(screen.log_tail) or "(the log is empty)"
        parts.append(Panel(Text(body, overflow="fold"), title="server log (g hides it)", title_align="left"))
    if screen.show_help:
        parts.append(_help())
    parts.append(_key_line(screen.busy))
    return Group(*parts)


def _health(screen: Screen, since_poll: float) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in _rows(screen, since_poll):
        grid.add_row(label, value)
    return grid


def _rows(screen: Screen, since_poll: float) -> list[tuple[str, Text]]:
    r = screen.report
    if r is None:
        return [("server", Text("asking..."))]
    title = f"{r.target} ({r.host})" if r.host != r.target else r.target
    rows = [
        ("remotebook", Text(title, style="bold")),
        ("url", Text(r.url or "(none: the tunnel is down)", style="cyan" if r.url else "red")),
        ("server", _server_text(r, int(since_poll))),
        ("kernels", _kernels_text(r)),
        ("tunnel", _tunnel_text(r)),
        ("sync", Text(screen.last_sync)),
    ]
    if r.job is not None:
        rows.append(("job", Text(job_text(r.job, r.server.location.via if r.server else ""))))
    rows += [("warning", Text(w, style="bold yellow")) for w in r.warnings]
    return rows


def signature(screen: Screen, now: float) -> tuple[object, ...]:
    """What `render` would show, as plain values: the same signature twice, nothing to redraw."""
    rows = tuple(value.plain for _, value in _rows(screen, now - screen.polled_at))
    return (
        rows,
        tuple(screen.events),
        tuple(screen.log_tail or ()),
        screen.log_tail is None,
        screen.show_help,
        screen.busy,
    )


def _server_text(r: ProjectReport, since_poll: int) -> Text:
    s, a = r.server, r.activity
    if s is None:
        return Text("not running", style="red")
    text = f"Jupyter {s.version} on {s.host} (pid {s.pid})"
    if a is None:
        return Text(text + ", not answering through the tunnel", style="yellow")
    up = None if a.uptime_s is None else a.uptime_s + since_poll
    idle = None if a.idle_s is None else a.idle_s + since_poll
    return Text(f"{text}, up {ago(up)}, idle {ago(idle)}", style="green")


def _kernels_text(r: ProjectReport) -> Text:
    a = r.activity
    if a is None:
        return Text("?", style="dim")
    if not a.kernels:
        return Text("0 kernels")
    states = ", ".join(f"{k.name} {k.state or '?'}" for k in a.kernels)
    return Text(f"{len(a.kernels)} kernel(s), {a.busy} busy: {states}")


def _tunnel_text(r: ProjectReport) -> Text:
    t = r.tunnel
    text = f"up on 127.0.0.1:{t.local_port}" if t.up else "down"
    text += "" if t.master else " (no ssh master)"
    if r.supervisor:
        text += "; " + supervisor_text(r.supervisor)
    watching = t.up and (r.supervisor or {}).get("state") in (None, "watching", "starting")
    return Text(text, style="green" if watching else "yellow")


def _help() -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    for key, _, what in KEYS:
        grid.add_row(key, what)
    return Panel(grid, title="keys", title_align="left")


def _key_line(busy: str) -> Text:
    line = Text()
    for key, word, _ in KEYS:
        line.append(f" {key} ", style="reverse")
        line.append(f" {word}  ")
    if busy:
        line.append(f"\n{busy}...", style="yellow")
    return line


def text_of(screen: Screen, width: int = 100) -> str:
    """The screen as plain text (the tests of the renderer read it)."""
    import io

    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render(screen, screen.polled_at))
    return console.export_text()
