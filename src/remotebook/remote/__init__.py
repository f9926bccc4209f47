"""The remote side: render a POSIX-sh script (bootstrap, env) with quoted values, and parse its JSON answer."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent  # plain file reads: importlib.resources costs start-up time
BOOTSTRAP = HERE / "bootstrap.sh"
COMMON = HERE / "common.sh"  # helpers every script gets, sent before it
MARK = "@@remotebook-answer@@"
LOG_MARK = "@@remotebook-log@@"
ACTIONS = ("ensure", "query", "stop", "logs")
SCRIPTS = {"bootstrap": ACTIONS, "env": ("probe", "install")}


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
    action: str, values: dict[str, str], jupyter_args: tuple[str, ...] = (), *, script: str = "bootstrap"
) -> str:
    """RB_* assignments, common.sh, then the script; every value arrives as a literal."""
    if action not in SCRIPTS.get(script, ()):
        raise ValueError(f"unknown action {action} for {script}.sh")
    lines = [f"RB_ACTION={shlex.quote(action)}"]
    for key, value in sorted(values.items()):
        if not key.isidentifier() or not key.isupper():
            raise ValueError(f"bad variable name {key}")
        lines.append(f"RB_{key}={shlex.quote(value)}")
    lines.append("set -- " + shlex.join(jupyter_args))
    common = COMMON.read_text(encoding="utf-8")
    body = (HERE / f"{script}.sh").read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + common + "\n" + body


def parse(stdout: str) -> Answer:
    """The answer is the line after the last marker; anything before it is login-script noise."""
    head, sep, tail = stdout.rpartition(MARK + "\n")
    if not sep:
        raise AnswerError("no answer from the remote bootstrap")
    answer_line, _, rest = tail.partition("\n")
    try:
        data = json.loads(answer_line)
    except json.JSONDecodeError as e:
        raise AnswerError(f"unreadable answer from the remote bootstrap: {e}") from None
    if not isinstance(data, dict) or "ok" not in data:
        raise AnswerError("unexpected answer from the remote bootstrap")
    log_tail = rest.partition(LOG_MARK + "\n")[2] if LOG_MARK in rest else ""
    return Answer(
        ok=bool(data["ok"]),
        data=data,
        error=str(data.get("error", "")),
        message=str(data.get("message", "")),
        log_tail=log_tail.rstrip("\n"),
        noise=head.strip(),
    )
