"""`remotebook init`: a commented remotebook.toml in the current folder, approved as its writer's own."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="", help="ssh destination for the first profile.")
@click.option("--force", is_flag=True, help="Overwrite an existing remotebook.toml.")
def init(host: str, force: bool) -> None:
    """Write a commented remotebook.toml in the current directory."""
    from remotebook import init as project_file

    path = project_file.write(Path.cwd(), host=host, force=force)
    click.echo(f"wrote {path}; edit it, then run `remotebook up`")
