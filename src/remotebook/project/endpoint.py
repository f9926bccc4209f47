"""Before the token goes through a forward: proof that the remote end is this project's server.

A unix socket lives in our 0700 dir on the server: nobody else can listen there, so a
server on one needs no proof (and the warm path no round trip). A TCP port is different:
once the server died or idled out, any user of that host may bind the port it had, and the
saved forward would carry the token to them. So a saved TCP endpoint gets the token only
after the remote says the server's pid still listens there (remote/owner.sh): the
runtime file's pid owns the port. A Slurm job's TCP endpoint is on the node, out of the
login node's sight: there the proof is Slurm's word that the same job still runs with the
same endpoint (Jupyter is the job's step; it ends with it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from remotebook.core.errors import RemotebookError
from remotebook.launch.base import Server
from remotebook.remote.door import Request, call

if TYPE_CHECKING:
    from remotebook.project.handle import Session

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 20.0  # a login shell through the master; the answer is a few file reads


def needs_proof(server: Server) -> bool:
    """Only a TCP endpoint can be taken over by someone else."""
    return server.transport != "unix"


def is_ours(session: Session, server: Server) -> bool:
    """The saved server still holds its endpoint (True at once for a unix socket); False when it cannot be told."""
    if not needs_proof(server):
        return True
    try:
        if session.launcher.kind == "slurm":
            found = session.launcher.query(through_master=True)
            return found is not None and (found.endpoint, found.location.job) == (server.endpoint, server.location.job)
        port = server.endpoint.rpartition(":")[2]
        values = {"PID": str(server.pid), "PORT": port}
        answer = call(
            session.target,
            Request("owner", "check", values),
            timeout=CHECK_TIMEOUT,
            may_create_master=False,
            batch=True,
        )
    except RemotebookError as e:
        log.info("could not check who listens on %s: %s", server.endpoint, e)
        return False
    owned = answer.data.get("owned") is True
    if not owned:
        log.info("%s is not held by the server (pid %s): the token is not sent there", server.endpoint, server.pid)
    return owned
