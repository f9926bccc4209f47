"""The remote side: render a POSIX-sh script (bootstrap, env, sync, doctor) with quoted values, and parse its JSON answer."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remotebook.local.roots import JUDGED_ACTIONS

HERE = Path(__file__).parent  # plain file reads: importlib.resources costs start-up time
BOOTSTRAP = HERE / "bootstrap.sh"
COMMON = HERE / "common.sh"  # helpers every script gets, sent before it
ACTIONS = ("ensure", "query", "stop", "logs")
SCRIPTS = {
    "bootstrap": (*ACTIONS, "durable", "password_set", "password_clear"),
    "env": ("probe", "install"),
    "sync": ("mkdir", "check", "restore"),
    "run": ("start", "status", "follow", "list", "stop"),
    "doctor": ("check",),
    "slurm": ACTIONS,
    "owner": ("check",),
}


def answer_mark(nonce: str) -> str:
    """The line before the answer; the nonce is new for every call, so no output can forge it."""
    return f"@@remotebook-answer-{nonce}@@"


def log_mark(nonce: str) -> str:
    return f"@@remotebook-log-{nonce}@@"


def new_nonce() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True)
class Script:
    """A rendered script and the nonce its answer marker carries."""

    text: str
    nonce: str

    @property
    def mark(self) -> str:
        return answer_mark(self.nonce)


@dataclass(frozen=True)
class Answer:
    """What the bootstrap said: ok + fields, or an error kind, message and log tail."""

    ok: bool
    data: dict[str, Any]
    error: str = ""
    message: str = ""
    log_tail: str = ""
    noise: str = ""  # what login scripts printed before the answer (for -v)


class AnswerError(ValueError):
    """The remote printed no parseable answer (the script did not run to the end)."""


def render(
    action: str,
    values: dict[str, str],
    jupyter_args: tuple[str, ...] = (),
    *,
    script: str = "bootstrap",
    nonce: str | None = None,
) -> Script:
    """RB_* assignments (RB_NONCE among them), common.sh, then the script; every value arrives as a literal."""
    if action not in SCRIPTS.get(script, ()):
        raise ValueError(f"unknown action {action} for {script}.sh")
    nonce = new_nonce() if nonce is None else nonce
    if not nonce.isalnum():
        raise ValueError("the nonce must be letters and digits")
    lines = [f"RB_ACTION={shlex.quote(action)}", f"RB_NONCE={nonce}"]
    if "ROOT" in values:  # an action that writes in remote_dir judges it first, unless the user chose it
        judged = action in JUDGED_ACTIONS.get(script, ()) and values.get("ROOT_OK") != "yes"
        lines.append(f"RB_JUDGE_ROOT={'yes' if judged else 'no'}")
    for key, value in sorted(values.items()):
        if not key.isidentifier() or not key.isupper() or key in ("NONCE", "JUDGE_ROOT"):
            raise ValueError(f"bad variable name {key}")
        lines.append(f"RB_{key}={shlex.quote(value)}")
    lines.append("set -- " + shlex.join(jupyter_args))
    common = COMMON.read_text(encoding="utf-8")
    body = (HERE / f"{script}.sh").read_text(encoding="utf-8")
    return Script("\n".join(lines) + "\n" + common + "\n" + body, nonce)


def parse(stdout: str, nonce: str) -> Answer:
    """The answer is the line after the first marker with this call's nonce; before it is login noise.

    Output after the answer (or a marker with another nonce) cannot pass for it.
    """
    head, sep, tail = stdout.partition(answer_mark(nonce) + "\n")
    if not sep:
        raise AnswerError("no answer from the remote bootstrap")
    answer_line, _, rest = tail.partition("\n")
    try:
        data = json.loads(answer_line)
    except json.JSONDecodeError as e:
        raise AnswerError(f"unreadable answer from the remote bootstrap: {e}") from None
    if not isinstance(data, dict) or "ok" not in data:
        raise AnswerError("unexpected answer from the remote bootstrap")
    log_tail = rest.partition(log_mark(nonce) + "\n")[2]
    return Answer(
        ok=bool(data["ok"]),
        data=data,
        error=str(data.get("error", "")),
        message=str(data.get("message", "")),
        log_tail=log_tail.rstrip("\n"),
        noise=head.strip(),
    )
