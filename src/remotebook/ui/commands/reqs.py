"""`remotebook reqs`: requirements.txt from the project's imports, or --check an existing one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from remotebook.core.errors import DiffersError, UsageError

if TYPE_CHECKING:
    from remotebook.deps.reqs import Report


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--output", metavar="FILE", help="Where to write (default: PATH/requirements.txt; - for stdout).")
@click.option(
    "--pin",
    type=click.Choice(["exact", "compatible", "none"]),
    default="exact",
    show_default=True,
    help="Pin to the locally installed versions with ==, with ~=, or not at all.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare with the existing file; exit 10 if it lacks an import or pins another version.",
)
@click.option("--strict", is_flag=True, help="With --check: also fail on requirements that nothing imports.")
@click.option("--python", metavar="PY", help="The interpreter whose installed packages name and pin the imports.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip matching files or dirs (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite a requirements file that remotebook did not write.")
def reqs(
    path: Path | None,
    output: str | None,
    pin: str,
    check: bool,
    strict: bool,
    python: str | None,
    exclude: tuple[str, ...],
    force: bool,
) -> None:
    """Write requirements.txt from the imports of PATH's .py and .ipynb files.

    PATH defaults to the project (the folder holding remotebook.toml, else the current
    one). Import names are mapped to distributions by what PATH's Python has installed
    (the active env, PATH/.venv, or python3), then by a table of well-known names
    (sklearn -> scikit-learn); the ones neither knows are listed, never guessed.
    """
    from remotebook.deps import reqs as requirements

    root = _root(path)
    report = requirements.build(root, pin=pin, python=python, exclude=exclude)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name, where in report.unresolved:
        click.echo(f"unresolved: import {name} ({where}): no known distribution; add it by hand", err=True)
    target = root / "requirements.txt" if output is None else None if output == "-" else Path(output)
    if check:
        _check(report, target, pin != "none", strict)
        return
    if target is None:
        click.echo(report.text, nl=False)
        return
    requirements.write(target, report.text, force=force)
    click.echo(f"wrote {_shown(target)}: {_counts(report)}", err=True)


def _root(path: Path | None) -> Path:
    if path is not None:
        if not path.is_dir():
            raise UsageError(f"{path}: no such directory", hint="give the project folder to scan")
        return path.resolve()
    from remotebook.local.config import find_project_file

    found = find_project_file(Path.cwd())
    return found.parent if found else Path.cwd()


def _check(report: Report, target: Path | None, versions: bool, strict: bool) -> None:
    from remotebook.deps.reqs import compare

    if target is None or not target.is_file():
        raise UsageError(f"--check: {target or '-'} is not a file", hint="write it first with `remotebook reqs`")
    diffs = compare(report, target.read_text(encoding="utf-8"), versions=versions, strict=strict)
    for d in diffs:
        click.echo(d.text)
    if diffs:
        raise DiffersError(
            f"{_shown(target)} differs from the imports ({len(diffs)} line{'s' * (len(diffs) != 1)})",
            hint="run `remotebook reqs` to rewrite it (or edit it by hand)",
        )
    click.echo(f"{_shown(target)} matches the imports ({_counts(report)})", err=True)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _counts(report: Report) -> str:
    parts = [f"{len(report.requirements)} requirements from {report.files} files"]
    if report.optional:
        parts.append(f"{len(report.optional)} optional")
    if report.dev:
        parts.append(f"{len(report.dev)} only for tests/docs")
    if report.unresolved:
        parts.append(f"{len(report.unresolved)} unresolved")
    if not report.python:
        parts.append("no local Python asked")
    return ", ".join(parts)
