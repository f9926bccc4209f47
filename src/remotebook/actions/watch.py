"""What the live view of a foreground `up` shows, asked cheaply: the status report without a process per refresh.

`status` may run `ssh -O check` and a remote shell; a screen that refreshes every few
seconds must not. A `Watch` finds the master once (`-O check`), then follows it in /proc,
and asks Jupyter's API through the live forward (the requests `status` sends). The
supervisor's health comes from the file it publishes, the batch job's clock from the
last word Slurm gave this `up`, moved on by the local clock.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from remotebook.actions import session
from remotebook.connection import mux, tunnel
from remotebook.local import state
from remotebook.project import endpoint, handle, reports

if TYPE_CHECKING:
    from remotebook.launch.slurm_text import Job


class Watch:
    """The report of one project that is up in this process, made again on each `report()`."""

    def __init__(self, sess: handle.Session) -> None:
        self.sess = sess
        self._master: int | None = None
        self._job_seen: tuple[object, float] | None = None  # (the launcher's Job, when first seen)

    def master(self) -> int | None:
        """The master's pid: asked with `-O check` only when /proc no longer shows the one found before."""
        control = self.sess.target.control_path
        if self._master is None or not mux.still_master(self._master, control):
            self._master = mux.master_pid(self.sess.target)
        return self._master

    def report(self) -> reports.ProjectReport:
        """Server, forward, kernels, supervisor and job: one round of API requests, no remote shell."""
        saved = self.sess.store.load() or {}
        server = session.saved_server(saved)
        port = saved.get("local_port")
        pid = self.master()
        used = None
        if (
            pid
            and server
            and isinstance(port, int)
            and saved.get("forward")
            and tunnel.held_by_master(pid, port)  # never the token to a port our master does not hold,
            and endpoint.is_ours(self.sess, server)  # nor to a TCP port on the remote our server gave up
        ):
            used = session.activity(port, server.token)
        report = session.describe(self.sess, server, port, tunnel_up=used is not None, master=pid is not None)
        job = self._job()
        return dataclasses.replace(
            report,
            activity=used,
            supervisor=self.sess.store.load(state.HEALTH),
            asked_status=True,
            job=job,
            warnings=session.job_warnings(self.sess, job),
        )

    def _job(self) -> Job | None:
        """Slurm's last word on the job, its run time moved on by the time since (no squeue per refresh)."""
        job = self.sess.launcher.job or self.sess.launcher.ended
        if job is None:
            return None
        now = time.monotonic()
        if self._job_seen is None or self._job_seen[0] is not job:
            self._job_seen = (job, now)
        if not job.live or job.run_time is None or job.state != "RUNNING":
            return job
        return dataclasses.replace(job, run_time=job.run_time + int(now - self._job_seen[1]))
