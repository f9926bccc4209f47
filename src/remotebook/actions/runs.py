"""`remotebook run`, screen-free: push a notebook, run it on the server in a detached runner, follow it, pull it back.

The runner (remote/runner.py with remote/runner_cells.py) is sent with each start, so the
server needs nothing of remotebook; it saves the outputs into the notebook there as they
come. The notebook travels through `sync`'s rules both ways: a change made on the other
side is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from remotebook import remote
from remotebook.core.errors import NotRunningError, RunFailedError, UsageError
from remotebook.project.handle import Session
from remotebook.remote import runner_cells
from remotebook.remote.door import Request, call, stream
from remotebook.remote.values import bootstrap_values
from remotebook.sync import engine as sync
from remotebook.sync.rsync import SHORT_PERSIST

START_TIMEOUT = 120.0  # the start checks every cell (one python on the server) before it detaches
QUERY_TIMEOUT = 30.0
STOP_TIMEOUT = 90.0  # the remote side waits ~30 s for the interrupt and the last save, then TERM, then KILL
FOLLOW_BACKSTOP = 7 * 86400.0  # a follow lasts as long as the run; this only bounds a lost one
ACTIVE = ("starting", "running")
Value = str | int | float | bool | None


@dataclass(frozen=True)
class Failure:
    cell: int | None  # its position in the notebook, counting every cell from 1
    ename: str = ""
    evalue: str = ""
    message: str = ""


@dataclass(frozen=True)
class Run:
    """One run of one notebook, as the server's state file says (and whether its runner is alive)."""

    notebook: str
    state: str  # starting, running, done, failed, kernel_died, stopped, error; lost: the runner vanished
    alive: bool
    kernel: str = ""
    cells: int = 0  # code cells
    cell: int | None = None  # the one running, or the last one run
    started: float | None = None
    ended: float | None = None
    failure: Failure | None = None
    dir: str = ""  # the run's private dir on the server

    @classmethod
    def from_answer(cls, item: dict[str, Any]) -> Run:
        data = _dict(item.get("run"))
        alive = bool(item.get("alive"))
        state = str(data.get("state", "unknown"))
        if state in ACTIVE and not alive:
            state = "lost"
        err = _dict(data.get("error"))
        failure = None
        if err:
            cell = err.get("cell")
            failure = Failure(
                int(cell) if isinstance(cell, int) else None,
                str(err.get("ename", "")),
                str(err.get("evalue", "")),
                str(err.get("message", "")),
            )
        return cls(
            notebook=str(item.get("notebook", "")),
            state=state,
            alive=alive,
            kernel=str(data.get("kernel", "")),
            cells=int(data.get("cells") or 0),
            cell=data.get("cell") if isinstance(data.get("cell"), int) else None,
            started=_number(data.get("started")),
            ended=_number(data.get("ended")),
            failure=failure,
            dir=str(item.get("dir", "")),
        )

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _dict(value: object) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class RunReport:
    """What `run` and `run --attach` print: the run, and what sync did with the notebook."""

    target: str
    run: Run
    detached: bool = False
    pushed: bool = False  # the local notebook had changed and was sent
    pulled: bool = False  # the executed notebook came back
    kept: str = ""  # a local edit won: the executed version is kept beside it under this name

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "run": self.run.as_json()}


def parse_value(text: str) -> Value:
    """A -p value as papermill reads it: True/False/None, an int, a float, else the string itself."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def notebook_path(sess: Session, given: str) -> str:
    """The notebook's path in the project, checked here first: a file that is not one never reaches the server."""
    path = Path(given)
    if not path.is_file():
        raise UsageError(f"no notebook {given}", hint="give the path of an .ipynb file in this project")
    try:
        runner_cells.load(str(path))
    except runner_cells.NotANotebook as e:
        raise UsageError(f"{given} is not a notebook: {e}", hint="run an .ipynb file (nbformat 4)") from None
    except OSError as e:
        raise UsageError(f"cannot read {given}: {e.strerror}") from None
    return sync.check_paths(sess.profile.project_dir, [given])[0]


def _request(sess: Session, action: str, notebook: str, **values: str) -> Request:
    return Request("run", action, bootstrap_values(sess.profile, NOTEBOOK=notebook, **values))


def start(sess: Session, notebook: str, params: dict[str, Value]) -> tuple[Run, bool]:
    """Push the notebook if it changed here, then start its run; (the run, whether it was pushed).

    Unchanged here since the last sync, the server's copy runs as it is (it may hold the
    outputs of a run nobody pulled yet, which a push would have to keep beside it).
    """
    pushed = False
    if not sync.unchanged_here(sess, notebook):
        _refuse_if_running(sess, notebook)  # before the push: it would land beside the notebook being run
        outcome = sync.run(sess, "push", paths=[notebook])
        _check_pushed(notebook, outcome)
        pushed = notebook in outcome.plan.updates
    request = _request(
        sess,
        "start",
        notebook,
        RUNNER=(remote.HERE / "runner.py").read_text(encoding="utf-8"),
        CELLS=(remote.HERE / "runner_cells.py").read_text(encoding="utf-8"),
        PARAMS=json.dumps(params),
    )
    data = call(sess.target, request, timeout=START_TIMEOUT, persist=SHORT_PERSIST).data
    prepared = _dict(data.get("prepared"))
    run = Run(
        notebook=notebook,
        state="starting",
        alive=True,
        kernel=str(prepared.get("kernel", "")),
        cells=int(prepared.get("cells") or 0),
        dir=str(data.get("dir", "")),
    )
    return run, pushed


