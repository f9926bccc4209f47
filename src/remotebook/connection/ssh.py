"""System OpenSSH with one ControlMaster per target: resolve, run, forward, cancel, check, exit."""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from remotebook.core import proc
from remotebook.core.errors import CommandError, ConfigError, SSHError, TunnelError, last_line
from remotebook.local.state import locked_file

log = logging.getLogger(__name__)

# Runs the script that arrives on stdin in a POSIX sh started from the user's *login*
# shell, so PATH set in ~/.profile (conda, module, venv) is found. csh-family shells
# cannot take `-l -c`, so they go straight to `sh -l`.
LOGIN_SH = (
    'sh -c \'case "${SHELL##*/}" in bash|zsh|ksh|mksh|dash|sh|ash|yash|fish) '
    'exec "$SHELL" -l -c "exec sh -s";; esac; exec sh -l -s\''
)

MASTER_TIMEOUT = 180.0  # room for a human to answer a password or 2FA prompt
MUX_TIMEOUT = 15.0  # a control command through a live master
BATCH_CONNECT = 15.0  # a BatchMode connection: ConnectTimeout=5, then the handshake; nobody to wait for


@dataclass(frozen=True)
class Target:
    """An ssh destination plus everything needed to reach it through our master."""

    destination: str
    config_file: str  # "" means the user's normal ~/.ssh/config
    control_path: str
    hostname: str
    user: str
    port: int
    options: dict[str, str]  # `ssh -G` output: what OpenSSH will really do

    @property
    def log_path(self) -> Path:
        """The master's own log (`ssh -E`): once it runs in the background, its stderr is gone."""
        return Path(self.control_path + ".log")

    def log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read(1_000_000).decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def argv(self, *extra: str) -> list[str]:
        """ssh argv that uses our control socket (never disables host-key checking)."""
        base = ["ssh"]
        if self.config_file:
            base += ["-F", self.config_file]
        return [*base, "-o", f"ControlPath={self.control_path}", *extra]


def parse_ssh_g(output: str) -> dict[str, str]:
    """`ssh -G` prints `key value` lines; keys are lower case. Later duplicates are kept first-wins."""
    options: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key not in options:
            options[key] = value
    return options


def resolve(destination: str, config_file: str, control_dir: Path) -> Target:
    """Ask OpenSSH what it would do for this destination (`ssh -G`); no network involved."""
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"ssh config file {config_file} does not exist", hint="fix --ssh-config / ssh_config")
    argv = ["ssh"] + (["-F", config_file] if config_file else [])
    argv += ["-G", "-o", f"ControlPath={control_dir}/cm-%C", "--", destination]
    result = proc.run(argv, timeout=MUX_TIMEOUT)
    if not result.ok:
        raise ConfigError(
            f"ssh cannot use `{destination}`: {last_line(result.stderr) or 'ssh -G failed'}",
            hint="check the destination and your ssh config",
        )
    options = parse_ssh_g(result.stdout)
    return Target(
        destination=destination,
        config_file=config_file,
        control_path=options.get("controlpath", ""),
        hostname=options.get("hostname", destination),
        user=options.get("user", ""),
        port=int(options.get("port", "22") or 22),
        options=options,
    )


def identity_files(target: Target) -> list[Path]:
    """Every key file ssh offers this destination (`ssh -G` lists one `identityfile` line each)."""
    argv = ["ssh"] + (["-F", target.config_file] if target.config_file else []) + ["-G", "--", target.destination]
    result = proc.run(argv, timeout=MUX_TIMEOUT)
    lines = (line.split(" ", 1) for line in result.stdout.splitlines()) if result.ok else iter(())
    return [Path(parts[1]).expanduser() for parts in lines if len(parts) == 2 and parts[0] == "identityfile"]


def master_alive(target: Target) -> bool:
    return master_pid(target) is not None


def master_pid(target: Target) -> int | None:
    """The pid of the live master on our control socket (`ssh -O check`), or None."""
    return mux_pid(target.control_path)


_MASTER_RUNNING = re.compile(r"Master running \(pid=(\d+)\)")


def mux_pid(control_path: str) -> int | None:
    """`ssh -O check` on a control socket alone: no ssh config is read (its Match exec never runs)."""
    if not control_path or not Path(control_path).exists():
        return None  # no socket, no master: spare the mux round trip
    argv = ["ssh", "-F", "/dev/null", "-o", f"ControlPath={control_path}", "-O", "check", "--", "remotebook"]
    result = proc.run(argv, timeout=MUX_TIMEOUT)
    return parse_check(result.stderr) if result.ok else None


