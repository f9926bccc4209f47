"""`remotebook doctor`: each check with a mark, what was found and the fix; exit non-zero when one fails."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext

if TYPE_CHECKING:
    from remotebook.project.reports import Check, DoctorReport

MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", None)}


@click.command()
@click.argument("target", required=False, shell_complete=complete_target)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every check.")
@click.pass_obj
def doctor(app: AppContext, target: str | None, as_json: bool) -> None:
    """Check what TARGET needs, in order: ssh, forwarding, the login shell, Jupyter, disk, rsync...

    Never prompts (ssh runs in BatchMode) and finishes within 30 s, also when the host
    is down. Exits with the code of the first failed check's kind (4 ssh, 5 the remote
    lacks something, 7 forwarding, 9 rsync), 0 when nothing failed.
    """
    from remotebook.actions import doctor as checks
    from remotebook.project import handle
    from remotebook.remote.values import bootstrap_values

    started = time.monotonic()
    sess = app.session(target)
    found, _ = checks.run(
        sess.target,
        bootstrap_values(sess.profile),
        app=sess.profile.app,
        uses_slurm=sess.launcher.kind == "slurm",
        close_master=lambda: handle.release_master(sess),
    )
    report = checks.report(sess.profile.name, sess.target.destination, found, started)
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        show(report)
    if report.exit_code:
        click.get_current_context().exit(report.exit_code)


def show(report: DoctorReport) -> None:
    where = (
        f"{report.destination}" if report.destination == report.target else f"{report.target} ({report.destination})"
    )
    click.echo(f"remotebook doctor: {where}")
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        click.echo(line(check, width))
        if check.fix and check.status in ("fail", "warn"):
            click.echo(f"      fix: {check.fix}")
    counts = {status: sum(1 for c in report.checks if c.status == status) for status in MARKS}
    parts = [f"{counts['ok']} ok"]
    parts += [
        f"{n} {word}"
        for n, word in ((counts["warn"], "warnings"), (counts["fail"], "failed"), (counts["skip"], "skipped"))
        if n
    ]
    click.echo(f"{len(report.checks)} checks: {', '.join(parts)} ({report.elapsed_s:.1f} s)")


def line(check: Check, width: int) -> str:
    mark, colour = MARKS[check.status]
    text = f"  {click.style(mark, fg=colour) if colour else mark} {check.name.ljust(width)}  "
    return text + (f"skipped: {check.found}" if check.status == "skip" else check.found)
