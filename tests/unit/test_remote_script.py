"""The bootstrap: values arrive as literals, and its answer is parsed from behind login noise."""

import subprocess
from pathlib import Path

import pytest

from remotebook import remote

NASTY = ["it's", 'a "quoted"', "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "two  spaces", "back\\slash", "*"]


@pytest.mark.parametrize("value", NASTY)
def test_rendered_values_reach_sh_as_literals(tmp_path: Path, value: str) -> None:
    script = remote.render("query", {"ROOT": value}, jupyter_args=(value, "--x=1"))
    header = script.split("# remotebook bootstrap", 1)[0]  # only the assignments, not the body
    probe = header + 'printf "%s\\n" "$RB_ROOT" "$#" "$1" "$2"\n'
    out = subprocess.run(["sh", "-s"], input=probe, capture_output=True, text=True, cwd=tmp_path, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == [value, "2", value, "--x=1"]
    assert not (tmp_path / "PWNED").exists()


def test_render_rejects_unknown_action_and_bad_names() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        remote.render("rm", {})
    with pytest.raises(ValueError, match="bad variable"):
        remote.render("query", {"X; rm": "1"})


def test_bootstrap_is_valid_posix_sh() -> None:
    script = remote.render("query", {"ROOT": "/x"})
    out = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr


def test_parse_skips_login_noise_and_reads_log_tail() -> None:
    stdout = (
        "Welcome to the cluster!\nmodule: loaded\n"
        f"\n{remote.MARK}\n"
        '{"ok":false,"error":"server_died","message":"Jupyter exited while starting"}\n'
        f"{remote.LOG_MARK}\nTraceback (most recent call last):\nImportError: boom\n"
    )
    answer = remote.parse(stdout)
    assert not answer.ok
    assert answer.error == "server_died"
    assert answer.log_tail.endswith("ImportError: boom")
    assert "Welcome" in answer.noise


def test_parse_uses_the_last_marker() -> None:
    stdout = f'{remote.MARK}\n{{"ok":false}}\n{remote.MARK}\n{{"ok":true,"pid":3}}\n'
    assert remote.parse(stdout).data["pid"] == 3


@pytest.mark.parametrize("stdout", ["", "no marker here\n", f"{remote.MARK}\nnot json\n", f"{remote.MARK}\n[1]\n"])
def test_parse_rejects_missing_or_broken_answers(stdout: str) -> None:
    with pytest.raises(remote.AnswerError):
        remote.parse(stdout)


@pytest.mark.parametrize("value", ["/home/u/proj", *NASTY, "tab\there", "new\nline", "ünïcode ✓"])
def test_rb_str_makes_valid_json_strings(value: str) -> None:
    import json

    body = remote.COMMON.read_text()
    func = body[body.index("rb_str() {") : body.index("\n}\n", body.index("rb_str() {")) + 3]
    out = subprocess.run(["sh", "-c", func + 'rb_str "$1"', "sh", value], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    expected = "".join(c for c in value if ord(c) >= 32)  # control characters are dropped
    assert json.loads(out.stdout) == expected