def _refuse_if_running(sess: Session, notebook: str) -> None:
    try:
        run = status(sess, notebook)
    except NotRunningError:
        return
    if run.active:
        raise UsageError(
            f"{notebook} is still running on {sess.profile.host} (cell {run.cell} of {run.cells} code cells)",
            hint=f"follow it with `remotebook run --attach {notebook}`, or wait until it ends (`remotebook run --list`)",
        )


def _check_pushed(notebook: str, outcome: sync.Outcome) -> None:
    if notebook in outcome.plan.conflicts:
        beside = outcome.kept.get(notebook, "a .local- copy")
        raise UsageError(
            f"{notebook} changed on the server too since the last sync: the server's version stays, "
            f"yours is beside it there as {beside}, and nothing ran",
            hint=f"bring the server's version back with `remotebook sync pull {notebook}`, merge, then run again",
        )


def status(sess: Session, notebook: str) -> Run:
    data = call(sess.target, _request(sess, "status", notebook), timeout=QUERY_TIMEOUT, persist=SHORT_PERSIST).data
    return Run.from_answer(data["runs"][0])


def list_runs(sess: Session) -> list[Run]:
    data = call(sess.target, _request(sess, "list", ""), timeout=QUERY_TIMEOUT, persist=SHORT_PERSIST).data
    found = [Run.from_answer(item) for item in data.get("runs", []) if isinstance(item, dict)]
    return sorted(found, key=lambda run: run.started or 0.0)


def stop(sess: Session, notebook: str) -> Run:
    """Interrupt a detached run: its kernel is interrupted, what ran is saved, it ends as "stopped"."""
    data = call(sess.target, _request(sess, "stop", notebook), timeout=STOP_TIMEOUT, persist=SHORT_PERSIST).data
    run = Run.from_answer(data["runs"][0])
    if data.get("how") == "none":
        raise NotRunningError(
            f"{notebook} is not running on {sess.profile.host} (its last run: {run.state})",
            hint="`remotebook run --list` shows the runs",
        )
    return run


def follow(sess: Session, notebook: str, write: Callable[[str], None]) -> None:
    """The run log from its start, until the run ends (rides the master when one runs)."""
    stream(sess.target, _request(sess, "follow", notebook), write=write, timeout=FOLLOW_BACKSTOP)


def chosen(sess: Session, notebook: str | None) -> str:
    """`--attach` or `--stop` without a notebook: the one run that is going on, else the latest."""
    if notebook is not None:
        return notebook_path(sess, notebook) if Path(notebook).exists() else notebook
    runs = list_runs(sess)
    if not runs:
        raise NotRunningError(
            f"no runs of this project on {sess.profile.host}", hint="start one: remotebook run NOTEBOOK"
        )
    active = [run for run in runs if run.active]
    if len(active) > 1:
        names = ", ".join(run.notebook for run in active)
        raise UsageError(
            f"{len(active)} runs are going on ({names})", hint="name one: remotebook run --attach NOTEBOOK"
        )
    return (active or runs)[-1].notebook


def pull(sess: Session, notebook: str) -> tuple[bool, str]:
    """Bring the executed notebook back through sync's rules: (pulled, where it was kept if a local edit won)."""
    outcome = sync.run(sess, "pull", paths=[notebook])
    return notebook in outcome.plan.updates, outcome.kept.get(notebook, "")


def failure_of(run: Run) -> RunFailedError | None:
    """The error a finished run ends with (exit 14), or None when every cell ran."""
    where, f = f"{run.notebook}", run.failure or Failure(run.cell)
    if run.state == "failed":
        return RunFailedError(f"{where}: cell {f.cell} failed: {f.ename}: {f.evalue}", hint=_KEPT)
    if run.state == "kernel_died":
        return RunFailedError(f"{where}: the kernel died during cell {f.cell}", hint=_KEPT + "; out of memory?")
    if run.state == "lost":
        return RunFailedError(
            f"{where}: the runner on the server stopped without a word (killed, out of memory, or a reboot)", hint=_KEPT
        )
    if run.state in ("stopped", "error"):
        return RunFailedError(f"{where}: the run ended early: {f.message}", hint=_KEPT)
    return None


_KEPT = "the outputs until then are saved in the notebook (on the server, and pulled back here)"
