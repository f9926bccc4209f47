"""Durable outputs: the server extensions that run browser cells on the server and save what they print.

jupyter-collaboration keeps each notebook's model on the server and saves it; jupyter-server-nbmodel
runs a cell there and writes its outputs into that model. A closed laptop then loses nothing: the
server goes on saving. The pins (remote/values.py) are the versions tried here; `env` installs exactly them, and an installed
one counts when its major.minor match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from remotebook.core.errors import DurableError, RemotebookError
from remotebook.remote.door import Request, call
from remotebook.remote.values import DURABLE_PINS, bootstrap_values, durable_requirements

if TYPE_CHECKING:
    from remotebook.project.handle import Session

CHECK_TIMEOUT = 60.0

Progress = Callable[[str], None]


def pin_text() -> str:
    return ", ".join(f"{name} {version}" for name, version in DURABLE_PINS.items())


def compatible(installed: str, pinned: str) -> bool:
    """5.0.x for 5.0.4: a patch release is fine, another minor may change the settings used here."""
    return installed.split(".")[:2] == pinned.split(".")[:2]


def missing(versions: dict[str, str]) -> list[str]:
    """The pinned packages that are absent from, or of another major.minor in, `versions` (name -> version)."""
    return [
        f"{name} {versions[name]} (tested: {pin})" if versions.get(name) else name
        for name, pin in DURABLE_PINS.items()
        if not versions.get(name) or not compatible(versions[name], pin)
    ]


@dataclass(frozen=True)
class Check:
    """Which Jupyter `up` would start, and what it lacks for durable outputs."""

    jupyter: str  # "" when there is none at all
    python: str
    source: str  # "env" (this project's, `remotebook env --jupyter`), "profile", "path" or "none"
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, data: dict[str, Any]) -> Check:
        check = data.get("check")
        found = check.get("versions") if isinstance(check, dict) else None
        versions = {str(k): str(v) for k, v in found.items() if v} if isinstance(found, dict) else {}
        return cls(str(data.get("jupyter", "")), str(data.get("python", "")), str(data.get("source", "")), versions)

    @property
    def lacks(self) -> list[str]:
        return missing(self.versions)


def check(session: Session) -> Check:
    values = bootstrap_values(session.profile, DURABLE="yes")
    return Check.from_answer(call(session.target, Request("bootstrap", "durable", values), timeout=CHECK_TIMEOUT).data)


def ensure(session: Session, progress: Progress) -> None:
    """The server's Jupyter has the extensions, installed into the project's env if need be; else DurableError."""
    from remotebook.env import remote_env

    found = check(session)
    if not found.lacks:
        return
    where = f"{session.profile.host}: durable outputs need {pin_text()} beside the server's Jupyter"
    name = session.profile.name
    if not remote_env.wants_project_env(session):
        raise DurableError(
            f"{where}; {found.jupyter} lacks {', '.join(found.lacks)}",
            hint=f"install them there (`{found.python or 'python3'} -m pip install {' '.join(durable_requirements())}`), "
            f"or drop jupyter/venv/conda_env from the profile so that `remotebook env {name} --durable` "
            "gives this project a Jupyter with them",
        )
    progress(
        f"durable outputs: installing JupyterLab, {pin_text()} into this project's env "
        "(its Jupyter serves this project from now on)"
    )
    try:
        outcome = remote_env.run(session, jupyter_lab=True, durable=True, progress=progress)
    except RemotebookError as e:
        raise DurableError(
            f"{where}, and they could not be installed: {e.message}",
            hint=f"{e.hint + '; then ' if e.hint else ''}run `remotebook env {name} --durable` "
            f"(add --wheels when the server has no internet), then `remotebook up {name} --durable`",
            detail=e.detail,
        ) from e
    progress(f"env {outcome.kernel} {outcome.action}: durable outputs ready")