def still_master(pid: int, control_path: str) -> bool:
    """Is `pid` (found by `-O check` earlier) still the live master of this control socket? /proc only, no process.

    False where /proc cannot tell (then ask `-O check` again): a recycled pid is not ours,
    since a master's argv (or its `[mux]` title) names its control path.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return control_path.encode() in cmdline and Path(control_path).exists()


def parse_check(stderr: str) -> int | None:
    """`Master running (pid=4242)` -> 4242."""
    found = _MASTER_RUNNING.search(stderr)
    return int(found.group(1)) if found else None


@contextlib.contextmanager
def host_lock(target: Target, timeout: float = MASTER_TIMEOUT + 30) -> Iterator[None]:
    """One process at a time creates or closes the master of a destination on this computer.

    Without it, two supervisors rebuilding after a drop could each make a master, and the
    second's stale-socket clean-up could unlink the first's live socket.
    """

    def busy() -> SSHError:
        return SSHError(
            f"another remotebook has been connecting to {target.destination} for {timeout:.0f}s",
            hint="answer its password prompt, or stop it",
        )

    with locked_file(Path(target.control_path + ".lock"), timeout, busy):
        yield


def ensure_master(target: Target, *, batch: bool = False) -> bool:
    """Start the ControlMaster for this destination unless one runs; True if this call made it.

    Call it holding `host_lock`. `ssh -f` returns once the master is authenticated and
    its control socket listens (OpenSSH listens before it forks), so every later call
    rides it: one handshake, one password or 2FA prompt, for every project on the host.
    """
    if master_alive(target):
        return False
    remove_stale_control_path(target)
    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] if batch else []
    extra += ["-o", "ControlMaster=yes", *master_options(target)[2:]]
    argv = target.argv(*extra, "-E", str(target.log_path), "-f", "-N", "-T", "--", target.destination)
    _connecting(target, argv, timeout=MASTER_TIMEOUT, own_exit=True)
    return True


def link_alive(target: Target, *, timeout: float) -> bool:
    """Does the master's connection still carry traffic? (`-O check` asks only the local process.)"""
    argv = target.argv("-o", "ControlMaster=no", "-o", "BatchMode=yes", "-T", "--", target.destination, "true")
    try:
        return proc.run(argv, timeout=timeout).ok
    except CommandError:
        return False


def remove_stale_control_path(target: Target) -> None:
    """A control socket left by a dead master would make ssh skip multiplexing: remove it.

    Only called when `-O check` found no master; the path is in our private runtime dir.
    """
    path = Path(target.control_path)
    if path.exists() or path.is_symlink():
        log.debug("removing stale control path %s", path)
        path.unlink(missing_ok=True)


def master_options(target: Target, persist: str = "yes") -> list[str]:
    """Options for a run that may create the master; user settings win where they exist.

    persist: ControlPersist for a master made by this run ("yes": until `-O exit`).
    """
    opts = ["-o", "ControlMaster=auto", "-o", f"ControlPersist={persist}"]
    if target.options.get("connecttimeout", "none") == "none":
        opts += ["-o", "ConnectTimeout=15"]
    if target.options.get("serveraliveinterval", "0") == "0":
        # Notice a dead link in ~45 s instead of waiting for TCP to give up.
        opts += ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
    return opts


def rsh(target: Target, persist: str) -> list[str]:
    """The ssh that rsync runs (`-e`): our control socket, and a master lingering `persist` if none runs."""
    return target.argv(*master_options(target, persist))


def run_script(
    target: Target,
    script: str,
    *,
    timeout: float,
    may_create_master: bool = True,
    batch: bool = False,
    persist: str = "yes",
) -> proc.Result:
    """Send `script` on stdin to a login sh on the remote; raise SSHError if ssh itself failed.

    Only remote.door calls this: it renders the script and reads the answer.
    """
    # For -o, OpenSSH keeps the first value it is given: batch settings go first.
    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] if batch else []
    extra += master_options(target, persist) if may_create_master else ["-o", "ControlMaster=no"]
    if may_create_master:
        # The master's messages (a refused channel, say) would go to /dev/null once it
        # backgrounds itself; -E keeps them, and this run's connection errors too.
        extra += ["-E", str(target.log_path)]
    argv = target.argv(*extra, "-T", "--", target.destination, LOGIN_SH)
    # Room for a human at a prompt; a batch connection has none, only its ConnectTimeout and a handshake.
    room = (BATCH_CONNECT if batch else MASTER_TIMEOUT) if may_create_master else 0
    return _connecting(target, argv, timeout=timeout + room, input=script)


