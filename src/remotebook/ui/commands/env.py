"""`remotebook env`: this project's own Python env and kernel on the server (uv, else venv + pip)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from remotebook.ui.commands.completion import complete_target
from remotebook.ui.commands.context import AppContext, progress

if TYPE_CHECKING:
    from remotebook.env.remote_env import Outcome


@click.command(name="env")
@click.argument("target", required=False, shell_complete=complete_target)
@click.option(
    "-r",
    "--requirements",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Requirements file [default: requirements.txt in the project root, else generated from the imports].",
)
@click.option(
    "--jupyter", "jupyter_lab", is_flag=True, help="Also install JupyterLab there (for a server without one)."
)
@click.option(
    "--wheels", is_flag=True, help="Download the wheels here and install them offline there (no network there)."
)
@click.option(
    "--durable",
    is_flag=True,
    help="Also JupyterLab and the durable-outputs extensions (as a profile with durable_outputs = true).",
)
@click.option("--force", is_flag=True, help="Install again even if the requirements did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def env_command(
    app: AppContext,
    target: str | None,
    requirements: Path | None,
    jupyter_lab: bool,
    wheels: bool,
    durable: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Create or update this project's Python env on TARGET, with a Jupyter kernel named after the project.

    It lives in ~/.remotebook/envs/ on the server; `remotebook up` makes its kernel the
    default. A second run with the same requirements changes nothing.
    """
    from remotebook.env import remote_env

    sess = app.session(target)
    outcome = remote_env.run(
        sess,
        requirements=requirements,
        jupyter_lab=jupyter_lab,
        offline=wheels,
        force=force,
        durable=True if durable else None,
        progress=progress(as_json),
    )
    if as_json:
        click.echo(json.dumps(outcome.as_json()))
    else:
        click.echo(describe(outcome))


def describe(o: Outcome) -> str:
    if o.action == "unchanged":
        return f"env {o.kernel} is up to date ({o.requirements} requirements)"
    lines = [
        f"env {o.kernel} {o.action} on {o.target} in {o.seconds:.0f}s: {o.env} "
        f"(Python {o.python_version}, {o.installer}{f', {o.wheels} wheels pushed' if o.wheels else ''})"
    ]
    if o.summary:
        lines.append(f"  {o.summary}")
    lines.append(
        f"  kernel: {o.kernel} ({o.display_name!r}), the default kernel of servers that `remotebook up` starts "
        "from now on (one already running: `remotebook down --server`, then `up`)"
    )
    return "\n".join(lines)
