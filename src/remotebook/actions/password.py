"""`remotebook password`: a Jupyter password for this project's server, hashed on the server by its own jupyter_server.

The clear text travels once, inside the bootstrap script on the ssh connection's stdin (never
argv, never an environment, never a file or a log); the server's python hashes it (argon2, as
`jupyter server password` does) into a 0600 config file per project that the bootstrap puts on
the server's JUPYTER_CONFIG_PATH from its next start. The token keeps working throughout.

A password is a weaker door than the 256-bit token: every local user (every cluster user in
the TCP modes) can reach the login form. So it must be at least MIN_LENGTH characters and
not one of the first guesses (WEAK, the profile's, user's and host's names), and beside the
hash goes remote/login_limit.py, which locks the form after repeated wrong passwords
(jupyter_server has no such setting of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remotebook.core.errors import UsageError
from remotebook.project.handle import master_lease
from remotebook.remote.door import Request, call
from remotebook.remote.values import bootstrap_values

if TYPE_CHECKING:
    from remotebook.actions.session import UpResult
    from remotebook.project.handle import Progress, Session

log = logging.getLogger(__name__)

CALL_TIMEOUT = 60.0  # argon2 costs ~0.1 s; the rest is the login shell and the profile's setup
MAX_LENGTH = 1024
MIN_LENGTH = 8
LOGIN_LIMIT = Path(__file__).parents[1] / "remote" / "login_limit.py"  # goes beside the hash, as a Jupyter config
# The first guesses of anyone at a login form (lists of leaked passwords start with these), lower case.
WEAK = frozenset(
    [
        "password",
        "password1",
        "password123",
        "passw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "87654321",
        "11111111",
        "00000000",
        "qwertyui",
        "qwertyuiop",
        "qwerty123",
        "asdfghjk",
        "1q2w3e4r",
        "1qaz2wsx",
        "abcdefgh",
        "abcd1234",
        "iloveyou",
        "letmein1",
        "welcome1",
        "sunshine",
        "football",
        "baseball",
        "superman",
        "trustno1",
        "changeme",
        "jupyter1",
        "jupyter123",
        "notebook",
        "jupyterlab",
        "remotebook",
        "secret12",
        "admin123",
        "administrator",
    ]
)


class Secret(str):
    """A str that never shows itself in a repr (a traceback, a logged Request), as pyinfra masks secrets."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def checked(clear: str) -> Secret:
    """The password as the user gave it, or a UsageError saying what is wrong with it."""
    if clear == "":
        raise UsageError(
            "the password is empty", hint="type one, or remove a password with `remotebook password --clear`"
        )
    if "\n" in clear or "\r" in clear or "\0" in clear:
        raise UsageError("the password holds a line break or a NUL byte", hint="use a password of one line")
    if len(clear) > MAX_LENGTH:
        raise UsageError(f"the password is longer than {MAX_LENGTH} characters", hint="use a shorter one")
    if len(clear) < MIN_LENGTH:
        raise UsageError(
            f"the password is shorter than {MIN_LENGTH} characters",
            hint="anyone who reaches the login page can try passwords: use a longer one (or only the token)",
        )
    if clear.lower() in WEAK:
        raise UsageError("the password is one of the first ones anyone guesses", hint="choose another")
    return Secret(clear)


def refuse_names(secret: Secret, names: Iterable[str]) -> None:
    """A password that is the profile's, the user's or the host's name (or holds nothing else) is a guess away."""
    low = secret.lower()
    for name in names:
        if len(name) >= 3 and name.lower() in (low, low.rstrip("0123456789!-_. ")):
            raise UsageError(f"the password is the name {name!r}: anyone guesses it", hint="choose another")


def from_stdin(text: str) -> Secret:
    """`--stdin`: one line; its line ending is not part of the password."""
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    return checked(text)


def from_prompts(first: str, second: str) -> Secret:
    """Asked twice on the terminal: both must be the same."""
    if first != second:
        raise UsageError("the two passwords differ", hint="run it again and type the same password twice")
    return checked(first)


@dataclass(frozen=True)
class PasswordReport:
    target: str
    action: str  # "set" or "cleared"
    algorithm: str  # what hashed it ("argon2"); "" when cleared
    had_password: bool  # cleared: there was one
    server_running: bool  # a server runs now, still with its old settings (until it restarts)

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "action": self.action,
            "algorithm": self.algorithm,
            "had_password": self.had_password,
            "server_running": self.server_running,
        }


def set_password(session: Session, clear: Secret) -> PasswordReport:
    """Hash `clear` on the server and store it for this project's next server start."""
    values = bootstrap_values(session.profile, PASSWORD=clear, LOGIN_LIMIT=LOGIN_LIMIT.read_text(encoding="utf-8"))
    answer = call(session.target, Request("bootstrap", "password_set", values), timeout=CALL_TIMEOUT)
    log.debug("password stored on %s in %s", session.profile.host, answer.data.get("file"))
    return PasswordReport(
        session.profile.name, "set", str(answer.data.get("algorithm", "")), True, answer.data.get("running") is True
    )


def clear_password(session: Session) -> PasswordReport:
    """Remove this project's password file on the server; the token alone logs in from the next start."""
    request = Request("bootstrap", "password_clear", bootstrap_values(session.profile))
    answer = call(session.target, request, timeout=CALL_TIMEOUT)
    return PasswordReport(
        session.profile.name, "cleared", "", answer.data.get("had") is True, answer.data.get("running") is True
    )


def change(
    session: Session, secret: Secret | None, *, restart: bool, progress: Progress
) -> tuple[PasswordReport, UpResult | None]:
    """Set (or, with None, clear) the password, and restart the server if asked; what was done.

    A one-off command leaves no ssh connection behind: a master this call made is closed
    again, unless the project is up (again) and uses it.
    """
    restarted = None
    with master_lease(session) as lease:
        report = clear_password(session) if secret is None else set_password(session, secret)
        if restart:
            restarted = restart_server(session, progress)
        if restarted is not None:
            lease.keep()  # the project is up again and uses it
    return report, restarted


def restart_server(session: Session, progress: Progress) -> UpResult | None:
    """Stop this project's server so the change applies; bring it back up when the project was up.

    The next server keeps the local port (`up` reuses it) but gets a new token, as every new
    server does; an open tab reloads into the login page. Not up: it starts at the next `up`.
    """
    from remotebook.actions import session as sessions

    was_up = bool((session.store.load() or {}).get("forward"))
    progress(f"stopping the Jupyter server on {session.profile.host}")
    session.launcher.stop()
    if not was_up:
        return None
    return sessions.up(session, progress=progress)


__all__ = [
    "PasswordReport",
    "Secret",
    "checked",
    "clear_password",
    "from_prompts",
    "from_stdin",
    "refuse_names",
    "restart_server",
    "set_password",
]
