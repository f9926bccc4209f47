"""A real two-node Slurm on one machine, on top of the remote-host harness (see ../shared/TESTING.md).

The harness's namespace is the *login node*: its sshd is where remotebook connects, and
slurmctld runs there. A second namespace is the *compute node*: its own veth pair to the
login namespace (10.A.B.1 on the login side, 10.A.B.2 on the node), its own hostname (a UTS
namespace, so jobs see `hostname` = NODE), slurmd and an sshd of its own. Nothing in the
root namespace reaches the node (an `unreachable` route for its subnet): a tunnel to the
node has to cross the login node, as on a real cluster.

Machine-wide state it touches, only under the harness's machine lock: munged (started if
none runs, stopped if it started it) and /etc/slurm/slurm.conf (written, then removed),
which every user's sbatch/squeue reads. `stop()` leaves no daemon, namespace or route.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.remote_host import (
    JUPYTER_USER,
    OTHER_USER,
    HarnessError,
    HarnessUnavailable,
    RemoteHost,
    _keygen,
    _pick_subnet,
    _poll_until,
    _pub_key_body,
    _run,
    _tail,
    _write,
)

NODE = "rbnode1"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
SLURM_USERS = (JUPYTER_USER, OTHER_USER)
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_UNREACHABLE_METRIC = "4000"


@dataclass
class SlurmCluster:
    """A login node (the harness's namespace) and one compute node; see the module docstring."""

    host: RemoteHost
    workdir: Path
    netns: str = ""
    login_address: str = ""  # the login namespace's end of the node link
    node_address: str = ""
    login_veth: str = ""
    node_veth: str = ""
    node_host_pub: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_munge: bool = False
    _stopped: bool = False

    # ---- running things ----------------------------------------------------

    def on_login(self, argv: list[str], user: str = JUPYTER_USER, timeout: float = 30.0) -> str:
        """Run a Slurm client command as `user` on the login node; its stdout (HarnessError if it failed)."""
        out = self.host.run_as(user, argv, timeout=timeout)
        if out.returncode != 0:
            raise HarnessError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def jobs(self, user: str = JUPYTER_USER) -> list[str]:
        """`squeue` lines (id state name) of `user`'s live jobs."""
        out = self.on_login(["squeue", "-h", "-u", user, "-o", "%i %T %j"])
        return [line for line in out.splitlines() if line.strip()]

    def node_processes(self, user: str = JUPYTER_USER) -> list[str]:
        """`user`'s processes that run on the compute node (in its network namespace)."""
        pids = _run(["ip", "netns", "pids", self.netns], check=False).stdout.split()
        uid = pwd.getpwnam(user).pw_uid
        found = []
        for pid in pids:
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
        return found

    def set_node_ssh(self, allowed: bool) -> None:
        """Let users ssh to the node (as pam_slurm_adopt does for nodes of their jobs), or refuse them."""
        self._stop_proc("sshd")
        self._start_node_sshd(allowed)

    def write_user_files(self) -> None:
        """The cluster side of the user's ~/.ssh (a shared home): a key for node hops, the node's host key.

        The harness's reset() rewrites authorized_keys and wipes the rest; call this after it.
        """
        pw = pwd.getpwnam(JUPYTER_USER)
        ssh_dir = Path(pw.pw_dir) / ".ssh"
        key = ssh_dir / "id_ed25519"
        pub = _keygen(key, "remotebook-harness cluster key")
        for path in (key, key.with_name(key.name + ".pub")):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        with (ssh_dir / "authorized_keys").open("a") as f:
            f.write(pub + "\n")
        _write(ssh_dir / "known_hosts", f"{NODE},{self.node_address} {self.node_host_pub}\n", 0o600, pw)
        # Node names resolve on a real cluster; here the user's ssh config says where the node is.
        _write(ssh_dir / "config", f"Host {NODE}\n    HostName {self.node_address}\n", 0o600, pw)

    def cancel_all(self) -> None:
        """scancel every test user's job and wait (bounded) until none is left."""
        for user in SLURM_USERS:
            self.host.run_as("root", ["scancel", "-u", user], timeout=15)

        def empty() -> bool:
            return not any(self.jobs(u) for u in SLURM_USERS)

        if not _poll_until(empty, _STOP_TIMEOUT, interval=0.2):
            raise HarnessError(f"jobs left after scancel: {[self.jobs(u) for u in SLURM_USERS]}")

    # ---- start and stop ----------------------------------------------------

    def start(self) -> None:
        self._link()
        self._munge()
        self.node_host_pub = _pub_key_body(_keygen(self.workdir / "node_host_key", "rbnode1 host key"))
        _write(SLURM_CONF, self._slurm_conf(), 0o644)
        self.procs["slurmctld"] = self._spawn("slurmctld", self._in_login(["/usr/sbin/slurmctld", "-D"]))
        self.procs["slurmd"] = self._spawn("slurmd", self._in_node(["/usr/sbin/slurmd", "-D", "-N", NODE]))
        self._start_node_sshd(True)
        if not _poll_until(self._node_idle, _START_TIMEOUT, interval=0.2):
            raise HarnessError(
                f"the node did not become idle in {_START_TIMEOUT:.0f}s\n"
                f"--- slurmctld ---\n{_tail(self.workdir / 'slurmctld.log')}\n"
                f"--- slurmd ---\n{_tail(self.workdir / 'slurmd.log')}"
            )

    def stop(self) -> None:
        """Daemons, namespace, route and slurm.conf go; never raises (it may run on a half-started cluster)."""
        if self._stopped:
            return
        self._stopped = True
        for name in ("sshd", "slurmd", "slurmctld"):
            with contextlib.suppress(Exception):
                self._stop_proc(name)
        if self.started_munge:
            with contextlib.suppress(Exception):
                pid = int(Path("/run/munge/munged.pid").read_text().strip())
                os.kill(pid, signal.SIGTERM)
                _poll_until(lambda: not Path(f"/proc/{pid}").exists(), _STOP_TIMEOUT)
        if self.netns:
            from tests.harness.remote_host import _delete_namespace

            _delete_namespace(self.netns)
        if self.node_address:
            subnet = self.node_address.rsplit(".", 1)[0] + ".0/24"
            _run(["ip", "route", "del", "unreachable", subnet, "metric", _UNREACHABLE_METRIC], check=False)
        SLURM_CONF.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _link(self) -> None:
        assert self.host.netns is not None
        x, y = _pick_subnet()
        token = secrets.token_hex(3)
        self.netns = f"rbn-{os.getpid()}-{token}"
        self.login_address, self.node_address = f"10.{x}.{y}.1", f"10.{x}.{y}.2"
        self.login_veth, self.node_veth = f"rbn{token}l", f"rbn{token}n"
        login = ["ip", "netns", "exec", self.host.netns]
        node = ["ip", "netns", "exec", self.netns]
        # First: nothing meant for the node may leave the machine by the root namespace's default route.
        _run(["ip", "route", "add", "unreachable", f"10.{x}.{y}.0/24", "metric", _UNREACHABLE_METRIC])
        for argv in (
            ["ip", "netns", "add", self.netns],
            ["ip", "link", "add", self.login_veth, "type", "veth", "peer", "name", self.node_veth],
            ["ip", "link", "set", self.login_veth, "netns", self.host.netns],
            ["ip", "link", "set", self.node_veth, "netns", self.netns],
            [*login, "ip", "addr", "add", f"{self.login_address}/24", "dev", self.login_veth],
            [*login, "ip", "link", "set", self.login_veth, "up"],
            [*node, "ip", "addr", "add", f"{self.node_address}/24", "dev", self.node_veth],
            [*node, "ip", "link", "set", self.node_veth, "up"],
            [*node, "ip", "link", "set", "lo", "up"],
            # The node reaches the login node's sshd address (10.X.Y.2 of the harness) through it.
            [*node, "ip", "route", "add", "default", "via", self.login_address],
        ):
            _run(argv)

    def _munge(self) -> None:
        if MUNGE_SOCKET.exists() and _run(["munge", "-n"], check=False).returncode == 0:
            return  # a munged runs already (another test tool's): use it
        for folder in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            _run(["chown", "munge:munge", folder])
        _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"])
        self.started_munge = True
        if not _poll_until(lambda: _run(["munge", "-n"], check=False).returncode == 0, _START_TIMEOUT):
            raise HarnessError("munged did not start")

    def _in_login(self, argv: list[str]) -> list[str]:
        assert self.host.netns is not None
        return ["nsenter", f"--net=/var/run/netns/{self.host.netns}", *argv]

    def _in_node(self, argv: list[str]) -> list[str]:
        # nsenter, not `ip netns exec`: that mounts a /sys without the cgroups slurmd reads.
        script = f'hostname {NODE} && exec "$@"'
        return ["nsenter", f"--net=/var/run/netns/{self.netns}", "unshare", "--uts", "sh", "-c", script, "sh", *argv]

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.stderr", "wb") as err:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)

    def _start_node_sshd(self, allowed: bool) -> None:
        config = self.workdir / "node_sshd.conf"
        users = JUPYTER_USER if allowed else "nobody-here"
        _write(
            config,
            f"ListenAddress {self.node_address}\nPort 22\nHostKey {self.workdir / 'node_host_key'}\n"
            f"PidFile {self.workdir / 'node_sshd.pid'}\nAuthorizedKeysFile .ssh/authorized_keys\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"UsePAM no\nPermitRootLogin no\nAllowUsers {users}\nAllowStreamLocalForwarding yes\n"
            # sshd also refuses unix-socket forwarding when AllowTcpForwarding is off (OpenSSH 9.2)
            "AllowTcpForwarding yes\nX11Forwarding no\nPrintMotd no\nLogLevel VERBOSE\n",
            0o600,
        )
        log = self.workdir / "node_sshd.log"
        self.procs["sshd"] = self._spawn(
            "sshd", self._in_node(["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(log)])
        )
        ok = _poll_until(lambda: f"Server listening on {self.node_address}" in _tail(log, 50), _START_TIMEOUT)
        if not ok:
            raise HarnessError(f"the node's sshd did not start:\n{_tail(log)}")

    def _stop_proc(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=_STOP_TIMEOUT)

    def _node_idle(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise HarnessError(f"{name} exited: {_tail(self.workdir / f'{name}.stderr')}")
        out = self.host.run_as(JUPYTER_USER, ["sinfo", "-h", "-n", NODE, "-o", "%t"], timeout=10)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _slurm_conf(self) -> str:
        hostname = _run(["hostname", "-s"]).stdout.strip()
        d = self.workdir
        return f"""\
# remotebook test harness: a login node ({hostname}) and one compute node ({NODE})
ClusterName=rbtest
SlurmctldHost={hostname}({self.login_address})
AuthType=auth/munge
SlurmUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={NODE} NodeAddr={self.node_address} CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=2:00:00 State=UP
"""


def start_slurm(host: RemoteHost) -> SlurmCluster:
    """Start the cluster on a netns harness host; HarnessUnavailable if this machine cannot."""
    missing = [
        p
        for p in ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch")
        if not os.access(p, os.X_OK)
    ]
    if missing:
        raise HarnessUnavailable(f"missing {', '.join(missing)}: run `bash tests/harness/setup.sh` as root")
    if host.netns is None:
        raise HarnessUnavailable("the Slurm cluster needs the harness in a network namespace")
    # Not under pytest's 0700 tmp dirs: jobs run as the test user and must traverse the spool's parents.
    workdir = Path(tempfile.mkdtemp(prefix="rbslurm-", dir="/tmp"))
    os.chmod(workdir, 0o755)  # noqa: S103 - see above: jobs must traverse it
    for sub in ("state", "spool"):
        (workdir / sub).mkdir(exist_ok=True)
    cluster = SlurmCluster(host, workdir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    cluster.write_user_files()
    return cluster
