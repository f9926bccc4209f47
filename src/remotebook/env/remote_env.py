"""This project's Python env on the remote (`remotebook env`): probe, compare hashes, install, or ship wheels."""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remotebook.connection import mux
from remotebook.core.errors import RemoteEnvError, UsageError
from remotebook.deps.reqs import significant_lines
from remotebook.env import wheels
from remotebook.local.config import Profile, kernel_name, project_name
from remotebook.project.handle import master_lease
from remotebook.remote.door import Request, call
from remotebook.remote.values import durable_requirements

if TYPE_CHECKING:
    from remotebook.project.handle import Session

log = logging.getLogger(__name__)

MIN_PYTHON = (3, 8)
PROBE_TIMEOUT = 60.0
INSTALL_TIMEOUT = 4 * 3600.0  # a backstop only: CUDA wheels over a slow link take as long as they take
NESTED = ("-r", "--requirement", "-c", "--constraint")


@dataclass(frozen=True)
class Requirements:
    text: str
    source: str  # the file, or where the text was generated from
    path: Path | None  # None when generated in memory

    @property
    def count(self) -> int:
        return count_requirements(self.text)


@dataclass(frozen=True)
class Probe:
    """What the remote said before installing anything."""

    python: str  # python3 on the remote PATH after the profile's setup, or ""
    python_version: str  # its `-V`: "Python 3.11.2"
    uv: str  # uv on the remote PATH, or ""
    env: str  # the env dir (absolute, on the remote)
    ready: bool  # the env has a python
    kernel: bool  # ... and its kernelspec was registered
    hash: str  # of what the last complete install was asked for
    wheel: dict[str, Any] | None  # tags for `pip download`, when asked for

    @classmethod
    def from_answer(cls, data: dict[str, Any]) -> Probe:
        wheel = data.get("wheel")
        return cls(
            python=str(data.get("python", "")),
            python_version=str(data.get("python_version", "")),
            uv=str(data.get("uv", "")),
            env=str(data.get("env", "")),
            ready=bool(data.get("ready")),
            kernel=bool(data.get("kernel")),
            hash=str(data.get("hash", "")),
            wheel=wheel if isinstance(wheel, dict) else None,
        )

    @property
    def installer(self) -> str:
        return "uv" if self.uv else "pip"


@dataclass
class Outcome:
    action: str  # "unchanged", "created" or "updated"
    target: str
    kernel: str
    display_name: str
    env: str
    python: str
    python_version: str
    installer: str
    requirements: int
    source: str
    summary: str = ""  # the installer's own last word ("Successfully installed ...")
    wheels: int = 0  # pushed with --wheels
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str], None]


def display_name(folder: Path) -> str:
    return f"{project_name(folder)} (remotebook)"


def count_requirements(text: str) -> int:
    return sum(1 for line in significant_lines(text) if not line.startswith("-"))


def load_requirements(root: Path, given: Path | None) -> Requirements:
    """-r FILE, else requirements.txt in the project root, else generated from the imports."""
    path = given if given is not None else root / "requirements.txt"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.strip().split(" ", 1)[0].split("=", 1)[0] in NESTED:
                raise UsageError(
                    f"{path} includes another file ({line.strip()}); remotebook env sends one file to the server",
                    hint="merge the included requirements into it, or pass a merged file with -r",
                )
        return Requirements(text, str(path), path.resolve())
    if given is not None:
        raise UsageError(f"requirements file {given} does not exist", hint="check the path given to -r")
    return Requirements(_generated(root), "the project's imports (no requirements.txt)", None)


def _generated(root: Path) -> str:
    from remotebook.deps import reqs  # here: only a project without requirements.txt pays for the scan

    return reqs.build(root, pin="exact").text


def parse_python_version(text: str) -> tuple[int, int, int] | None:
    """`python3 -V` -> (3, 11, 2); None if it is not what a Python says."""
    m = re.match(r"\s*Python (\d+)\.(\d+)(?:\.(\d+))?", text)
    return (int(m[1]), int(m[2]), int(m[3] or 0)) if m else None


def check_python(probe: Probe, destination: str) -> tuple[int, int, int]:
    need = ".".join(map(str, MIN_PYTHON))
    hint = (
        f"install Python {need} or newer there, or put one first on PATH with the profile's `setup` "
        '(e.g. "module load python/3.11") or `conda_env`'
    )
    if not probe.python:
        raise RemoteEnvError(f"{destination}: no python3 on the remote PATH (login shell)", hint=hint)
    version = parse_python_version(probe.python_version)
    if version is None:
        raise RemoteEnvError(
            f"{destination}: {probe.python} does not say which Python it is ({probe.python_version.strip()!r})",
            hint=hint,
        )
    if version[:2] < MIN_PYTHON:
        found = ".".join(map(str, version))
        raise RemoteEnvError(
            f"{destination}: {probe.python} is Python {found}; remotebook env needs Python {need} or newer", hint=hint
        )
    return version


