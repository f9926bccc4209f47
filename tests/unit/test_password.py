"""`remotebook password`'s pure parts: what counts as a password, and that it never shows in a repr."""

from __future__ import annotations

import pytest

from remotebook.actions import password
from remotebook.core.errors import EXIT_USAGE, UsageError
from remotebook.launch.base import Server
from remotebook.remote.door import Request


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        ("s3cret-pw\n", "s3cret-pw"),
        ("s3cret-pw", "s3cret-pw"),
        ("s3cret-pw\r\n", "s3cret-pw"),
        (" sp aces \n", " sp aces "),
    ],
)
def test_stdin_gives_one_line_without_its_line_ending(stdin: str, expected: str) -> None:
    assert password.from_stdin(stdin) == expected


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("\n", "empty"),
        ("", "empty"),
        ("a\nb\n", "line break"),
        ("a\0b", "NUL"),
        ("x" * 1025, "longer than 1024"),
        ("x", "shorter than 8"),
        ("seven77", "shorter than 8"),
        ("PASSWORD", "first ones anyone guesses"),
        ("12345678", "first ones anyone guesses"),
        ("qwertyui", "first ones anyone guesses"),
    ],
)
def test_bad_passwords_are_usage_errors_saying_why(stdin: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        password.from_stdin(stdin)
    assert caught.value.exit_code == EXIT_USAGE and caught.value.hint


def test_two_prompts_must_agree() -> None:
    assert password.from_prompts("same-one", "same-one") == "same-one"
    with pytest.raises(UsageError, match="the two passwords differ"):
        password.from_prompts("one", "two")
    with pytest.raises(UsageError, match="empty"):
        password.from_prompts("", "")


def test_the_secret_never_shows_in_a_repr_but_renders_as_a_literal() -> None:
    secret = password.checked("hunter2 $(rm -rf ~)")  # long enough, and not on the list
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


@pytest.mark.parametrize("typed", ["gpu-box-1", "GPU-BOX!", "alice2024", "gpu-box.example.org"])
def test_a_name_of_the_profile_user_or_host_is_refused(typed: str) -> None:
    with pytest.raises(UsageError, match="the name") as caught:
        password.refuse_names(password.checked(typed), ["gpu-box", "alice", "gpu-box.example.org", "x"])
    assert caught.value.exit_code == EXIT_USAGE


def test_a_password_that_merely_holds_a_short_name_passes() -> None:
    password.refuse_names(password.checked("correct horse battery"), ["gpu", "ab", "horse-box"])


def test_the_login_limit_file_is_valid_python_and_names_its_provider() -> None:
    text = password.LOGIN_LIMIT.read_text()
    compile(text, "jupyter_server_config.py", "exec")
    assert "c.ServerApp.identity_provider_class = RemotebookLoginLimit" in text
