"""The server in a Slurm batch job on a compute node, reached through the login node that holds our master.

`up` submits one job (sbatch, through the login node's master: one 2FA prompt) whose one
step is the same bootstrap, run in the foreground (RB_RUN=foreground: the job *is* the
server). While it waits in the queue, ensure returns a Waiting with Slurm's state, reason
and expected start; once Jupyter wrote its runtime info on the node (the home is shared),
ensure returns a Server whose endpoint is reachable from the login node:

- "node-ssh" (the default): a unix socket in our private dir on the login node, relayed by
  an `ssh -N -L` from the login node to the node's own unix socket. It works where users
  may ssh to nodes that run their jobs (pam_slurm_adopt), uses the cluster's own
  known_hosts with StrictHostKeyChecking=yes, and nothing listens on a TCP port: nobody but
  the user can connect at either end. The relay is re-made on whichever login node the
  master lands on, so a round-robin alias costs nothing but a new relay.
- "tcp-relay" (tunnel = "auto" with allow_tcp = true, when ssh to the node is refused):
  Jupyter stays on its unix socket; a step of the job itself (srun --overlap, remote/relay.py)
  relays a TCP port on the node's address to it, and the login node's sshd forwards to that.
  No resubmission: the choice is made, and recorded with the job, once it runs.
- "tcp" (tunnel = "tcp", for clusters that forbid ssh to nodes): Jupyter listens on the
  node's address with the token, and the login node's sshd forwards to it. Other cluster
  users can reach that port (and the relay's); only the token protects it, which is why
  neither is ever chosen without the profile saying so.

A job found again (this laptop's state, or its comment `remotebook:<key of the remote
root>` from another laptop) is reused. A job that ended is reported with Slurm's words and
never resubmitted unless `up` asks (restart_shut_down): the supervisor does not.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remotebook import remote
from remotebook.connection import ssh
from remotebook.core.errors import NotRunningError, RemotebookError, ServerError
from remotebook.launch import slurm_text as st
from remotebook.launch.base import Location, Server, Stopped, Waiting
from remotebook.launch.host import FOLLOW_BACKSTOP, idle_args
from remotebook.local.config import Profile, kernel_name
from remotebook.remote.door import Request, call, stream
from remotebook.remote.failures import translate
from remotebook.remote.values import bootstrap_values

log = logging.getLogger(__name__)

CALL_TIMEOUT = 60.0  # one poll, or a relay's start (ssh to the node has ConnectTimeout=10)
STOP_TIMEOUT = 60.0  # scancel, then up to ~30 s until Slurm says the job ended
FIRST_PAUSE = 3.0  # seconds between polls at first; sites rate-limit squeue/scontrol
MAX_PAUSE = 30.0
RELAY = Path(remote.__file__).parent / "relay.py"  # sent only to a profile that allows the TCP fallback
SUBMITTED_PAUSE = 1.0  # an idle cluster starts a job within a second of sbatch; the backoff starts after
STARTING_PAUSE = 1.0  # the job runs and Jupyter starts: its info file is read from the shared home


class SlurmLauncher:
    """Submit, poll, reach and cancel this project's batch job (remote/slurm.sh on the login node)."""

    kind = "slurm"

    def __init__(self, target: ssh.Target, profile: Profile) -> None:
        self.target = target
        self.profile = profile
        self.wait_seconds = float(profile.slurm.queue_timeout) + profile.start_timeout
        self.job: st.Job | None = None  # Slurm's last word on our job
        self.ended: st.Job | None = None  # a job of ours that ended (walltime, scancel, node failure...)
        self.submitted = ""  # the job this launcher submitted (in this `up`)
        self.keep_job = False  # `up --keep-job`: a job left pending survives Ctrl-C
        self.notes: list[str] = []
        self._nonce = ""  # of the job script: its answer in the job's output, if the bootstrap failed there
        self._since: float | None = None
        self._polls = 0

    def _request(self, action: str, **values: str) -> Request:
        base = {
            **self.profile.root_values(),
            "KERNEL": kernel_name(self.profile.project_dir),
            "SQUEUE_FORMAT": st.SQUEUE_FORMAT,
            "TOKEN": "",
            "SUBMIT": "no",
            "JOB_SCRIPT": "",
            "JOB_NAME": kernel_name(self.profile.project_dir),
            "FOLLOW": "no",
            "LINES": "200",
            "TUNNEL": self.profile.slurm.tunnel,
            "ALLOW_TCP": "yes" if self.profile.slurm.allow_tcp else "no",
            "RELAY": "",
        }
        base.update(values)
        args = self.profile.slurm.sbatch_args() if values.get("SUBMIT") == "yes" else ()
        return Request("slurm", action, base, args)

    def job_script(self) -> remote.Script:
        """The bootstrap, run by the job as its step: Jupyter in the foreground, on the node's socket or address."""
        tcp = self.profile.slurm.tunnel == "tcp"
        values = bootstrap_values(
            self.profile,
            RUN="foreground",
            TRANSPORT="tcp" if tcp else self.profile.transport,
            BIND="slurm-node" if tcp else "127.0.0.1",
        )
        args = (*self.profile.jupyter_args, *idle_args(self.profile.idle_timeout))
        return Request("bootstrap", "ensure", values, args).render()

    def ensure(self, token: str, *, batch: bool = False, restart_shut_down: bool = True) -> Server | Waiting:
        """One poll: submit if no job of ours lives (and we may), else Slurm's state, else the server."""
        submit = restart_shut_down and not self.submitted
        values = {"TOKEN": token, "SUBMIT": "yes" if submit else "no"}
        if self.profile.slurm.allow_tcp and self.profile.slurm.tunnel == "auto":  # the relay the fallback starts
            values["RELAY"] = RELAY.read_text()
        if submit:
            script = self.job_script()
            self._nonce = script.nonce
            values["JOB_SCRIPT"] = script.text
        answer = call(self.target, self._request("ensure", **values), timeout=CALL_TIMEOUT, batch=batch)
        return self._read(answer.data)

    def _read(self, data: dict[str, Any]) -> Server | Waiting:
        action = str(data.get("action", ""))
        if action == "submitted":
            self.submitted = st.parse_sbatch(str(data.get("sbatch", "")))
            self._since = time.time()
            previous = st.parse_scontrol_job(str(data.get("previous", "")))
            if previous is not None:
                self.notes.append(
                    f"the earlier job {previous.job_id} ended ({describe_end(previous)}): submitted a new one"
                )
            return self._waiting("SUBMITTED", "", self.submitted, pause=SUBMITTED_PAUSE)
        if action == "ended":
            raise self._ended(data)
        job = st.parse_scontrol_job(str(data.get("line", "")))
        self.job = job
        job_id = job.job_id if job else str(data.get("job", ""))
        if action == "waiting":
            estimate = job.start if job and job.state == "PENDING" else ""
            return self._waiting(job.state if job else "PENDING", job.reason if job else "", job_id, estimate)
        if action == "starting":
            node = job.node if job else ""
            return self._waiting("RUNNING", f"Jupyter starting on {node}", job_id, pause=STARTING_PAUSE)
        return self._server(data, job_id)

    def _waiting(self, state: str, reason: str, job: str, estimate: str = "", pause: float | None = None) -> Waiting:
        if self._since is None:
            self._since = time.time()
        self._polls += 0 if pause is not None else 1  # only the queue's polls back off
        gentle = min(MAX_PAUSE, FIRST_PAUSE * 1.4 ** max(0, self._polls - 1))
        return Waiting(state, reason, self._since, gentle if pause is None else pause, estimate, job)

    def _server(self, data: dict[str, Any], job_id: str) -> Server:
        """The job's Jupyter; its token is the one the job was given (slurm.sh checked), also for a fresh laptop."""
        node = str(data.get("node", ""))
        left = self.job.time_left if self.job and self.job.job_id == job_id else None
        ends_at = time.time() + left if left is not None else 0.0  # a time left, not Slurm's clock: no skew
        location = Location("job", node, job_id, str(data.get("via", "")), str(data.get("login", "")), ends_at)
        server = Server.from_answer({**data, "action": "started" if self.submitted else "running"}, location)
        via_tcp = location.via in ("tcp", "tcp-relay")
        server = dataclasses.replace(
            server,
            endpoint=str(data.get("endpoint", server.endpoint)),
            transport="tcp" if via_tcp else "unix",
            warning="the tunnel reaches the node on TCP: other cluster users can reach that port; only the token "
            "protects it"
            if via_tcp
            else "",
        )
        fallback = str(data.get("fallback", ""))
        if fallback:
            note = f"{fallback}: the tunnel uses a TCP relay in job {job_id} instead (allow_tcp = true)"
            if note not in self.notes:
                self.notes.append(note)
        self.submitted = ""  # it runs: a later failure of this `up` leaves it (the next `up` reuses it)
        return server

    def _ended(self, data: dict[str, Any]) -> RemotebookError:
        job = st.parse_scontrol_job(str(data.get("line", ""))) or st.parse_sacct(str(data.get("sacct", "")))
        job_id = str(data.get("job", "")) or (job.job_id if job else "")
        self.ended, self.job = job, None
        output = str(data.get("output", ""))
        if not job_id:
            return NotRunningError("no batch job of this project runs", hint=f"`remotebook up {self.profile.name}`")
        what = f"batch job {job_id}" + (f" on {job.node}" if job and job.node else "")
        if self.submitted == job_id:  # it failed at start, in this `up`: say why in the bootstrap's or Slurm's words
            self.submitted = ""
            failed = self._bootstrap_failure(output, what)
            if failed is not None:
                return failed
            return ServerError(
                f"{what} ended at start: {describe_end(job) if job else 'Slurm no longer knows it'}",
                hint="the tail of its output is below; `remotebook logs` shows more",
                detail=output,
            )
        ended = describe_end(job) if job else "Slurm no longer knows it"
        return NotRunningError(f"{what} ended: {ended}", hint=f"`remotebook up {self.profile.name}` submits a new one")

    def _bootstrap_failure(self, output: str, what: str) -> RemotebookError | None:
        if not self._nonce:
            return None
        try:
            answer = remote.parse(output, self._nonce)
        except remote.AnswerError:
            return None
        return None if answer.ok else translate(answer, what)

    def query(self, *, through_master: bool) -> Server | None:
        """The job's server, or None (self.job / self.ended say why). Never submits, never prompts."""
        answer = call(
            self.target, self._request("query"), timeout=CALL_TIMEOUT, may_create_master=False, batch=not through_master
        )
        try:
            found = self._read(answer.data)
        except NotRunningError:
            return None
        return found if isinstance(found, Server) else None

    def stop(self) -> Stopped:
        """scancel the job, wait until Slurm says it ended, remove its files and the relay."""
        data = call(self.target, self._request("stop"), timeout=STOP_TIMEOUT, may_create_master=False).data
        self.submitted = ""
        return Stopped(str(data.get("action", "")), None, str(data.get("how", "")))

    def abandon(self) -> str:
        """Ctrl-C or a failure while the job this `up` submitted waits: cancel it, unless asked to keep it."""
        if not self.submitted:
            return ""
        job = self.submitted
        if self.keep_job:
            return f"job {job} stays queued (--keep-job): `remotebook up {self.profile.name}` picks it up"
        try:
            self.stop()
        except RemotebookError as e:
            return f"could not cancel job {job}: {e} (run `scancel {job}` on the login node)"
        return f"cancelled job {job}, which had not started (`up --keep-job` leaves it queued)"

    def logs(self, *, follow: bool, lines: int, write: Callable[[str], None]) -> None:
        """The server's log on the node (the shared home), or the job's output before it ran."""
        request = self._request("logs", FOLLOW="yes" if follow else "no", LINES=str(lines))
        stream(self.target, request, write=write, timeout=FOLLOW_BACKSTOP if follow else 60)


def describe_end(job: st.Job) -> str:
    """'CANCELLED, exit 0:15' / 'TIMEOUT (walltime reached)' / 'FAILED (NonZeroExitCode), exit 3:0'."""
    text = job.state + (f" ({job.reason})" if job.reason else "")
    if job.state == "TIMEOUT" or job.reason == "TimeLimit":  # "COMPLETING (TimeLimit)" while Slurm ends it
        text += " (its walltime was reached)"
    return text + (f", exit {job.exit_code}" if job.exit_code and job.exit_code != "0:0" else "")


def clock(seconds: int | None) -> str:
    """Seconds as Slurm writes a duration: 1:02:03, 1-00:00:00."""
    if seconds is None:
        return "?"
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text
