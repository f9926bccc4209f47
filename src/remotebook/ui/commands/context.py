"""What every command gets: the global options and paths (AppContext), progress lines, the browser."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from remotebook.project.handle import Session


class AppContext:
    """What every command needs: the paths and the global options (click's ctx.obj)."""

    def __init__(self, ssh_config: str, verbose: bool) -> None:
        from remotebook.local.paths import default_paths

        self.paths = default_paths()
        self.ssh_config = ssh_config
        self.verbose = verbose

    def session(self, target: str | None, *, existing: bool = False, durable: bool = False) -> Session:
        """The session for TARGET in this folder's project.

        existing: a command about something already up (status, open, logs, down): when
        this folder's project has no state for TARGET but exactly one other project
        does, that one is meant (`remotebook down gpu-box` from another folder).
        durable: durable outputs whatever the profile says (`up --durable`).
        """
        import dataclasses

        from remotebook.local import config, trust
        from remotebook.project import handle

        cfg = config.load(Path.cwd(), self.paths.user_config, trust.approvals(self.paths))
        profile = config.resolve(cfg, target, self.ssh_config)
        if existing and target and handle.identity(profile).key not in self._known():
            elsewhere = self._project_of(target)
            if elsewhere is not None:
                cfg = config.load(elsewhere[0], self.paths.user_config, trust.approvals(self.paths))
                profile = config.resolve(cfg, elsewhere[1], self.ssh_config)
        if durable:
            profile = dataclasses.replace(profile, durable_outputs=True)
        return handle.Session.open(self.paths, profile)

    def in_project(self) -> bool:
        """Is the current folder in a project whose remotebook.toml names a default profile?"""
        from remotebook.local import config

        found = config.find_project_file(Path.cwd())
        if found is None:
            return False
        cfg = config.load(Path.cwd(), self.paths.user_config)
        return bool(cfg.default or len(cfg.profiles) == 1)

    def _known(self) -> set[str]:
        from remotebook.local import state

        return {key for key, _ in state.all_projects(self.paths)}

    def _project_of(self, target: str) -> tuple[Path, str] | None:
        """The one project (folder, profile) that has state for a profile or host named TARGET."""
        from remotebook.local import state

        found = {
            (str(data["project_dir"]), str(data["target"]))
            for _, data in state.all_projects(self.paths)
            if target in (data.get("target"), data.get("host")) and data.get("project_dir")
        }
        if len(found) > 1:
            from remotebook.core.errors import UsageError

            folders = ", ".join(sorted(folder for folder, _ in found))
            raise UsageError(
                f"{len(found)} projects have a target named {target} ({folders})",
                hint="run the command in the project's folder",
            )
        if not found:
            return None
        folder, name = found.pop()
        return Path(folder), name


def progress(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            click.echo(f"» {message}", err=True)
        logging.getLogger("remotebook").info(message)

    return say


def open_browser(app: AppContext, name: str, url: str, *, quiet: bool) -> None:
    from remotebook.ui import browser

    if not browser.open_url(app.paths, name, url) and not quiet:
        click.echo("» no browser found here; open the URL above yourself", err=True)
