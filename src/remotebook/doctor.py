"""`doctor`: what stands between this computer and a working server, checked in order, screen-free.

One ssh connection (BatchMode: a check never prompts) runs remote/doctor.sh, which answers
every remote question in one JSON; the judging is here, in pure functions of that answer,
so each can be tested against recorded answers. A host that cannot be reached marks every
later check skipped: they were not run, so they did not fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from remotebook import proc, remote, ssh
from remotebook.errors import EXIT_REMOTE, EXIT_SSH, EXIT_SYNC, EXIT_TUNNEL, EXIT_UNTRUSTED, RemotebookError, SSHError
from remotebook.remote.failures import env_hint
from remotebook.reports import Check, DoctorReport

CONNECT_TIMEOUT = 5.0  # the TCP probe; ssh's own (batch) is ConnectTimeout=5 too
SCRIPT_TIMEOUT = 8.0  # doctor.sh itself: a few light commands
PROBE_TIMEOUT = 5.0  # one `ssh -W` through the master
PERSIST = "15"  # a master doctor makes lingers this long, unless doctor closes it
ORDER = (
    "ssh reachable",
    "host key known",
    "authentication",
    "multiplexing",
    "TCP forwarding",
    "unix-socket forwarding",
    "login shell",
    "remote python",
    "Jupyter",
    "remote_dir writable",
    "disk and quota",
    "rsync",
    "systemd linger",
    "clock",
)
CONNECT_KINDS = ("unresolved", "refused", "timeout", "no_route")  # ssh's failure kinds that mean "not reached"


def ok(name: str, found: str) -> Check:
    return Check(name, "ok", found)


def warn(name: str, found: str, fix: str) -> Check:
    return Check(name, "warn", found, fix)


def fail(name: str, found: str, fix: str, code: int) -> Check:
    return Check(name, "fail", found, fix, code)


def skipped(names: tuple[str, ...] | list[str], why: str) -> list[Check]:
    return [Check(name, "skip", why) for name in names]


# ---- the connection: reachable, host key, authentication --------------------------------


def reachable(target: ssh.Target) -> Check:
    """A TCP connection that gets an SSH banner, unless ssh reaches the host through a proxy (then ssh decides)."""
    name = "ssh reachable"
    via = target.options.get("proxyjump") or target.options.get("proxycommand")
    if via and via != "none":
        return ok(name, f"through {via} (decided by the connection below)")
    where = f"{target.hostname}:{target.port}"
    try:
        with socket.create_connection((target.hostname, target.port), timeout=CONNECT_TIMEOUT) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            banner = sock.recv(256).decode("ascii", "replace").strip()
    except socket.gaierror:
        return fail(
            name,
            f"cannot resolve {target.hostname}",
            "check the spelling, HostName in your ssh config, or your VPN",
            EXIT_SSH,
        )
    except TimeoutError:
        return fail(
            name,
            f"no answer from {where} within {CONNECT_TIMEOUT:.0f} s",
            "is the host up, and the VPN or firewall open?",
            EXIT_SSH,
        )
    except OSError as e:
        return fail(
            name, f"{where}: {e.strerror or e}", f"check the host and port (`ssh -G {target.destination}`)", EXIT_SSH
        )
    if not banner.startswith("SSH-"):
        return fail(name, f"{where} answers, but not as an ssh server ({banner[:40]!r})", "check the port", EXIT_SSH)
    return ok(name, f"{where} ({banner})")


def host_key(target: ssh.Target, connection: SSHError | None) -> Check:
    name = "host key known"
    if connection is not None and connection.kind == "host_key_changed":
        return fail(name, "the host key does NOT match your known_hosts", connection.hint, EXIT_SSH)
    known = ssh.known_host(target)
    if connection is not None and connection.kind == "host_key_unknown":
        return fail(
            name,
            "not in your known_hosts",
            f"connect once with `ssh {target.destination}`, check the fingerprint and accept it",
            EXIT_SSH,
        )
    if known:
        return ok(name, "in known_hosts")
    strict = target.options.get("stricthostkeychecking", "ask")
    return warn(
        name,
        f"not found in known_hosts (StrictHostKeyChecking {strict}: ssh accepted it)",
        "make sure it is the host you mean: `ssh-keygen -lF HOST`",
    )


def authentication(target: ssh.Target, connection: SSHError | None) -> Check:
    name = "authentication"
    if connection is None:
        return ok(name, f"logged in as {target.user or 'you'} without a prompt")
    if connection.kind == "auth":
        return fail(
            name,
            "no key or agent identity is accepted (a password alone is not enough here)",
            "run `remotebook init` to make a key and install it, or check `ssh -v " + target.destination + "`",
            EXIT_SSH,
        )
    return fail(name, connection.message, connection.hint, EXIT_SSH)


# ---- the master and its forwards --------------------------------------------------------


def multiplexing(target: ssh.Target, reused: int | None) -> Check:
    name = "multiplexing"
    pid = ssh.master_pid(target)
    if pid is None:
        return fail(
            name,
            "ssh kept no control master",
            "the control dir must be on a local filesystem; check ControlPath/ControlMaster in your ssh config",
            EXIT_SSH,
        )
    return ok(name, f"one master (pid {pid}) carries every command" + (" (already running)" if reused else ""))


def through_forward(target: ssh.Target, endpoint: str) -> tuple[str, str]:
    """Forward a free local port to ENDPOINT over the master, as `up` does, and read the listener's greeting.

    (what came through, what the master logged meanwhile): sshd refuses a channel only
    when one opens, so a forward that was added is no proof until a connection crosses it.
    """
    from remotebook import tunnel

    spec = tunnel.forward_spec(tunnel.free_port(), endpoint)
    offset = target.log_size()
    try:
        ssh.forward(target, spec)
    except RemotebookError as e:
        return "", e.message
    try:
        with socket.create_connection((tunnel.LOOPBACK, int(spec.split(":")[1])), timeout=PROBE_TIMEOUT) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            got = sock.recv(64).decode("ascii", "replace")
    except OSError as e:
        got = f"({e})"
    finally:
        ssh.cancel(target, spec)
    return got, target.log_since(offset)


def forwarding(name: str, probe: tuple[str, str] | None) -> Check:
    """What a connection through a forward to the doctor's listener got: its greeting, a refusal, or an error."""
    if probe is None:
        return Check(name, "skip", "no python on the remote to listen with")
    got, master_log = probe
    if "remotebook-doctor" in got:
        return ok(name, "allowed (a test connection went through)")
    tcp = name.startswith("TCP")
    if "administratively prohibited" in master_log or "open failed" in master_log:
        what = "AllowTcpForwarding" if tcp else "AllowStreamLocalForwarding"
        fix = "ask the admin to allow forwarding for your user, or use another login node"
        if not tcp:
            fix = 'set transport = "tcp" in the profile if TCP forwarding is allowed; ' + fix
        return fail(name, f"refused by the ssh server ({what} is off for you)", fix, EXIT_TUNNEL)
    shown = (master_log.strip().splitlines() or [got or "no answer"])[-1][:200]
    return fail(
        name, f"the test connection failed: {shown}", "run `remotebook doctor -v` to see ssh's messages", EXIT_TUNNEL
    )


