"""`remotebook password`'s pure parts: what counts as a password, and that it never shows in a repr."""

from __future__ import annotations

import pytest

from remotebook.actions import password
from remotebook.core.errors import EXIT_USAGE, UsageError
from remotebook.launch.base import Server
from remotebook.remote.door import Request


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\n", "s3cret"), (" sp aces \n", " sp aces ")],
)
def test_stdin_gives_one_line_without_its_line_ending(stdin: str, expected: str) -> None:
    assert password.from_stdin(stdin) == expected


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("\n", "empty"), ("", "empty"), ("a\nb\n", "line break"), ("a\0b", "NUL"), ("x" * 1025, "longer than 1024")],
)
def test_bad_passwords_are_usage_errors_saying_why(stdin: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        password.from_stdin(stdin)
    assert caught.value.exit_code == EXIT_USAGE and caught.value.hint


def test_two_prompts_must_agree() -> None:
    assert password.from_prompts("same", "same") == "same"
    with pytest.raises(UsageError, match="the two passwords differ"):
        password.from_prompts("one", "two")
    with pytest.raises(UsageError, match="empty"):
        password.from_prompts("", "")


def test_the_secret_never_shows_in_a_repr_but_renders_as_a_literal() -> None:
    secret = password.checked("hunter2 $(rm -rf ~)")
    request = Request("bootstrap", "password_set", {"PASSWORD": secret, "ROOT": "~/p"})
    assert "hunter2" not in repr(request) and "hunter2" not in repr({"v": secret})
    assert "RB_PASSWORD='hunter2 $(rm -rf ~)'" in request.render().text  # quoted: sh reads it as a literal


def test_a_server_started_with_a_password_says_so_and_keeps_it_in_state() -> None:
    answer = {"pid": 7, "password": True, "info": {"sock": "/s", "token": "t", "base_url": "/"}}
    server = Server.from_answer(answer)
    assert server.password is True
    saved = Server.from_saved(server.as_json(), "t")
    assert saved is not None and saved.password is True
    assert Server.from_answer({**answer, "password": False}).password is False
    assert Server.from_answer({k: v for k, v in answer.items() if k != "password"}).password is False