def stream_script(target: Target, script: str, *, on_line: Callable[[str], None], timeout: float) -> proc.Result:
    """Like run_script, but each line of stdout goes to on_line as it comes (follow mode); stderr is collected.

    It rides a master when one runs and never makes one (a follow outlives no `up`).
    """
    argv = target.argv("-o", "ControlMaster=no", "-T", "--", target.destination, LOGIN_SH)
    result = proc.stream(argv, input=script, on_line=on_line, timeout=timeout)
    if result.returncode == 255:
        raise classify_failure(target.destination, result.stderr)
    return result


def _connecting(
    target: Target, argv: list[str], *, timeout: float, input: str | None = None, own_exit: bool = False
) -> proc.Result:
    """Run an ssh that may connect; its own failure (exit 255, or no end in time) becomes one SSHError.

    own_exit: the exit status is ssh's own (`-N`: no remote command), so any failure is one.
    The reason is in ssh's stderr or, for a master writing with -E, in its log since this call.
    """
    offset = target.log_size()
    try:
        result = proc.run(argv, timeout=timeout, input=input)
    except CommandError as e:
        err = SSHError(
            f"ssh to {target.destination} timed out", hint="is the host reachable? try `ssh " + target.destination + "`"
        )
        err.kind = "timeout"
        raise err from e
    if result.returncode == 255 or (own_exit and not result.ok):
        raise classify_failure(target.destination, result.stderr + target.log_since(offset))
    return result


def known_host(target: Target) -> bool | None:
    """Is the target's host key in a known_hosts file ssh reads for it? None when ssh would not say (hashed files, etc.)."""
    name = target.options.get("hostkeyalias") or target.hostname
    if target.port != 22 and not target.options.get("hostkeyalias"):
        name = f"[{name}]:{target.port}"
    files = (
        target.options.get("userknownhostsfile", "").split() + target.options.get("globalknownhostsfile", "").split()
    )
    for file in files:
        path = Path(file).expanduser()
        lookup = ["ssh-keygen", "-F", name, "-f", str(path)]
        if file != "/dev/null" and path.is_file() and proc.run(lookup, timeout=MUX_TIMEOUT).ok:
            return True
    return False if files else None


def direct_argv(target: Target, *extra: str) -> list[str]:
    """ssh argv for a connection of its own: no master of ours (nor one a user left) answers it for the host."""
    base = ["ssh"] + (["-F", target.config_file] if target.config_file else [])
    return [*base, "-o", "ControlPath=none", "-o", "ControlMaster=no", *extra]


def try_login(target: Target, identity: str = "") -> SSHError | None:
    """Can we log in without anyone typing (BatchMode)? None if so, else why not (its `kind` says what)."""
    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] + (["-i", identity] if identity else [])
    argv = direct_argv(target, *extra, "-T", "--", target.destination, "true")
    try:
        _connecting(target, argv, timeout=BATCH_CONNECT, own_exit=True)
    except SSHError as e:
        return e
    return None


# Appends the key unless that exact line is there (a second run adds nothing), after a newline if the
# file lacks its last one, in files only the user can read: what ssh-copy-id does. $1 is the key.
_INSTALL_KEY = """umask 077
mkdir -p "$HOME/.ssh" && touch "$HOME/.ssh/authorized_keys" || exit 1
keys="$HOME/.ssh/authorized_keys"
grep -qxF -- "$1" "$keys" && exit 0
if [ -s "$keys" ] && [ -n "$(tail -c 1 "$keys")" ]; then printf '\\n' >> "$keys"; fi
printf '%s\\n' "$1" >> "$keys"
"""


def install_key(target: Target, public_line: str, *, timeout: float = MASTER_TIMEOUT) -> None:
    """Add `public_line` to the remote ~/.ssh/authorized_keys over a connection that may ask a password.

    ssh asks on the terminal (or SSH_ASKPASS) itself: a password once, and an unknown host
    key's fingerprint as the user's StrictHostKeyChecking says, which is never weakened here.
    """
    # The script goes on stdin and the remote command is one line: a csh-family login shell, common
    # on clusters, cannot parse a quoted multi-line `sh -c` argument. ssh asks on /dev/tty, not stdin.
    remote = shlex.join(["sh", "-s", "--", public_line.strip()])
    argv = direct_argv(target, "-T", "--", target.destination, remote)
    result = _connecting(target, argv, timeout=timeout, input=_INSTALL_KEY)
    if not result.ok:
        raise SSHError(
            f"could not add the key to ~/.ssh/authorized_keys on {target.destination}: "
            f"{last_line(result.stderr) or f'exit {result.returncode}'}",
            hint="is the remote home writable? add the key by hand (its .pub file)",
        )