# ---- what doctor.sh found ---------------------------------------------------------------


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
    from remotebook.rsync_text import parse_version

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


def local_rsync_version() -> str:
    """The local rsync's version, or why there is none that will do."""
    from remotebook import rsync

    try:
        exe = rsync.local_rsync()
    except RemotebookError as e:
        return e.message
    from remotebook.rsync_text import parse_version

    version = parse_version(proc.run([exe, "--version"], timeout=10).stdout)
    return ".".join(map(str, version or ()))


def run(
    target: ssh.Target,
    values: Mapping[str, str],
    *,
    app: str,
    uses_slurm: bool = False,
    close_master: Callable[[], object] = lambda: None,
) -> tuple[list[Check], SSHError | None]:
    """The checks in ORDER (Slurm last); close_master runs when this call made the master."""
    from remotebook.remote.door import Request, call

    first = reachable(target)
    if first.status == "fail":
        return [first, *skipped(ORDER[1:], "not run: the host was not reached")], None
    reused = ssh.master_pid(target)
    before = time.time()
    connection: SSHError | None = None
    try:
        answer = call(target, Request("doctor", "check", values), timeout=SCRIPT_TIMEOUT, batch=True, persist=PERSIST)
    except SSHError as e:
        connection = e
    after = time.time()
    if connection is not None:
        if connection.kind in CONNECT_KINDS:
            first = fail("ssh reachable", connection.message, connection.hint, EXIT_SSH)
            return [first, *skipped(ORDER[1:], "not run: the host was not reached")], connection
        keys = host_key(target, connection)
        auth = (
            authentication(target, connection)
            if keys.status != "fail"
            else Check("authentication", "skip", "not run: the host key was refused")
        )
        return [first, keys, auth, *skipped(ORDER[3:], "not run: not logged in")], connection
    try:
        checks = [first, host_key(target, None), authentication(target, None), multiplexing(target, reused)]
        checks += probes(target, answer.data)
        checks += remote_checks(
            answer, app=app, local_rsync=local_rsync_version(), local_mid=(before + after) / 2, uses_slurm=uses_slurm
        )
    finally:
        if reused is None:
            close_master()
    return checks, None


def probes(target: ssh.Target, data: Mapping[str, Any]) -> list[Check]:
    """TCP and unix-socket forwarding, each proven by one connection to the doctor's listener."""
    port, sock = str(data.get("listen_port", "")), str(data.get("listen_sock", ""))
    tcp = through_forward(target, f"127.0.0.1:{port}") if port.isdigit() else None
    unix = through_forward(target, sock) if port.isdigit() and sock else None
    return [forwarding("TCP forwarding", tcp), forwarding("unix-socket forwarding", unix)]


def report(target_name: str, destination: str, checks: list[Check], started: float) -> DoctorReport:
    return DoctorReport(target_name, destination, tuple(checks), time.monotonic() - started)