def env_hash(
    requirements: str, jupyter_lab: bool, python: str, version: tuple[int, int, int], extra: tuple[str, ...] = ()
) -> str:
    """What an env holds is decided by these; the same hash means there is nothing to do."""
    digest = hashlib.sha256()
    parts = [
        "remotebook-env/1",
        "\n".join(significant_lines(requirements)),  # a comment edit installs nothing
        "jupyterlab" if jupyter_lab else "",
        python,
        f"{version[0]}.{version[1]}",
    ]
    if extra:  # (envs made before durable outputs keep their hash)
        parts.append(" ".join(extra))
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _values(profile: Profile, **extra: str) -> dict[str, str]:
    values = {
        **profile.root_values(),
        "VENV": profile.venv,
        "CONDA_ENV": profile.conda_env,
        "SETUP": "\n".join(profile.setup),
        "KERNEL": kernel_name(profile.project_dir),
        "DISPLAY": display_name(profile.project_dir),
        "TAGS": "no",
        "WHEELS": "no",
        "LAB": "no",
        "REQS": "",
        "HASH": "",
        "EXTRA": "",  # more requirements, space-separated (durable outputs' pinned extensions)
    }
    values.update(extra)
    return values


def probe(sess: Session, *, tags: bool) -> Probe:
    request = Request("env", "probe", _values(sess.profile, TAGS="yes" if tags else "no"))
    return Probe.from_answer(call(sess.target, request, timeout=PROBE_TIMEOUT).data)


def install(
    sess: Session, reqs: Requirements, digest: str, *, jupyter_lab: bool, offline: bool, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    values = _values(
        sess.profile,
        REQS=reqs.text,
        HASH=digest,
        LAB="yes" if jupyter_lab else "no",
        WHEELS="yes" if offline else "no",
        EXTRA=" ".join(extra),
    )
    return call(sess.target, Request("env", "install", values), timeout=INSTALL_TIMEOUT).data


def wants_project_env(session: Session) -> bool:
    """Would `up` run the project env's Jupyter (no jupyter, venv or conda_env of the profile's own)?"""
    p = session.profile
    return not (p.jupyter or p.venv or p.conda_env)


def run(
    sess: Session,
    *,
    requirements: Path | None = None,
    jupyter_lab: bool = False,
    offline: bool = False,
    force: bool = False,
    durable: bool | None = None,
    progress: Progress = lambda _: None,
) -> Outcome:
    """Create or update the env, or say it is up to date; one probe and at most one install round trip.

    durable: also JupyterLab and the durable-outputs extensions (default: the profile's
    durable_outputs, when the project env's Jupyter is the one `up` runs).
    A master this opens is closed at the end, unless a caller's lease holds it (`up --env` goes on with it).
    """
    profile = sess.profile
    if durable is None:
        durable = profile.durable_outputs and wants_project_env(sess)
    extra = tuple(durable_requirements()) if durable else ()
    jupyter_lab = jupyter_lab or durable
    reqs = load_requirements(profile.project_dir, requirements)
    had_master = mux.master_alive(sess.target)
    if not had_master:
        mux.remove_stale_control_path(sess.target)
    start = time.monotonic()
    with master_lease(sess, had_master=had_master):
        progress(f"connecting to {profile.host}" + (" (reusing the ssh connection)" if had_master else ""))
        found = probe(sess, tags=offline)
        version = check_python(found, profile.host)
        digest = env_hash(reqs.text, jupyter_lab, found.python, version, extra)
        outcome = _outcome(sess, found, reqs)
        if found.ready and found.kernel and found.hash == digest and not force:
            return outcome
        progress(_plan_line(found, reqs, jupyter_lab, extra))
        if offline:
            outcome.wheels = _ship_wheels(sess, found, reqs, jupyter_lab, progress, extra)
        done = install(sess, reqs, digest, jupyter_lab=jupyter_lab, offline=offline, extra=extra)
    outcome.action, outcome.summary = str(done.get("action", "")), str(done.get("summary", ""))
    outcome.installer = str(done.get("installer", outcome.installer))
    outcome.seconds = round(time.monotonic() - start, 1)
    return outcome


def _outcome(sess: Session, found: Probe, reqs: Requirements) -> Outcome:
    folder = sess.profile.project_dir
    return Outcome(
        action="unchanged",
        target=sess.profile.name,
        kernel=kernel_name(folder),
        display_name=display_name(folder),
        env=found.env,
        python=found.python,
        python_version=found.python_version.replace("Python ", "").strip(),
        installer=found.installer,
        requirements=reqs.count,
        source=reqs.source,
    )


def _plan_line(found: Probe, reqs: Requirements, jupyter_lab: bool, more: tuple[str, ...] = ()) -> str:
    verb = "updating" if found.ready else "creating"
    extra = ", ".join(["ipykernel", *(["jupyterlab"] if jupyter_lab else []), *more])
    return (
        f"{verb} {found.env} with {found.installer} ({found.python_version.strip()}): "
        f"{reqs.count} requirement(s) from {reqs.source} + {extra}"
    )


def _ship_wheels(
    sess: Session, found: Probe, reqs: Requirements, jupyter_lab: bool, progress: Progress, more: tuple[str, ...] = ()
) -> int:
    """--wheels: download here for the server's Python and platform, push them beside the env."""
    if found.wheel is None:
        raise RemoteEnvError(
            f"{sess.profile.host}: {found.python} could not tell its platform tags", hint="run with -v and report it"
        )
    extra = ["ipykernel", *(["jupyterlab"] if jupyter_lab else []), *(["pip"] if found.uv else []), *more]
    with tempfile.TemporaryDirectory(prefix="remotebook-wheels-") as tmp:
        folder = Path(tmp) / "wheels"
        progress(f"downloading wheels here for {wheels.describe(found.wheel)}")
        count = wheels.download(reqs.text, reqs.path, extra, found.wheel, folder, sess.profile)
        progress(f"pushing {count} wheel(s) to {sess.profile.host}")
        wheels.push(sess, folder, found.env + ".wheels")
    return count
