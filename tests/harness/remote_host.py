"""A throwaway "remote host" for remotebook's integration tests and demos.

`start_remote_host()` runs real OpenSSH servers, by default inside a fresh
network namespace (its own 10.X.Y.2 address and its own loopback), with a few
unix users that model the remote machines remotebook meets in practice:

* ``rbtest``  - Jupyter on PATH, but only for login shells (``~/.profile``);
* ``rbbare``  - Debian's python3, no Jupyter;
* ``rbnopy``  - a handful of POSIX tools and no python at all;
* ``rbother`` - never logs in; a second local user for permission checks.

It writes a client ssh config with one Host alias per scenario (happy path,
wrong host key, unauthorized key, refused port, unknown host, forwarding
disabled).  Everything it creates lives under the caller's ``workdir``, except
the users and their homes, which are shared machine state (so only one harness
per machine should run at a time).  Nothing is downloaded or installed here:
missing prerequisites raise `HarnessUnavailable` pointing at setup.sh.

Needs root (namespaces, useradd, runuser).  Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

HARNESS_PREFIX = Path("/opt/remotebook-harness")
JUPYTER_VENV = HARNESS_PREFIX / "jupyter-venv"
SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
SETUP_HINT = "run `bash tests/harness/setup.sh` as root"
# Debian's Lmod (setup.sh installs it): its /etc/profile.d/lmod.sh gives every login shell `module`.
LMOD_CMD = Path("/usr/share/lmod/lmod/libexec/lmod")

JUPYTER_USER = "rbtest"
BARE_USER = "rbbare"
NOPY_USER = "rbnopy"
OTHER_USER = "rbother"
SSH_USERS: tuple[str, ...] = (JUPYTER_USER, BARE_USER, NOPY_USER)
ALL_USERS: tuple[str, ...] = SSH_USERS + (OTHER_USER,)

# rbnopy's whole PATH.  `bash` is added to the brief's POSIX list because it is
# that user's login shell: a host whose login shell is bash has bash on PATH,
# and `ssh rbnopy 'bash -lc ...'` must behave like on such a host.
MINBIN_TOOLS: tuple[str, ...] = (
    "sh", "bash", "mkdir", "rm", "cat", "chmod", "ls", "sleep", "date", "cksum",
    "ps", "kill", "head", "tail", "sed", "awk", "tr", "id", "hostname", "setsid",
    "nohup", "env", "dirname", "basename", "mktemp", "mv", "wc", "grep", "cut",
    "printf", "test", "true", "false", "readlink", "uname",
)  # fmt: skip

_NETNS_RE = re.compile(r"^rbh-(\d+)-[0-9a-f]+$")
_NOFWD_PORT_IN_NETNS = 2222
_REFUSED_PORT_IN_NETNS = 2  # nothing listens there inside a fresh namespace
_SSHD_READY_TIMEOUT = 10.0
_KILL_TIMEOUT = 5.0


class HarnessUnavailable(Exception):
    """This machine cannot run the harness (not root, sshd or venv missing...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HarnessError(RuntimeError):
    """The harness was available but failed to start or reset."""


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _poll_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Return True as soon as `predicate()` holds, False once `timeout` s passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _run(
    argv: Sequence[str | os.PathLike[str]], *, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a short root-side command, raising HarnessError with its stderr on failure."""
    proc = subprocess.run(
        [os.fspath(a) for a in argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise HarnessError(
            f"{' '.join(map(str, argv))} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _write(path: Path, text: str, mode: int = 0o644, owner: pwd.struct_passwd | None = None) -> None:
    path.write_text(text)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _free_tcp_port() -> int:
    # Tiny race (the port could be taken before sshd binds it); the readiness
    # check below notices because sshd then exits with "Cannot bind".
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> str:
    """Make a fresh ed25519 key pair at `path`; return the public key line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)  # ssh-keygen would prompt to overwrite
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
    return path.with_name(path.name + ".pub").read_text().strip()


def _pub_key_body(pub_line: str) -> str:
    """'ssh-ed25519 AAAA... comment' -> 'ssh-ed25519 AAAA...' (known_hosts form)."""
    return " ".join(pub_line.split()[:2])


# ---- /proc scanning: precise process lists without depending on pgrep's output --


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _live_pids_of_uids(uids: Iterable[int]) -> list[int]:
    """Pids owned (real uid) by `uids`, ignoring zombies (already dead, only unreaped)."""
    wanted = {str(u) for u in uids}
    found = []
    for pid in _all_pids():
        st = _proc_status(pid)
        if st and st.get("Uid", "").split()[0] in wanted and not st.get("State", "").startswith("Z"):
            found.append(pid)
    return found


def _descendants(roots: Iterable[int]) -> list[int]:
    """All live descendants of `roots` (sshd session processes, their shells...)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        ppid = _proc_status(pid).get("PPid")
        if ppid is not None:
            children.setdefault(int(ppid), []).append(pid)
    out: list[int] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    st = _proc_status(pid)
    return bool(st) and not st.get("State", "").startswith("Z")


def _kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


# --------------------------------------------------------------------------
# the host
# --------------------------------------------------------------------------


@dataclass
class _Sshd:
    name: str
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes]


@dataclass
class RemoteHost:
    """A running throwaway remote; see the module docstring.  Stop it with stop()."""

    workdir: Path
    netns: str | None  # namespace name, None with netns=False
    address: str  # where the main sshd listens (10.X.Y.2 or 127.0.0.1)
    port: int  # main sshd port
    nofwd_port: int  # second sshd: AllowTcpForwarding/AllowStreamLocalForwarding no
    refused_port: int  # nothing listens at address:refused_port
    host_veth: str | None = None  # root-namespace end of the veth pair
    ns_veth: str | None = None
    host_address: str | None = None  # 10.X.Y.1, the test side of the veth
    ssh_config: Path = Path()
    known_hosts: Path = Path()
    aliases: dict[str, str] = field(default_factory=dict)
    identities: dict[str, Path] = field(default_factory=dict)  # user -> private key
    _sshds: list[_Sshd] = field(default_factory=list)
    _stopped: bool = False

    # ---- context manager -------------------------------------------------

    def __enter__(self) -> RemoteHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- queries ---------------------------------------------------------

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def ps(self, include_zombies: bool = False) -> str:
        """`ps -eo user,pid,ppid,args`, untruncated (tests grep argv for tokens).

        Zombies are dropped by default: this machine's pid 1 reaps orphans
        lazily, so an exited session can linger as "[sshd] <defunct>" for a
        few seconds although nothing of it runs any more. So is a process that
        is gone by the time its line is checked (a zombie reaped in between).
        """
        lines = _run(["ps", "-ww", "-eo", "user,pid,ppid,args"]).stdout.splitlines(keepends=True)
        if include_zombies:
            return "".join(lines)
        return "".join(line for i, line in enumerate(lines) if i == 0 or _alive(int(line.split()[1])))

    def describe(self) -> dict[str, object]:
        """JSON-friendly summary, printed by `python -m tests.harness up`."""
        return {
            "ssh_config": str(self.ssh_config),
            "aliases": self.aliases,
            "address": self.address,
            "port": self.port,
            "netns": self.netns,
            "workdir": str(self.workdir),
        }

    # ---- running things "on the remote" ----------------------------------

    def wrap(self, argv: Sequence[str], user: str | None = None) -> list[str]:
        """Prefix `argv` so it runs inside the namespace (and as `user` if given).

        For tests that need a long-running process (Popen) rather than run_as().
        """
        cmd = list(argv)
        if user is not None:
            cmd = ["/usr/sbin/runuser", "-u", user, "--", *cmd]
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return cmd

    def user_env(self, user: str) -> dict[str, str]:
        """A minimal environment for `user`: nothing of root's (pyenv PATH...) leaks."""
        home = str(self.home(user))
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": user,
            "LOGNAME": user,
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
        }

    def run_as(self, user: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run `argv` as unix `user` inside the namespace; capture text output.

        On timeout the whole process group is killed (runuser alone would leave
        the user's process behind) and subprocess.TimeoutExpired is raised.
        """
        proc = subprocess.Popen(
            self.wrap(argv, user),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            cwd=self.home(user),
            env=self.user_env(user),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_process_group(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def in_sshd_mounts(self, argv: Sequence[str]) -> list[str]:
        """Prefix argv so it runs in the sshd's mount namespace (`ip netns exec` gave it its own):
        a filesystem mounted there is what remote sessions see."""
        if self.netns is None:
            return list(argv)
        return ["nsenter", "-t", str(self._sshds[0].proc.pid), "-m", "--", *argv]

    def restart_sshd(self) -> None:
        """Stop the main sshd and every session it has (connections drop), then start it again."""
        main = self._sshds[0]
        _stop_listeners([main.proc] if main.proc.poll() is None else [])
        self._sshds.remove(main)
        fresh = _start_sshd(self, main.name, main.port, forwarding=True)
        self._sshds.insert(0, self._sshds.pop())  # keep the main sshd first
        _wait_sshd_ready(self, fresh)

    def set_link(self, up: bool) -> None:
        """Take the test side of the veth down/up: a network drop or a laptop sleeping."""
        if self.host_veth is None:
            raise HarnessError("set_link needs netns=True")
        _run(["ip", "link", "set", self.host_veth, "up" if up else "down"])

    def set_address(self, present: bool) -> None:
        """Remove or add back the laptop's address on the test side of the veth (the link stays up):
        a network change, as when Wi-Fi gives way to Ethernet or a DHCP lease ends."""
        if self.host_veth is None or self.host_address is None:
            raise HarnessError("set_address needs netns=True")
        _run(["ip", "addr", "add" if present else "del", f"{self.host_address}/24", "dev", self.host_veth])

    def has_address(self) -> bool:
        if self.host_veth is None or self.host_address is None:
            return False
        shown = _run(["ip", "-4", "-o", "addr", "show", "dev", self.host_veth], check=False).stdout
        return f" {self.host_address}/" in shown

    def bin_without(self, user: str, tools: Iterable[str]) -> Path:
        """A dir in `user`'s home linking every command of the default PATH but `tools`.

        Point the user's PATH at it (in ~/.profile) to stand for a slim image without them,
        e.g. a container without procps; reset() removes it with the rest of the home.
        """
        pw = pwd.getpwnam(user)
        folder = Path(pw.pw_dir) / ("bin-without-" + "-".join(sorted(tools)))
        folder.mkdir()
        left_out = set(tools)
        for directory in ("/usr/local/bin", "/usr/bin", "/bin"):  # PATH order: the first of a name wins
            for entry in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
                link = folder / entry.name
                if entry.name not in left_out and not link.is_symlink() and os.access(entry, os.X_OK):
                    link.symlink_to(entry)
        os.lchown(folder, pw.pw_uid, pw.pw_gid)
        return folder

    def add_modulefile(self, user: str, name: str, lua: str) -> Path:
        """A Lmod modulefile ~/modulefiles/NAME.lua, on the user's MODULEPATH in login shells.

        As users do it (`module use` in their ~/.profile): only a login shell that set up
        Lmod knows the module. reset() removes both with the rest of the home.
        """
        pw = pwd.getpwnam(user)
        home = Path(pw.pw_dir)
        path = home / "modulefiles" / f"{name}.lua"
        for folder in reversed(path.relative_to(home).parents[:-1]):  # modulefiles, then its subdirs
            (home / folder).mkdir(exist_ok=True)
            os.chown(home / folder, pw.pw_uid, pw.pw_gid)
        _write(path, lua, 0o644, pw)
        profile = (home / ".profile").read_text()
        if "module use" not in profile:
            _write(home / ".profile", profile + 'module use "$HOME/modulefiles"\n', 0o644, pw)
        return path

    # ---- state reset -----------------------------------------------------

    def reset(self) -> None:
        """Kill every test user's process and restore their homes to the harness state."""
        _kill_users(ALL_USERS, strict=True)
        for user in ALL_USERS:
            _reset_home(user)
        _remove_shared_tmp_files(ALL_USERS)
        _write_user_files(self.identities)
        if self.host_veth is not None:
            _run(["ip", "link", "set", self.host_veth, "up"])  # a test may have left it down
            if not self.has_address():  # ... or its address removed
                self.set_address(True)

    def stop(self) -> None:
        """Stop sshds, kill remote users' processes, delete the namespace.

        Idempotent and never raises: it may run on a half-started host.
        """
        if self._stopped:
            return
        self._stopped = True
        steps: list[tuple[str, Callable[[], None]]] = [
            ("stop sshd", self._stop_sshds),
            ("kill user processes", lambda: _kill_users(ALL_USERS, strict=False)),
            ("delete namespace", self._delete_netns),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - stop() must finish every step
                log.warning("remote host stop: %s failed: %s", what, exc)

    def _stop_sshds(self) -> None:
        sessions = _stop_listeners([s.proc for s in self._sshds if s.proc.poll() is None])
        if not _poll_until(lambda: not any(_alive(pid) for pid in sessions), _KILL_TIMEOUT):
            log.warning(
                "remote host stop: sshd session processes still alive: %s", [pid for pid in sessions if _alive(pid)]
            )

    def _delete_netns(self) -> None:
        if self.netns is None:
            return
        _delete_namespace(self.netns)
        if self.host_address is not None:
            subnet = self.host_address.rsplit(".", 1)[0] + ".0/24"
            _run(["ip", "route", "del", "unreachable", subnet, "metric", _UNREACHABLE_METRIC], check=False)
        if self.host_veth is not None:
            # The veth pair goes away with the namespace, asynchronously.
            veth = self.host_veth
            gone = _poll_until(lambda: _run(["ip", "link", "show", veth], check=False).returncode != 0, _KILL_TIMEOUT)
            if not gone:
                _run(["ip", "link", "del", veth], check=False)


# --------------------------------------------------------------------------
# process / user / namespace plumbing
# --------------------------------------------------------------------------


def _stop_listeners(listeners: list[subprocess.Popen[bytes]]) -> list[int]:
    """TERM (then KILL) sshd listeners and kill their sessions; returns the session pids."""
    # Collect session processes first: once a listener dies its children are
    # reparented to init and no longer findable as "ours".
    sessions = _descendants(p.pid for p in listeners)
    for p in listeners:
        p.terminate()
    for p in listeners:
        try:
            p.wait(timeout=_KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=_KILL_TIMEOUT)
    _kill_all(sessions)
    return sessions


def _kill_process_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _kill_users(users: Sequence[str], *, strict: bool) -> None:
    """SIGKILL every process of `users` until none is left (bounded)."""
    uids = [pwd.getpwnam(u).pw_uid for u in users if _user_exists(u)]
    if not uids:
        return

    def all_dead() -> bool:
        # Kill inside the poll: a process may fork between two scans.
        pids = _live_pids_of_uids(uids)
        _kill_all(pids)
        return not pids

    if not _poll_until(all_dead, _KILL_TIMEOUT):
        left = _live_pids_of_uids(uids)
        msg = f"processes of {', '.join(users)} survived SIGKILL: {left}"
        if strict:
            raise HarnessError(msg)
        log.warning("remote host: %s", msg)


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def _ensure_user(user: str) -> pwd.struct_passwd:
    if not _user_exists(user):
        _run(["useradd", "-m", "-s", "/bin/bash", user])
    # useradd leaves the account locked ("!"), which a UsePAM=no sshd refuses;
    # "*" = no password but not locked.
    _run(["usermod", "-p", "*", user])
    pw = pwd.getpwnam(user)
    # Traversable homes, as on many shared clusters: then it is the mode of
    # remotebook's own files/sockets that keeps rbother out, which is what the
    # tests want to check (a 0700 home would hide a too-open socket).
    os.chmod(pw.pw_dir, 0o755)  # noqa: S103 - deliberate, see above
    return pw


def _reset_home(user: str) -> None:
    """Empty `user`'s home; _write_user_files() then puts the harness files back.

    Wiping everything (not only ~/.remotebook) also undoes a test's edits to
    .profile or ~/.ssh, and removes ~/.local, ~/.jupyter, ~/.cache...
    """
    home = Path(pwd.getpwnam(user).pw_dir)
    for entry in home.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _remove_shared_tmp_files(users: Sequence[str]) -> None:
    """Remove top-level entries of /tmp and /dev/shm owned by the test users.

    /tmp is shared with the namespace: a remote-side temp file would otherwise
    leak from one test into the next.
    """
    uids = {pwd.getpwnam(u).pw_uid for u in users if _user_exists(u)}
    for base in (Path("/tmp"), Path("/dev/shm")):
        try:
            entries = list(base.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.lstat()
                if st.st_uid not in uids:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except FileNotFoundError:
                pass


_PROFILE_HEAD = "# Written by remotebook's test harness (tests/harness/remote_host.py).\n"


def _profile_for(user: str, home: Path) -> str:
    """~/.profile per user.  Only login shells read it, which is the point."""
    sourcing_bashrc = 'if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then\n    . "$HOME/.bashrc"\nfi\n'
    if user == JUPYTER_USER:
        # Like `conda init`/module setups: Jupyter only for login shells.
        return _PROFILE_HEAD + sourcing_bashrc + f'PATH="{JUPYTER_VENV}/bin:$PATH"\nexport PATH\n'
    if user == NOPY_USER:
        return _PROFILE_HEAD + sourcing_bashrc + f'PATH="{home}/minbin"\nexport PATH\n'
    return _PROFILE_HEAD + sourcing_bashrc


def _write_minbin(pw: pwd.struct_passwd) -> None:
    minbin = Path(pw.pw_dir) / "minbin"
    if minbin.exists():
        shutil.rmtree(minbin)
    minbin.mkdir()
    system_path = "/usr/local/bin:/usr/bin:/bin"
    for tool in MINBIN_TOOLS:
        # shutil.which finds real binaries (/usr/bin/kill, /usr/bin/test) even
        # for names that are also shell builtins.
        target = shutil.which(tool, path=system_path)
        if target is not None:
            (minbin / tool).symlink_to(target)
    os.chown(minbin, pw.pw_uid, pw.pw_gid)
    for link in minbin.iterdir():
        os.lchown(link, pw.pw_uid, pw.pw_gid)


def _write_user_files(identities: Mapping[str, Path]) -> None:
    """(Re)write the harness-owned dotfiles, authorized_keys and minbin of every user."""
    for user in ALL_USERS:
        pw = pwd.getpwnam(user)
        home = Path(pw.pw_dir)
        for skel in (".bashrc", ".bash_logout"):
            if Path("/etc/skel", skel).is_file():
                shutil.copyfile(Path("/etc/skel", skel), home / skel)
                os.chown(home / skel, pw.pw_uid, pw.pw_gid)
        _write(home / ".profile", _profile_for(user, home), 0o644, pw)
        ssh_dir = home / ".ssh"
        if ssh_dir.is_symlink() or ssh_dir.is_file():
            ssh_dir.unlink()
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(ssh_dir, 0o700)
        os.chown(ssh_dir, pw.pw_uid, pw.pw_gid)
        key = identities.get(user)
        # sshd reads authorized_keys as the target user: owned by it, mode 600.
        _write(
            ssh_dir / "authorized_keys", "" if key is None else key.with_name(key.name + ".pub").read_text(), 0o600, pw
        )
        if user == NOPY_USER:
            _write_minbin(pw)


def _namespace_exists(name: str) -> bool:
    listing = _run(["ip", "netns", "list"], check=False).stdout
    return any(line.split()[0] == name for line in listing.splitlines() if line.strip())


def _delete_namespace(name: str) -> None:
    """Kill whatever still runs in namespace `name`, then delete it.

    `ip netns del` only drops the mount; the namespace (and its veth) lives on
    while a process is inside it, so the processes go first.
    """
    if not _namespace_exists(name):
        return

    def empty() -> bool:
        pids = [int(p) for p in _run(["ip", "netns", "pids", name], check=False).stdout.split()]
        _kill_all(pids)
        return not [p for p in pids if _alive(p)]

    if not _poll_until(empty, _KILL_TIMEOUT):
        log.warning("remote host: processes still in namespace %s", name)
    _run(["ip", "netns", "del", name], check=False)


def _reap_stale_namespaces() -> None:
    """Delete harness namespaces whose creating process is dead (a crashed run)."""
    listing = _run(["ip", "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = _NETNS_RE.match(name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        log.warning("remote host: removing stale namespace %s", name)
        _delete_namespace(name)


def _pick_subnet() -> tuple[int, int]:
    """A 10.X.Y.0/24 not used by any address or route of this machine."""
    used = _run(["ip", "-4", "-o", "addr", "show"]).stdout + _run(["ip", "-4", "route", "show", "table", "all"]).stdout
    rng = random.SystemRandom()
    for _ in range(200):
        x, y = rng.randint(100, 254), rng.randint(0, 255)
        if f"10.{x}.{y}." not in used:
            return x, y
    raise HarnessError("no free 10.X.Y.0/24 subnet found")


_UNREACHABLE_METRIC = "4000"  # below the kernel's own route for the subnet (metric 0), which wins while it exists


def _create_netns(host: RemoteHost, x: int, y: int) -> None:
    ns, a, b = host.netns, host.host_veth, host.ns_veth
    assert ns is not None and a is not None and b is not None
    try:
        _run(["ip", "netns", "add", ns])
    except HarnessError as exc:
        raise HarnessUnavailable(
            f"cannot create a network namespace here ({exc}); use netns=False "
            "(REMOTEBOOK_HARNESS_NETNS=0 for pytest, `up --no-netns` for the CLI)"
        ) from exc
    steps: list[list[str]] = [
        ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
        ["ip", "link", "set", b, "netns", ns],
        ["ip", "addr", "add", f"10.{x}.{y}.1/24", "dev", a],
        ["ip", "link", "set", a, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"10.{x}.{y}.2/24", "dev", b],
        ["ip", "netns", "exec", ns, "ip", "link", "set", b, "up"],
        # The namespace's own loopback: Jupyter may bind 127.0.0.1 "on the remote".
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
        # With the veth down or the laptop address removed, the subnet's route goes and a
        # connection would leave by the default route: it fails here at once instead, the
        # way a laptop with no network says "No route to host".
        ["ip", "route", "add", "unreachable", f"10.{x}.{y}.0/24", "metric", _UNREACHABLE_METRIC],
    ]
    for argv in steps:
        _run(argv)


# --------------------------------------------------------------------------
# sshd and client config
# --------------------------------------------------------------------------


def _sshd_config(host: RemoteHost, name: str, port: int, forwarding: bool, password: bool = False) -> str:
    yes_no = "yes" if forwarding else "no"
    nopy_home = pwd.getpwnam(NOPY_USER).pw_dir
    return f"""\
# remotebook test harness: sshd "{name}"
ListenAddress {host.address}
Port {port}
HostKey {host.workdir / "sshd" / "host_ed25519"}
PidFile {host.workdir / "sshd" / f"{name}.pid"}
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication {"yes" if password else "no"}
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {" ".join(SSH_USERS)}
AllowTcpForwarding {yes_no}
AllowStreamLocalForwarding {yes_no}
X11Forwarding no
PrintMotd no
PrintLastLog no
# Tests open many sessions quickly, some multiplexed over one ControlMaster.
MaxStartups 100:30:200
MaxSessions 64
LogLevel VERBOSE
Subsystem sftp {SFTP_SERVER}

# A python-less host has no python on the default PATH either: without this a
# non-login `ssh rbnopy python3` would find Debian's /usr/bin/python3.
Match User {NOPY_USER}
    SetEnv PATH={nopy_home}/minbin
"""


def _start_sshd(host: RemoteHost, name: str, port: int, forwarding: bool, password: bool = False) -> _Sshd:
    sshd_dir = host.workdir / "sshd"
    config = sshd_dir / f"{name}.conf"
    _write(config, _sshd_config(host, name, port, forwarding, password), 0o600)
    logfile = host.workdir / "logs" / f"sshd-{name}.log"
    stderr_path = host.workdir / "logs" / f"sshd-{name}.stderr"
    # sshd re-execs itself for each connection: it needs its absolute path.
    argv = host.wrap([str(SSHD), "-D", "-f", str(config), "-E", str(logfile)])
    with open(stderr_path, "wb") as err:
        # Own session: Ctrl-C in a demo's terminal must not kill sshd behind stop()'s back.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
    sshd = _Sshd(name, port, config, logfile, proc)
    host._sshds.append(sshd)
    return sshd


def _sshd_answers(address: str, port: int) -> bool:
    """True once something on address:port sends an SSH banner."""
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            s.settimeout(1.0)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _wait_sshd_ready(host: RemoteHost, sshd: _Sshd) -> None:
    def ready() -> bool:
        if sshd.proc.poll() is not None:
            return True  # exited: stop polling, reported below
        return _sshd_answers(host.address, sshd.port)

    _poll_until(ready, _SSHD_READY_TIMEOUT, interval=0.01)
    exited = sshd.proc.poll()
    if exited is None and _sshd_answers(host.address, sshd.port):
        return
    stderr = (host.workdir / "logs" / f"sshd-{sshd.name}.stderr").read_text(errors="replace")
    state = (
        f"exited with {exited}"
        if exited is not None
        else f"not answering on {host.address}:{sshd.port} after {_SSHD_READY_TIMEOUT:.0f} s"
    )
    raise HarnessError(
        f"sshd {sshd.name!r} {state}\n--- {sshd.log} (tail) ---\n{_tail(sshd.log)}\n--- stderr ---\n{stderr.strip()}"
    )


def _known_host_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _write_client_config(host: RemoteHost, host_pub: str, wrong_pub: str, noauth_key: Path) -> None:
    """Write known_hosts files and the ssh client config with the scenario aliases."""
    key = _pub_key_body(host_pub)
    host.known_hosts = host.workdir / "known_hosts"
    _write(
        host.known_hosts,
        f"{_known_host_name(host.address, host.port)} {key}\n{_known_host_name(host.address, host.nofwd_port)} {key}\n",
        0o600,
    )
    bad_known_hosts = host.workdir / "known_hosts_badkey"
    _write(bad_known_hosts, f"{_known_host_name(host.address, host.port)} {_pub_key_body(wrong_pub)}\n", 0o600)

    ids = host.identities
    # alias -> (description, HostName, Port, User, IdentityFile, extra lines)
    table: list[tuple[str, str, str, int, str, Path, list[str]]] = [
        (
            "rbremote",
            "rbtest: login-shell Jupyter (the happy path)",
            host.address,
            host.port,
            JUPYTER_USER,
            ids[JUPYTER_USER],
            [],
        ),
        ("rbbare", "rbbare: python3 but no Jupyter", host.address, host.port, BARE_USER, ids[BARE_USER], []),
        (
            "rbnopy",
            "rbnopy: basic POSIX tools, no python at all",
            host.address,
            host.port,
            NOPY_USER,
            ids[NOPY_USER],
            [],
        ),
        (
            "rbbadkey",
            "rbtest, but known_hosts holds a different host key (mismatch)",
            host.address,
            host.port,
            JUPYTER_USER,
            ids[JUPYTER_USER],
            [f"UserKnownHostsFile {bad_known_hosts}"],
        ),
        (
            "rbnoauth",
            "rbtest with an identity that is not authorized",
            host.address,
            host.port,
            JUPYTER_USER,
            noauth_key,
            [],
        ),
        (
            "rbrefused",
            "nothing listens there: connection refused",
            host.address,
            host.refused_port,
            JUPYTER_USER,
            ids[JUPYTER_USER],
            [],
        ),
        (
            "rbunknown",
            "HostName does not resolve (no-such-host.invalid)",
            "no-such-host.invalid",
            22,
            JUPYTER_USER,
            ids[JUPYTER_USER],
            [],
        ),
        (
            "rbnofwd",
            "rbtest on an sshd with TCP and unix-socket forwarding disabled",
            host.address,
            host.nofwd_port,
            JUPYTER_USER,
            ids[JUPYTER_USER],
            [],
        ),
    ]
    blocks = ["# remotebook test harness: client config (use with ssh -F)\n"]
    for alias, desc, hostname, port, user, identity, extra in table:
        host.aliases[alias] = desc
        lines = [
            f"Host {alias}",
            f"    # {desc}",
            f"    HostName {hostname}",
            f"    Port {port}",
            f"    User {user}",
            f"    IdentityFile {identity}",
            *(f"    {e}" for e in extra),
        ]
        blocks.append("\n".join(lines) + "\n")
    # ssh uses the first value it finds for each option, so the per-alias
    # overrides above must come before these defaults.
    blocks.append(f"""Host *
    StrictHostKeyChecking yes
    BatchMode yes
    UserKnownHostsFile {host.known_hosts}
    GlobalKnownHostsFile /dev/null
    UpdateHostKeys no
    IdentitiesOnly yes
    ConnectTimeout 10
""")
    host.ssh_config = host.workdir / "ssh_config"
    # ssh rejects a config writable by others.
    _write(host.ssh_config, "\n".join(blocks), 0o600)


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------


def _check_prerequisites(netns: bool) -> None:
    if os.geteuid() != 0:
        raise HarnessUnavailable("the remote-host harness needs root (users, sshd, namespaces)")
    missing = [str(p) for p in (SSHD, SFTP_SERVER, JUPYTER_VENV / "bin" / "jupyter") if not os.access(p, os.X_OK)]
    tools = ["ssh", "ssh-keygen", "runuser", "useradd", "usermod", "ps"] + (["ip"] if netns else [])
    missing += [t for t in tools if shutil.which(t) is None]
    if missing:
        raise HarnessUnavailable(f"missing {', '.join(missing)}: {SETUP_HINT}")


def _new_host(workdir: Path, netns: bool) -> RemoteHost:
    if not netns:
        return RemoteHost(
            workdir=workdir,
            netns=None,
            address="127.0.0.1",
            port=_free_tcp_port(),
            nofwd_port=_free_tcp_port(),
            refused_port=_free_tcp_port(),
        )
    x, y = _pick_subnet()
    token = secrets.token_hex(3)
    return RemoteHost(
        workdir=workdir,
        netns=f"rbh-{os.getpid()}-{token}",
        address=f"10.{x}.{y}.2",
        port=22,
        nofwd_port=_NOFWD_PORT_IN_NETNS,
        refused_port=_REFUSED_PORT_IN_NETNS,
        # <= 15 chars (IFNAMSIZ); random so parallel runs do not collide.
        host_veth=f"rbh{token}h",
        ns_veth=f"rbh{token}r",
        host_address=f"10.{x}.{y}.1",
    )


def start_remote_host(workdir: Path, *, netns: bool = True) -> RemoteHost:
    """Start a throwaway remote: sshds, test users, keys, client ssh config.

    Raises HarnessUnavailable if this machine lacks a prerequisite, HarnessError
    if starting failed (with the sshd log tail).  Call stop() (or use `with`).
    """
    _check_prerequisites(netns)
    workdir = Path(workdir).resolve()
    for sub in ("keys", "sshd", "logs"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)  # private keys live here
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    if netns:
        _reap_stale_namespaces()

    host = _new_host(workdir, netns)
    try:
        _populate(host, workdir)
    except BaseException:
        host.stop()
        raise
    return host


def _populate(host: RemoteHost, workdir: Path) -> None:
    keys = workdir / "keys"
    for user in ALL_USERS:
        _ensure_user(user)
    _kill_users(ALL_USERS, strict=True)  # leftovers of an earlier run
    for user in ALL_USERS:
        _reset_home(user)
    _remove_shared_tmp_files(ALL_USERS)
    host.identities = {u: keys / f"id_{u}" for u in SSH_USERS}
    for user, path in host.identities.items():
        _keygen(path, f"remotebook-harness {user}")
    _keygen(keys / "id_unauthorized", "remotebook-harness not authorized")
    host_pub = _keygen(workdir / "sshd" / "host_ed25519", "remotebook-harness host key")
    wrong_pub = _keygen(keys / "wrong_host_key", "remotebook-harness wrong host key")
    _write_user_files(host.identities)
    _write_client_config(host, host_pub, wrong_pub, keys / "id_unauthorized")

    if host.netns is not None:
        x, y = (int(p) for p in host.address.split(".")[1:3])
        _create_netns(host, x, y)
    # Start both sshds before waiting, so their start-ups overlap.
    main = _start_sshd(host, "main", host.port, forwarding=True)
    nofwd = _start_sshd(host, "nofwd", host.nofwd_port, forwarding=False)
    _wait_sshd_ready(host, main)
    _wait_sshd_ready(host, nofwd)
    _write(workdir / "harness.json", json.dumps(host.describe(), indent=2) + "\n", 0o600)


# --------------------------------------------------------------------------
# a password login, for the tests of `remotebook init` installing a key
# --------------------------------------------------------------------------

_PASSWORD_PORT_IN_NETNS = 2223


@dataclass(frozen=True)
class PasswordLogin:
    """An sshd that also takes passwords, and the known_hosts line for it."""

    address: str
    port: int
    user: str
    password: str
    known_hosts_line: str


@contextlib.contextmanager
def password_login(host: RemoteHost, user: str = JUPYTER_USER) -> Iterator[PasswordLogin]:
    """A third sshd with `PasswordAuthentication yes` (UsePAM stays off: sshd checks /etc/shadow) and a
    random password for `user`, both undone after the block; the main sshds keep refusing passwords."""
    port = _PASSWORD_PORT_IN_NETNS if host.netns is not None else _free_tcp_port()
    password = secrets.token_urlsafe(12)
    proc = subprocess.run(["chpasswd"], input=f"{user}:{password}\n", capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise HarnessError(f"chpasswd failed: {proc.stderr.strip()}")
    sshd = None
    try:
        sshd = _start_sshd(host, "password", port, forwarding=True, password=True)
        _wait_sshd_ready(host, sshd)
        host_pub = (host.workdir / "sshd" / "host_ed25519.pub").read_text()
        line = f"{_known_host_name(host.address, port)} {_pub_key_body(host_pub)}\n"
        yield PasswordLogin(host.address, port, user, password, line)
    finally:
        _run(["usermod", "-p", "*", user], check=False)  # back to "no password, not locked"
        if sshd is not None and sshd in host._sshds:
            _stop_listeners([sshd.proc] if sshd.proc.poll() is None else [])
            host._sshds.remove(sshd)
