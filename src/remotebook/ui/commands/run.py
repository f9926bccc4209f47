"""`remotebook run`: execute a notebook on the server, detached from this computer; attach, list."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import SSHError, UsageError
from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, progress

if TYPE_CHECKING:
    from remotebook.actions.runs import Run, RunReport, Value
    from remotebook.project.handle import Session


@click.command()
@click.argument("notebook", required=False)
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--detach", is_flag=True, help="Start the run and return; `run --attach` follows it later.")
@click.option(
    "--attach", is_flag=True, help="Follow a run (from its first output) until it ends, then pull the notebook."
)
@click.option(
    "--stop", "stop_", is_flag=True, help="Stop a run: its kernel is interrupted, what ran is saved and pulled back."
)
@click.option("--list", "list_", is_flag=True, help="Show this project's runs on TARGET and their state.")
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="Set a parameter (papermill's way: a cell after the one tagged `parameters`). VALUE: True/False/None, a number, else a string.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the run's log goes to stderr).")
@click.pass_obj
def run(
    app: AppContext,
    notebook: str | None,
    target: str | None,
    detach: bool,
    attach: bool,
    stop_: bool,
    list_: bool,
    parameters: tuple[tuple[str, str], ...],
    as_json: bool,
) -> None:
    """Run every code cell of NOTEBOOK on TARGET, in order, in a process there that outlives this one.

    The notebook is pushed first if it changed; outputs are saved into it on the server as
    they come, so a laptop that sleeps or loses the network loses nothing: `run --attach`
    shows what was printed meanwhile. At the end the executed notebook is pulled back,
    through sync's rules (a local edit made meanwhile is never overwritten). A failing
    cell stops the run (exit 14).
    """
    if sum([detach, attach, stop_, list_]) > 1:
        raise UsageError("--detach, --attach, --stop and --list go alone", hint="choose one")
    if list_:
        _list(app, notebook if target is None else target, as_json)
        return
    if notebook is None and not (attach or stop_):
        raise UsageError("which notebook?", hint="remotebook run NOTEBOOK [TARGET]")
    if (attach or stop_) and parameters:
        raise UsageError("-p goes with a new run, not --attach or --stop")
    from remotebook.actions import runs

    sess = app.session(target)
    say = progress(as_json)
    if stop_:
        _stop(sess, runs.chosen(sess, notebook), as_json)
        return
    if attach:
        name = runs.chosen(sess, notebook)
        _follow_to_end(sess, runs.status(sess, name), as_json, pushed=False)
        return
    name = runs.notebook_path(sess, notebook or "")
    params: dict[str, Value] = {key: runs.parse_value(value) for key, value in parameters}
    started, pushed = runs.start(sess, name, params)
    say(f"running {name} on {sess.profile.host} ({started.cells} code cells, kernel {started.kernel})")
    if detach:
        _print(runs.RunReport(sess.profile.host, started, detached=True, pushed=pushed), as_json)
        say(f"follow it with `remotebook run --attach {name}`; the outputs are saved on the server meanwhile")
        return
    _follow_to_end(sess, started, as_json, pushed=pushed)


def _follow_to_end(sess: Session, run: Run, as_json: bool, *, pushed: bool) -> None:
    from remotebook.actions import runs

    def write(line: str) -> None:
        click.echo(line, nl=False, err=as_json)

    hint = f"the run goes on on the server: `remotebook run --attach {run.notebook}`"
    if run.active:
        try:
            runs.follow(sess, run.notebook, write)
        except KeyboardInterrupt:
            click.echo(f"\n» {hint}", err=True)
            raise
        except SSHError as e:
            raise SSHError(e.message, hint=hint, detail=e.detail) from None
        run = runs.status(sess, run.notebook)
    else:
        runs.follow(sess, run.notebook, write)  # a finished run: its whole log, once
    pulled, kept = runs.pull(sess, run.notebook)
    report = runs.RunReport(sess.profile.host, run, pushed=pushed, pulled=pulled, kept=kept)
    _print(report, as_json)
    failure = runs.failure_of(run)
    if failure is not None:
        raise failure


def _stop(sess: Session, name: str, as_json: bool) -> None:
    from remotebook.actions import runs

    progress(as_json)(f"stopping {name} on {sess.profile.host}")
    run = runs.stop(sess, name)
    pulled, kept = runs.pull(sess, name)
    if as_json:
        report = runs.RunReport(sess.profile.host, run, pulled=pulled, kept=kept)
        click.echo(json.dumps(report.as_json()))
        return
    where = f" during cell {run.failure.cell}" if run.failure and run.failure.cell else ""
    click.echo(f"{name}: {run.state}{where}; the outputs until then are saved in the notebook")
    if kept:
        click.echo(
            f"{name} was edited here meanwhile: it stays, the stopped run's notebook is beside it as {kept}", err=True
        )
    elif pulled:
        click.echo(f"pulled the notebook of the stopped run, {name}")


def _print(report: RunReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    run = report.run
    if report.detached:
        click.echo(f"started {run.notebook} on {report.target}")
        return
    took = f" in {run.ended - run.started:.1f}s" if run.ended and run.started else ""
    click.echo(f"{run.notebook}: {run.state}{took}")
    if report.kept:
        click.echo(
            f"{run.notebook} was edited here meanwhile: it stays, the executed notebook is beside it as {report.kept}",
            err=True,
        )
    elif report.pulled:
        click.echo(f"pulled the executed {run.notebook}")


def _list(app: AppContext, target: str | None, as_json: bool) -> None:
    from remotebook.actions import runs

    sess = app.session(target)
    found = runs.list_runs(sess)
    if as_json:
        click.echo(json.dumps({"target": sess.profile.host, "runs": [r.as_json() for r in found]}))
        return
    if not found:
        click.echo(f"no runs of this project on {sess.profile.host}")
    for r in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "?"
        where = f" (cell {r.cell}/{r.cells} code cells)" if r.active and r.cell else ""
        click.echo(f"{r.notebook}  {r.state}{where}  started {when}")
