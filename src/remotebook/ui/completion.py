"""What a shell completes for TARGET: profile names from the config files, and targets that have state."""

from __future__ import annotations

import logging
from pathlib import Path

from remotebook.core.errors import RemotebookError
from remotebook.local.paths import Paths

log = logging.getLogger(__name__)


def target_names(paths: Paths, cwd: Path) -> list[str]:
    """Profile names this folder sees (project file, user file), then targets of projects that were up.

    Completion runs on every Tab: a broken or untrusted config completes nothing rather than fail.
    Only names are read; no profile is resolved, so nothing unapproved is acted on.
    """
    from remotebook.local import config, state

    names: list[str] = []
    try:
        names += config.load(cwd, paths.user_config).profiles
    except (RemotebookError, OSError) as e:
        log.debug("completion: no profiles: %s", e)
    try:
        names += [str(data["target"]) for _, data in state.all_projects(paths)]
    except (RemotebookError, OSError) as e:
        log.debug("completion: no state: %s", e)
    return list(dict.fromkeys(names))  # the project's first, each once
