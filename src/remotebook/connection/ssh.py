"""System OpenSSH for one destination: what `ssh -G` resolves, the argv of every call, a script run through the master."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from remotebook.connection.failures import classify_failure
from remotebook.core import proc
from remotebook.core.errors import CommandError, ConfigError, SSHError, last_line

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
    return connecting(target, argv, timeout=timeout + room, input=script)


def stream_script(target: Target, script: str, *, on_line: Callable[[str], None], timeout: float) -> proc.Result:
    """Like run_script, but each line of stdout goes to on_line as it comes (follow mode); stderr is collected.

    It rides a master when one runs and never makes one (a follow outlives no `up`).
    """
    argv = target.argv("-o", "ControlMaster=no", "-T", "--", target.destination, LOGIN_SH)
    result = proc.stream(argv, input=script, on_line=on_line, timeout=timeout)
    if result.returncode == 255:
        raise classify_failure(target.destination, result.stderr)
    return result


def connecting(
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