def forward(target: Target, spec: str) -> None:
    """Add a local forward (`127.0.0.1:PORT:DEST`) to the running master."""
    result = proc.run(target.argv("-O", "forward", "-L", spec, "--", target.destination), timeout=MUX_TIMEOUT)
    if not result.ok:
        raise TunnelError(
            f"ssh could not add the forward {spec.split(':', 2)[1]}: {last_line(result.stderr) or 'unknown error'}",
            hint="the local port may be in use; pick another with --port",
        )


def cancel(target: Target, spec: str) -> bool:
    result = proc.run(target.argv("-O", "cancel", "-L", spec, "--", target.destination), timeout=MUX_TIMEOUT)
    return result.ok


def exit_master(target: Target) -> bool:
    result = proc.run(target.argv("-O", "exit", "--", target.destination), timeout=MUX_TIMEOUT)
    target.log_path.unlink(missing_ok=True)
    return result.ok


# (what ssh says, the kind of failure, our message, the hint). The kind is what a supervisor
# decides on: retry (the network may come back) or give up (retrying cannot fix it).
_FAILURES = [
    (
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host_key_changed",
        "the host key of {d} does not match your known_hosts: refusing to connect",
        "if the server really was reinstalled, remove the old key with `ssh-keygen -R HOST`; otherwise someone may be intercepting the connection",
    ),
    (
        "Host key verification failed",
        "host_key_unknown",
        "host key verification failed for {d}: its key is not in your known_hosts or does not match",
        "connect once with plain `ssh {d}` to check and accept the key",
    ),
    (
        "Could not resolve hostname",
        "unresolved",
        "cannot resolve the host name of {d}",
        "check the spelling, your ssh config, or your network/VPN",
    ),
    (
        "Connection refused",
        "refused",
        "connection to {d} refused: no ssh server answers on that port",
        "check the host and port (ssh -G {d})",
    ),
    ("Permission denied", "auth", "authentication to {d} failed", "check your key/agent with `ssh {d}`"),
    (
        "Too many authentication failures",
        "auth",
        "authentication to {d} failed (too many keys offered)",
        "set IdentitiesOnly/IdentityFile for this host",
    ),
    ("timed out", "timeout", "connection to {d} timed out", "is the host up and reachable (VPN, firewall)?"),
    ("No route to host", "no_route", "no route to {d}", "check your network/VPN"),
    ("Network is unreachable", "no_route", "network unreachable while connecting to {d}", "check your network/VPN"),
]


def classify_failure(destination: str, stderr: str) -> SSHError:
    """Translate ssh's exit 255 into one line with a hint (ssh tells the reason only in prose)."""
    for needle, kind, message, hint in _FAILURES:
        if needle in stderr:
            err = SSHError(message.format(d=destination), hint=hint.format(d=destination), detail=last_line(stderr))
            err.kind = kind
            return err
    return SSHError(
        f"ssh to {destination} failed: {last_line(stderr) or 'exit 255'}",
        hint=f"try `ssh {destination}` by hand",
    )


def forward_refused(master_log: str) -> TunnelError | None:
    """Recognise sshd refusing our channel, from the master's log lines.

    A refused TCP forward says "administratively prohibited"; a refused unix-socket
    forward only says "connect failed: open failed", which is what sshd answers when
    AllowStreamLocalForwarding is off (the bootstrap already saw the socket listening).
    """
    if "administratively prohibited" in master_log:
        return TunnelError(
            "the ssh server refuses port forwarding (AllowTcpForwarding is off for you)",
            hint="ask the admin to allow forwarding for your user, or use another login node",
        )
    if "open failed: connect failed: open failed" in master_log:
        # sshd says the same for a socket nobody listens on; the bootstrap has just seen
        # Jupyter listening there, so a refusal is by far the likelier reason.
        return TunnelError(
            "the ssh server refuses to forward to Jupyter's unix socket (AllowStreamLocalForwarding is off?)",
            hint='set transport = "tcp" in the profile if the server allows TCP forwarding, or ask the admin; '
            "if Jupyter just stopped, run `remotebook up` again",
        )
    return None
