"""TOML profiles (project file found upward, then the user file) -> a frozen, validated Profile."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remotebook.core.errors import ConfigError, UntrustedError
from remotebook.local import trust

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PROJECT_FILE = "remotebook.toml"
APPS = ("lab", "notebook")
FIX_HINT = "fix it in that file; `remotebook init` writes a commented example"
TRANSPORTS = ("auto", "unix", "tcp")
SCHEDULERS = ("none", "slurm")
NODE_TUNNELS = ("auto", "node-ssh", "tcp")


@dataclass(frozen=True)
class SlurmOptions:
    """`[profiles.NAME.slurm]`: what the batch job asks for, and how long to wait in the queue."""

    partition: str = ""
    time: str = ""  # sbatch --time: "2:00:00", "90", "1-00:00:00"
    gres: str = ""  # "gpu:1"
    cpus: int | None = None  # --cpus-per-task
    mem: str = ""  # "16G"
    account: str = ""
    qos: str = ""
    constraint: str = ""
    extra_args: tuple[str, ...] = ()  # more sbatch arguments, each one argument (never split by a shell)
    queue_timeout: int = 3600  # seconds `up` waits for the job to start; then it cancels it
    tunnel: str = "auto"  # how the tunnel reaches the node: auto (node-ssh), node-ssh, tcp
    warn_before: int = 600  # seconds before the job's walltime ends that up, the supervisor and status warn
    allow_tcp: bool = False  # tunnel = "auto" may fall back to a TCP port on the node that other users can reach

    def sbatch_args(self) -> tuple[str, ...]:
        named = (
            ("--partition", self.partition),
            ("--time", self.time),
            ("--gres", self.gres),
            ("--cpus-per-task", "" if self.cpus is None else str(self.cpus)),
            ("--mem", self.mem),
            ("--account", self.account),
            ("--qos", self.qos),
            ("--constraint", self.constraint),
        )
        return (*(f"{flag}={value}" for flag, value in named if value), *self.extra_args)


_SLURM_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "partition": (str, "a string (a partition name)"),
    "time": (str, 'a string (sbatch --time, e.g. "2:00:00")'),
    "gres": (str, 'a string (sbatch --gres, e.g. "gpu:1")'),
    "cpus": (int, "an integer from 1 (sbatch --cpus-per-task)"),
    "mem": (str, 'a string (sbatch --mem, e.g. "16G")'),
    "account": (str, "a string (sbatch --account)"),
    "qos": (str, "a string (sbatch --qos)"),
    "constraint": (str, "a string (sbatch --constraint)"),
    "extra_args": (list, "a list of strings (sbatch arguments, one per item)"),
    "queue_timeout": ((int, str), 'seconds, or a duration like "90m", "2h"'),
    "tunnel": (str, "one of: " + ", ".join(NODE_TUNNELS)),
    "allow_tcp": (bool, "true or false (may auto fall back to a TCP port on the node)"),
    "warn_before": ((int, str), 'seconds, or a duration like "10m" (a warning that long before the walltime)'),
}


@dataclass(frozen=True)
class Profile:
    name: str  # the profile name, or the ssh destination when no profile matched
    host: str  # an ssh destination: host, user@host, or an alias from ssh config
    remote_dir: str  # the notebook root on the remote; ~ means the remote home
    app: str = "lab"
    local_port: int | None = None
    jupyter: str = ""  # path of the jupyter executable on the remote
    venv: str = ""  # a venv on the remote whose bin/ holds jupyter
    conda_env: str = ""
    setup: tuple[str, ...] = ()  # shell commands run first on the remote (e.g. module load)
    jupyter_args: tuple[str, ...] = ()
    ssh_config: str = ""  # passed as `ssh -F`
    transport: str = "auto"  # unix socket when Jupyter supports it, else tcp on 127.0.0.1
    start_timeout: float = 60.0
    idle_timeout: int = 0  # seconds; 0 = never: Jupyter culls idle kernels, then shuts down
    exclude: tuple[str, ...] = ()  # rsync patterns never pushed or pulled
    pull: tuple[str, ...] = ()  # what `sync pull` brings back, besides notebooks
    scheduler: str = "none"  # "slurm": the server runs in a batch job on a compute node
    durable_outputs: bool = False  # browser cells run on the server, which saves what they print (durable.py)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    source: str = ""  # which file defined it, for messages
    project_dir: Path = field(default=Path("."), compare=False)
    # remote_dir is the user's choice: set in their own config.toml, or in a project file they approved
    # (`trust` named its risk). Else the remote scripts refuse one that is the account's (local/roots.py).
    remote_dir_chosen: bool = field(default=False, compare=False)

    def root_values(self) -> dict[str, str]:
        """remote_dir for a remote script, and whether it may be the home or a settings folder."""
        return {"ROOT": self.remote_dir, "ROOT_OK": "yes" if self.remote_dir_chosen else "no"}


@dataclass(frozen=True)
class Config:
    profiles: dict[str, dict[str, Any]]  # raw, validated tables by name
    sources: dict[str, str]  # profile name -> file that defined it
    default: str
    project_dir: Path  # where remotebook.toml is, or the current directory
    files: tuple[Path, ...]
    unapproved: dict[str, str] = field(default_factory=dict)  # file -> "new" or "changed": command keys refused


_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "host": (str, "a string (ssh destination)"),
    "remote_dir": (str, "a string (path on the remote)"),
    "app": (str, "one of: " + ", ".join(APPS)),
    "local_port": (int, "an integer from 1 to 65535"),
    "jupyter": (str, "a string (path of jupyter on the remote)"),
    "venv": (str, "a string (path of a venv on the remote)"),
    "conda_env": (str, "a string (name of a conda env)"),
    "setup": ((str, list), "a string or a list of strings (shell commands)"),
    "jupyter_args": (list, "a list of strings"),
    "ssh_config": (str, "a string (path of an ssh config file)"),
    "transport": (str, "one of: " + ", ".join(TRANSPORTS)),
    "start_timeout": ((int, float), "a number of seconds"),
    "idle_timeout": ((int, str), 'seconds, or a duration like "90m", "2h", "1d"'),
    "exclude": (list, "a list of strings (rsync patterns)"),
    "pull": (list, "a list of strings (paths in the project)"),
    "scheduler": (str, "one of: " + ", ".join(SCHEDULERS)),
    "slurm": (dict, "a table (`[profiles.NAME.slurm]`)"),
    "durable_outputs": (bool, "true or false"),
}


def find_project_file(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def load(cwd: Path, user_file: Path, approved: Mapping[str, str] | None = None) -> Config:
    """Read the user file, then the project file (whose profiles win on a name clash).

    Both must be yours and writable only by you (else UntrustedError). The user file is
    trusted; the project file's command keys count only if `approved` (real path ->
    sha256, from trust.approvals) pins its current content, else resolve() refuses them.
    """
    project_file = find_project_file(cwd)
    profiles: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    unapproved: dict[str, str] = {}
    default = ""
    files = []
    user_real = Path(os.path.realpath(user_file))
    for path in (user_file, project_file):
        if path is None or not path.is_file():
            continue
        files.append(path)
        checked, file_default, tables = read(path)
        if path == project_file and checked.real != user_real:
            verdict = trust.verdict(approved or {}, checked)
            if verdict != "approved":
                unapproved[str(path)] = verdict
        default = file_default or default
        for name, table in tables.items():
            profiles[name] = table
            sources[name] = str(path)
    project_dir = project_file.parent if project_file else cwd
    return Config(profiles, sources, default, project_dir, tuple(files), unapproved)


def read(path: Path) -> tuple[trust.Checked, str, dict[str, dict[str, Any]]]:
    """One config file, judged (owner, mode), parsed and validated: (what was read, default, tables)."""
    try:
        checked = trust.read_owned(path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}", hint=FIX_HINT) from None
    try:
        data = tomllib.loads(checked.data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{path}: not valid TOML: {e}", hint="fix the file or run `remotebook init` for a template"
        ) from None
    return (checked, *_validate_file(data, path))


def _validate_file(data: dict[str, Any], path: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    for key in data:
        if key not in ("default", "profiles"):
            raise ConfigError(
                f"{path}: unknown key `{key}` (expected `default` or `[profiles.NAME]` tables)", hint=FIX_HINT
            )
    default = data.get("default", "")
    if not isinstance(default, str):
        raise ConfigError(f"{path}: `default` must be a string (a profile name)", hint=FIX_HINT)
    tables = data.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: `profiles` must be a table of `[profiles.NAME]` tables", hint=FIX_HINT)
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: `profiles.{name}` must be a table", hint=FIX_HINT)
        for key, value in table.items():
            _validate_key(path, f"profiles.{name}.{key}", key, value)
    return default, tables


def _validate_key(path: Path, where: str, key: str, value: Any, known: dict[str, Any] | None = None) -> None:
    known = _KEYS if known is None else known
    if key not in known:
        raise ConfigError(f"{path}: unknown key `{where}` (known: {', '.join(sorted(known))})", hint=FIX_HINT)
    types, expected = known[key]
    ok = isinstance(value, types) and (types is bool or not isinstance(value, bool))  # true is not the integer 1
    if ok and known is _SLURM_KEYS:
        ok = _slurm_value_ok(key, value)
    elif ok and key == "slurm":
        for inner, item in value.items():
            _validate_key(path, f"{where}.{inner}", inner, item, _SLURM_KEYS)
    elif ok and key == "scheduler":
        ok = value in SCHEDULERS
    elif ok and key == "app":
        ok = value in APPS
    elif ok and key == "transport":
        ok = value in TRANSPORTS
    elif ok and key == "local_port":
        ok = 1 <= value <= 65535
    elif ok and key == "start_timeout":
        ok = 0 < value <= 3600
    elif ok and key == "idle_timeout":
        ok = parse_duration(value) is not None
    elif ok and isinstance(value, list):
        ok = all(isinstance(item, str) for item in value)
    if not ok:
        raise ConfigError(f"{path}: `{where}` must be {expected}, not {value!r}", hint=FIX_HINT)


def _slurm_value_ok(key: str, value: Any) -> bool:
    if key == "tunnel":
        return value in NODE_TUNNELS
    if key == "cpus":
        return bool(value >= 1)
    if key in ("queue_timeout", "warn_before"):
        return parse_duration(value) is not None
    if key == "extra_args":
        return all(isinstance(item, str) for item in value)
    return True


def _slurm_options(table: dict[str, Any]) -> SlurmOptions:
    table = dict(table)
    queue = parse_duration(table.pop("queue_timeout", SlurmOptions.queue_timeout))
    warn = parse_duration(table.pop("warn_before", SlurmOptions.warn_before))
    return SlurmOptions(
        extra_args=tuple(table.pop("extra_args", ())),
        queue_timeout=SlurmOptions.queue_timeout if queue is None else queue,
        warn_before=SlurmOptions.warn_before if warn is None else warn,
        **table,
    )


def resolve(config: Config, target: str | None, ssh_config_override: str = "") -> Profile:
    """The profile for TARGET: a profile name, else an ssh destination with defaults."""
    name = target or config.default or _only_profile(config)
    if not name:
        raise ConfigError(
            "no target given and no default profile",
            hint="run `remotebook up HOST`, or `remotebook init` to write a remotebook.toml",
        )
    table = dict(config.profiles.get(name, {}))
    _require_approval(config, name, table, ssh_config_override)
    source = config.sources.get(name, "")
    chosen = "remote_dir" in table and bool(source) and source not in config.unapproved
    setup = table.pop("setup", ())
    idle = parse_duration(table.pop("idle_timeout", 0)) or 0
    ssh_config = ssh_config_override or table.pop("ssh_config", "")
    table.pop("ssh_config", None)
    profile = Profile(
        name=name,
        host=table.pop("host", name),
        remote_dir=table.pop("remote_dir", "~/" + project_name(config.project_dir)),
        setup=(setup,) if isinstance(setup, str) else tuple(setup),
        jupyter_args=tuple(table.pop("jupyter_args", ())),
        exclude=tuple(table.pop("exclude", ())),
        pull=tuple(table.pop("pull", ())),
        slurm=_slurm_options(table.pop("slurm", {})),
        ssh_config=os.path.expanduser(ssh_config) if ssh_config else "",
        source=config.sources.get(name, ""),
        project_dir=config.project_dir,
        idle_timeout=idle,
        remote_dir_chosen=chosen,
        **table,
    )
    problem = host_problem(profile.host)
    if problem:
        raise ConfigError(f"host `{profile.host}` {problem}", hint="give an ssh destination like user@host")
    return profile


def host_problem(host: str) -> str:
    """Why `host` cannot be an ssh destination here, or ""."""
    if host.startswith("-"):
        return "cannot start with '-'"
    if _SHELL_CHARS.search(host):
        # ssh puts the destination into %h/%r of ProxyCommand and Match exec, which a shell runs
        # (OpenSSH < 9.6 does not refuse such names itself): a data key must not become a command.
        return "contains a character no ssh destination has (quotes, $, ;, |, spaces, ...)"
    return ""


_SHELL_CHARS = re.compile(r"[\s'`\"$\\;&<>|(){}\x00-\x1f\x7f]")


def _require_approval(config: Config, name: str, table: dict[str, Any], ssh_config_override: str) -> None:
    """An unapproved project file's command keys, and its data keys with a risky value, are refused."""
    source = config.sources.get(name, "")
    if source not in config.unapproved:
        return
    changed = config.unapproved[source] == "changed"
    status = "it changed since you approved it" if changed else "it is not approved"
    hint = f"review {'the change' if changed else 'it'}, then run `remotebook trust`"
    keys = trust.command_keys(table, ssh_config_override)
    if keys:
        raise UntrustedError(f"{source} sets {', '.join(keys)}, which run commands; {status}", hint=hint)
    risky = trust.risky_data(table)  # remote_dir at home or in ~/.ssh, transport = "tcp"
    if risky:
        key, why = risky[0]
        raise UntrustedError(
            f"{source} sets {key} = {table[key]!r}, which {why}; {status}",
            hint=hint + ', or give the project a folder of its own (remote_dir = "~/NAME")'
            if key == "remote_dir"
            else hint,
        )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> int | None:
    """Seconds from 3600, "3600", "90m", "2h" or "1d"; None if it is none of those (or negative)."""
    if isinstance(value, int):
        return value if value >= 0 else None
    text = value.strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    if not number.isdigit():
        return None
    return int(number) * (unit or 1)


def _only_profile(config: Config) -> str:
    return next(iter(config.profiles)) if len(config.profiles) == 1 else ""


def project_name(folder: Path) -> str:
    name = folder.resolve().name
    return name if name not in ("", "/") else "remotebook"


def kernel_name(folder: Path) -> str:
    """This project's kernel (and env) on the remote: `rb-` + the folder's name as Jupyter allows it."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", project_name(folder).lower()).strip("-.")
    return "rb-" + (slug or "project")
