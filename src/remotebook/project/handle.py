"""One project's handle: its profile, what OpenSSH resolved for it, its state and launcher; and its hold on the shared master.

Many projects on one destination share one ssh master. A piece of work that needs it takes
a lease: the master it opened is closed again when the work fails, or when it ends and the
caller did not keep it; one that ran already, or that another project uses, stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from remotebook.connection import mux, ssh, tunnel
from remotebook.launch import base as launch
from remotebook.launch.choose import launcher_for
from remotebook.local import state
from remotebook.local.config import Profile
from remotebook.local.paths import Paths, private_dir

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    pass


@dataclass
class Session:
    """One project on one target: its profile, what OpenSSH resolved for it, and its local state."""

    paths: Paths
    profile: Profile
    target: ssh.Target
    store: state.Store
    launcher: launch.Launcher  # where and how this project's server runs
    notes: list[str] = field(default_factory=list)  # things the user should be told
    lease: Lease | None = field(default=None, repr=False)  # the outermost hold on the master, while work runs

    @classmethod
    def open(cls, paths: Paths, profile: Profile) -> Session:
        private_dir(paths.runtime_dir)
        state.drop_old_layout(paths)
        target = ssh.resolve(profile.host, profile.ssh_config, paths.runtime_dir)
        return cls(paths, profile, target, state.Store(paths, identity(profile)), launcher_for(target, profile))

    def app_path(self) -> str:
        return "/tree" if self.profile.app == "notebook" else "/lab"

    def url(self, port: int, server: launch.Server, with_token: bool = True) -> str:
        """The page to open; a server with the project's password gets no token in it: its login page asks."""
        base = server.base_url.rstrip("/")
        query = f"?token={server.token}" if with_token and not server.password else ""
        return f"http://{tunnel.LOOPBACK}:{port}{base}{self.app_path()}{query}"


def identity(profile: Profile) -> state.Identity:
    return state.Identity(
        profile=profile.name,
        project_dir=str(profile.project_dir.resolve()),
        destination=profile.host,
        ssh_config=profile.ssh_config,
    )


def master_users(session: Session) -> list[str]:
    """Other projects that use this destination's master now: their folders.

    A user is a project whose saved forward is still held by the master, or whose `up`
    (or a supervisor's reconnect) is at work right now (its lock is held).
    """
    pid = mux.master_pid(session.target)
    users = []
    for key, data in state.all_projects(session.paths):
        if key == session.store.identity.key or data.get("control_path") != session.target.control_path:
            continue
        port = data.get("local_port")
        held = bool(pid and data.get("forward") and port and tunnel.held_by_master(pid, port))
        if held or state.is_locked(state.projects_dir(session.paths) / key / state.UP_LOCK):
            users.append(str(data.get("project_dir") or data.get("target")))
    return users


def release_master(session: Session) -> list[str]:
    """Close the master unless other projects still use it; returns those projects (empty: closed)."""
    with mux.host_lock(session.target):
        others = master_users(session)
        if not others:
            mux.exit_master(session.target)
    return others


@dataclass
class Lease:
    """A piece of work's hold on the master: `keep()` once it succeeded and what follows goes on with the connection."""

    opened: bool  # no master ran when the work began: the work's own connection
    kept: bool = False

    def keep(self) -> None:
        self.kept = True


@contextmanager
def master_lease(session: Session, *, had_master: bool | None = None) -> Iterator[Lease]:
    """Hold the destination's master for the work inside; the outermost lease of a session owns it.

    On failure a master the work opened is closed (unless other projects use it by then); on
    success too, unless the caller kept it. A lease taken inside another (`up --durable` runs
    `env`) is the outer one: only the outermost caller decides. `had_master`: the caller
    knows already (saves a check).
    """
    if session.lease is not None:
        yield session.lease
        return
    if had_master is None:
        had_master = mux.master_pid(session.target) is not None
    lease = session.lease = Lease(opened=not had_master)
    try:
        yield lease
    except BaseException:
        lease.kept = False
        raise
    finally:
        session.lease = None
        if lease.opened and not lease.kept:
            release_master(session)
