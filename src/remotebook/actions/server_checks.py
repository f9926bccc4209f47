"""The pure half of `doctor`: each check of the server judged from remote/doctor.sh's one JSON answer (tested on recorded answers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remotebook import remote
from remotebook.core.errors import EXIT_REMOTE, EXIT_SYNC, EXIT_UNTRUSTED
from remotebook.project.reports import Check
from remotebook.remote.failures import env_hint


def ok(name: str, found: str) -> Check:
    return Check(name, "ok", found)


def warn(name: str, found: str, fix: str) -> Check:
    return Check(name, "warn", found, fix)


def fail(name: str, found: str, fix: str, code: int) -> Check:
    return Check(name, "fail", found, fix, code)


def skipped(names: tuple[str, ...] | list[str], why: str) -> list[Check]:
    return [Check(name, "skip", why) for name in names]


def login_shell(noise: str) -> Check:
    name = "login shell"
    if not noise:
        return ok(name, "prints nothing")
    first = noise.strip().splitlines()[0][:80]
    return warn(
        name,
        f"login scripts print {first!r} ({len(noise)} bytes)",
        "remotebook copes, but rsync and scp can break: print only in interactive shells (`case $- in *i*) ...; esac` in ~/.bashrc / ~/.profile)",
    )


def python(data: Mapping[str, Any]) -> Check:
    name = "remote python"
    if data.get("env_error"):
        kind, _, message = str(data["env_error"]).partition(": ")
        return fail(name, f"the profile's environment: {message}", env_hint(kind) or "check the profile", EXIT_REMOTE)
    if not data.get("python"):
        return fail(name, "no python3 on the PATH of a login shell", env_hint("no_python"), EXIT_REMOTE)
    return ok(name, f"{data['python']} {data.get('python_version', '')}".strip())


def jupyter(data: Mapping[str, Any], app: str) -> Check:
    name = "Jupyter"
    versions = str(data.get("versions", "")).split()
    if not data.get("jupyter") and (not versions or versions == ["none"]):
        return fail(name, "no jupyter on the PATH of a login shell", env_hint("no_jupyter"), EXIT_REMOTE)
    if len(versions) != 4:
        return fail(
            name,
            f"{data.get('jupyter') or 'its python'} has no jupyter_server",
            env_hint("no_jupyter_server"),
            EXIT_REMOTE,
        )
    server, has_app, sock, kernels = versions
    where = f"jupyter_server {server} ({data.get('jupyter') or data.get('python')})"
    if has_app != "yes":
        return fail(name, f"{where}, but the {app} app is missing", env_hint("no_app"), EXIT_REMOTE)
    detail = f"{where}, {app}, kernels over {'IPC' if kernels == 'ipc' else 'TCP'}"
    if sock != "sock":
        return warn(
            name,
            detail + ", no --sock",
            "upgrade to jupyter_server 1.15+: without --sock the server listens on a TCP port other users of the host can reach (the token still guards it)",
        )
    return ok(name, detail + ", --sock")


def remote_dir(data: Mapping[str, Any]) -> Check:
    name = "remote_dir writable"
    root = str(data.get("root", ""))
    risk = str(data.get("root_risk", ""))
    if risk and data.get("root_ok") != "yes":
        return fail(
            name,
            f"{root} {risk}",
            'give the project a folder of its own (remote_dir = "~/NAME"), or approve it with `remotebook trust`',
            EXIT_UNTRUSTED,
        )
    if risk:
        return warn(name, f"{root} {risk}", "you chose it; sync push never sends start-up files there")
    if data.get("root_writable") != "yes":
        return fail(
            name,
            f"{root} is not writable" if data.get("root_exists") == "yes" else f"{root} cannot be created",
            "choose a remote_dir you can write to (remote_dir in remotebook.toml)",
            EXIT_REMOTE,
        )
    return ok(name, root if data.get("root_exists") == "yes" else f"{root} (will be created)")


LOW_DISK_KB = 1024 * 1024


def disk(data: Mapping[str, Any]) -> Check:
    name = "disk and quota"
    fields = str(data.get("disk", "")).split()
    quota = str(data.get("quota", "")).strip()
    if len(fields) < 6 or not fields[3].isdigit():
        return warn(name, "df gave no answer", "check `df -h` there")
    free_kb, mount = int(fields[3]), fields[5]
    found = f"{free_kb / 1024 / 1024:.1f} GiB free on {mount}"
    if quota:
        return warn(name, f"{found}; quota: {quota[:120]}", "free some space: Jupyter cannot save notebooks over quota")
    if free_kb < LOW_DISK_KB:
        return warn(name, found, "free some space: saving notebooks and installing kernels needs room")
    return ok(name, found)


def rsync_both(local: str, data: Mapping[str, Any]) -> Check:
    """local: the local version, or the reason there is none."""
    from remotebook.sync.rsync_text import parse_version

    name = "rsync"
    remote_text = str(data.get("rsync", ""))
    version = parse_version(remote_text)
    if not remote_text:
        return fail(
            name,
            f"local {local}; none on the remote",
            "install rsync on the server (`apt install rsync`); `remotebook sync` needs it there",
            EXIT_SYNC,
        )
    if not local[:1].isdigit():
        return fail(
            name,
            f"local: {local}; remote {remote_text}",
            "install rsync 3.2.4+ here (apt install rsync / brew install rsync)",
            EXIT_SYNC,
        )
    shown = ".".join(map(str, version)) if version else remote_text[:40]
    return ok(name, f"local {local}, remote {shown}")


def linger(data: Mapping[str, Any]) -> Check:
    name = "systemd linger"
    if data.get("kill_user_processes") != "b true":
        return ok(name, "not needed: this host keeps processes after logout")
    if data.get("linger") == "yes":
        return ok(name, "on (KillUserProcesses=yes on this host)")
    return warn(
        name,
        "off, and this host stops your processes at logout (KillUserProcesses=yes)",
        "run `loginctl enable-linger` there once, or Jupyter ends with your last ssh session",
    )


SKEW_WARN = 30.0


def clock(remote_now: Any, local_mid: float) -> Check:
    name = "clock"
    if not isinstance(remote_now, int):
        return warn(name, "the remote gave no time", "check `date` there")
    skew = remote_now - local_mid
    found = (
        f"the remote is {abs(skew):.0f} s {'ahead' if skew > 0 else 'behind'}"
        if abs(skew) >= 2
        else "in step (within 2 s)"
    )
    if abs(skew) > SKEW_WARN:
        return warn(name, found, "enable NTP on both sides: sync decides by modification times")
    return ok(name, found)


def slurm(data: Mapping[str, Any]) -> Check:
    missing = [cmd for cmd in ("sbatch", "squeue") if not data.get(cmd)]
    if missing:
        return fail(
            "Slurm",
            f"no {' or '.join(missing)} in a login shell",
            "load Slurm in the profile's setup (`module load slurm`), or use the login node",
            EXIT_REMOTE,
        )
    return ok("Slurm", f"sbatch {data['sbatch']}, squeue {data['squeue']}")


def remote_checks(
    answer: remote.Answer, *, app: str, local_rsync: str, local_mid: float, uses_slurm: bool
) -> list[Check]:
    """Everything doctor.sh answered, judged (the forwarding checks come from the probes)."""
    data = answer.data
    checks = [
        login_shell(answer.noise),
        python(data),
        jupyter(data, app),
        remote_dir(data),
        disk(data),
        rsync_both(local_rsync, data),
        linger(data),
        clock(data.get("now"), local_mid),
    ]
    return checks + ([slurm(data)] if uses_slurm else [])
