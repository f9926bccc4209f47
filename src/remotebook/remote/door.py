"""The one door to the remote: render a script, run it over the target's master, read its marked answer, translate.

Every remote action (the bootstrap's ensure/query/stop/logs, env's probe/install, sync's
mkdir, and what comes later) is one `call` or, for follow mode, one `stream`. The caller
never sees ssh argv, markers or the remote's error kinds: it gets an Answer or a
RemotebookError. Each call is logged at DEBUG as one remote exchange, so the round trips
of a command can be counted from its log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from remotebook import remote
from remotebook.connection import ssh
from remotebook.core.errors import SSHError
from remotebook.local.roots import JUDGED_ACTIONS, risk
from remotebook.remote.failures import translate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One remote action: which script, which action, its values (each arrives as a literal)."""

    script: str  # "bootstrap", "env", "sync": remote/<script>.sh
    action: str
    values: Mapping[str, str]
    args: Sequence[str] = ()  # "$@" of the script (Jupyter's own arguments)

    def render(self) -> remote.Script:
        return remote.render(self.action, dict(self.values), tuple(self.args), script=self.script)

    def refusal(self) -> remote.Answer | None:
        """The server's answer to a remote_dir that reads as the account's (`~`, `~/.ssh`), known here already."""
        root = self.values.get("ROOT")
        if (
            root is None
            or self.values.get("ROOT_OK") == "yes"
            or self.action not in JUDGED_ACTIONS.get(self.script, ())
        ):
            return None
        why = risk(root)
        if not why:
            return None
        return remote.Answer(False, {}, error="remote_dir_refused", message=f"remote_dir {root} {why}")


def call(
    target: ssh.Target,
    request: Request,
    *,
    timeout: float,
    may_create_master: bool = True,
    batch: bool = False,
    persist: str = "yes",
) -> remote.Answer:
    """Run the request's script in a login sh on the target; its answer, or the project's error.

    may_create_master: a missing master is made (and may prompt, unless batch); persist is
    its ControlPersist. Without it, no master means a direct BatchMode-free connection.
    """
    refused = request.refusal()  # judged before any ssh; an absolute path is judged there, in the same call
    if refused is not None:
        raise translate(refused, target.destination)
    script = request.render()
    log.debug("remote exchange: %s %s on %s", request.script, request.action, target.destination)
    result = ssh.run_script(
        target, script.text, timeout=timeout, may_create_master=may_create_master, batch=batch, persist=persist
    )
    answer = read_answer(script, result.stdout, result.stderr)
    if not answer.ok:
        raise translate(answer, target.destination)
    return answer


def stream(target: ssh.Target, request: Request, *, write: Callable[[str], None], timeout: float) -> None:
    """Follow mode: hand `write` what the script prints between its log mark and its answer.

    What the login shell prints before the script starts (a MOTD, `echo` in ~/.profile)
    comes before the mark and is dropped; an answer after the output means the script
    failed, and becomes the project's error like any call's.
    """
    refused = request.refusal()
    if refused is not None:
        raise translate(refused, target.destination)
    script = request.render()
    reader = FollowReader(script.nonce, write)
    log.debug("remote exchange (stream): %s %s on %s", request.script, request.action, target.destination)
    result = ssh.stream_script(target, script.text, on_line=reader.feed, timeout=timeout)
    if result.stderr.strip():  # the login shell's noise, or what the script's tools said
        log.debug("remote stderr: %s", result.stderr.strip()[-2000:])
    if reader.answer:
        raise translate(remote.parse("".join(reader.answer), script.nonce), target.destination)
    if not reader.started and result.returncode != 0:
        raise SSHError(
            f"the remote script for {request.action} did not start (exit {result.returncode})",
            hint="run with -v to see what the remote printed",
            detail=result.stderr.strip()[-2000:],
        )


class FollowReader:
    """Sorts a streaming script's lines: login noise, then (after the log mark) output, then an answer."""

    def __init__(self, nonce: str, write: Callable[[str], None]) -> None:
        self.log_mark = remote.log_mark(nonce) + "\n"
        self.answer_mark = remote.answer_mark(nonce) + "\n"
        self.write = write
        self.started = False
        self.answer: list[str] = []

    def feed(self, line: str) -> None:
        if self.answer or line == self.answer_mark:
            self.answer.append(line)
        elif self.started:
            self.write(line)
        elif line == self.log_mark:
            self.started = True
        else:
            log.debug("remote login scripts printed: %s", line.rstrip("\n")[:500])


def read_answer(script: remote.Script, stdout: str, stderr: str) -> remote.Answer:
    """The remote script's answer; no answer at all means ssh or the login shell got in the way."""
    try:
        answer = remote.parse(stdout, script.nonce)
    except remote.AnswerError as e:
        raise SSHError(
            f"{e}", hint="run with -v to see what the remote printed", detail=stderr.strip()[-2000:]
        ) from None
    if answer.noise:
        log.debug("remote login scripts printed: %s", answer.noise[:2000])
    return answer


__all__ = ["Request", "call", "read_answer", "stream"]
