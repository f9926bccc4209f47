"""`env --wheels`: download wheels here for the server's Python and platform, and push them over the master."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remotebook.core import proc
from remotebook.core.errors import InstallError, RemoteEnvError, UsageError, last_line
from remotebook.deps.installer import failed_requirement
from remotebook.local.config import Profile

if TYPE_CHECKING:
    from remotebook.project.handle import Session

DOWNLOAD_TIMEOUT = 4 * 3600.0  # a backstop only
PUSH_TIMEOUT = 4 * 3600.0
_LEGACY_MANYLINUX = ((17, "manylinux2014"), (12, "manylinux2010"), (5, "manylinux1"))


def fallback_platforms(facts: dict[str, Any]) -> list[str]:
    """Platform tags from sysconfig's platform and the glibc version, for a Python without `packaging`."""
    plat = str(facts.get("platform", "")).replace("-", "_").replace(".", "_")
    glibc = str(facts.get("glibc", ""))
    out = []
    if plat.startswith("linux_") and glibc.count(".") >= 1:
        arch = plat.removeprefix("linux_")
        major, minor = (int(part) for part in glibc.split(".")[:2])
        out += [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
        out += [f"{name}_{arch}" for least, name in _LEGACY_MANYLINUX if major == 2 and minor >= least]
    return [*out, plat] if plat else out


def download_args(facts: dict[str, Any]) -> list[str]:
    """`pip download` options that pick the wheels the server's Python can install."""
    version = str(facts["version"])
    implementation = {"cpython": "cp", "pypy": "pp"}.get(str(facts.get("implementation")), "cp")
    abis = facts.get("abis") or [f"{implementation}{version.replace('.', '')}", "abi3", "none"]
    platforms = [p for p in (facts.get("platforms") or fallback_platforms(facts)) if p != "any"]
    args = ["--only-binary", ":all:", "--python-version", version, "--implementation", implementation]
    for abi in abis:
        args += ["--abi", str(abi)]
    for platform in platforms:
        args += ["--platform", str(platform)]
    return args


def describe(facts: dict[str, Any]) -> str:
    return f"Python {facts.get('version', '?')} on {facts.get('platform', '?')}"


def local_python() -> str:
    """The Python whose pip downloads: this one if it has pip, else python3 on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    found = shutil.which("python3")
    if found is None:
        raise UsageError("--wheels needs pip here, and this Python has none", hint="install pip, or python3 with pip")
    return found


def download(
    text: str, path: Path | None, extra: list[str], facts: dict[str, Any], dest: Path, profile: Profile
) -> int:
    """pip download the requirements (+ extra) into dest; the number of wheels. A failure names the requirement."""
    dest.mkdir(parents=True, exist_ok=True)
    if path is None:  # generated in memory
        path = dest.parent / "requirements.txt"
        path.write_text(text, encoding="utf-8")
    argv = [local_python(), "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--dest", str(dest)]
    argv += [*download_args(facts), "-r", str(path), *extra]
    # relative paths in the requirements are the project's, as they are on the server
    result = proc.run(argv, timeout=DOWNLOAD_TIMEOUT, cwd=str(profile.project_dir))
    if not result.ok:
        output = result.stdout + result.stderr
        name = failed_requirement(output)
        what = f"could not download {name}" if name else f"failed: {last_line(result.stderr)}"
        raise InstallError(
            f"pip download {what} for {profile.host} ({describe(facts)}); nothing was installed",
            hint=f"fix or remove {name} in the requirements" if name else "run with -v for pip's own words",
            detail="\n".join(output.strip().splitlines()[-25:]),
        )
    return len(list(dest.glob("*.whl")))


def push(sess: Session, folder: Path, remote_dir: str) -> None:
    """rsync the wheels to remote_dir over the target's master (rsync makes the dir first)."""
    from remotebook.sync import rsync

    make = f"umask 077 && mkdir -p -- {shlex.quote(remote_dir)} && rsync"  # private, as all of ~/.remotebook
    argv = rsync.argv(
        sess.target, "--delete", f"--rsync-path={make}", f"{folder}/", f"{sess.target.destination}:{remote_dir}/"
    )
    result = proc.run(argv, timeout=PUSH_TIMEOUT)
    if not result.ok:
        raise RemoteEnvError(
            f"could not push the wheels to {sess.profile.host}: {last_line(result.stderr) or f'rsync exited {result.returncode}'}",
            hint="is rsync installed on the server? is its disk full?",
        )
