"""The bootstrap: values arrive as literals, and its answer is parsed from behind login noise."""

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.core.errors import InsecureServerError, NotRunningError
from remotebook.launch import host
from remotebook.local.config import Profile
from remotebook.remote import failures

NASTY = ["it's", 'a "quoted"', "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "two  spaces", "back\\slash", "*"]
MARK = remote.answer_mark("0123abcd")


def _function(name: str, source: Path = remote.COMMON) -> str:
    """One shell function's text, to run it alone."""
    body = source.read_text()
    start = body.index(f"{name}() {{")
    return body[start : body.index("\n}\n", start) + 3]


@pytest.mark.parametrize("value", NASTY)
def test_rendered_values_reach_sh_as_literals(tmp_path: Path, value: str) -> None:
    script = remote.render("query", {"ROOT": value}, jupyter_args=(value, "--x=1"))
    header = script.text.split("# remotebook remote helpers", 1)[0]  # only the assignments
    probe = header + 'printf "%s\\n" "$RB_ROOT" "$#" "$1" "$2" "$RB_NONCE"\n'
    out = subprocess.run(["sh", "-s"], input=probe, capture_output=True, text=True, cwd=tmp_path, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:5] == [value, "2", value, "--x=1", script.nonce]
    assert not (tmp_path / "PWNED").exists()


def test_every_render_gets_a_fresh_nonce() -> None:
    first, second = remote.render("query", {}), remote.render("query", {})
    assert first.nonce != second.nonce
    assert len(first.nonce) == 16 and int(first.nonce, 16) >= 0
    assert first.mark == f"@@remotebook-answer-{first.nonce}@@"
    assert remote.render("query", {}, nonce="abc").nonce == "abc"


def test_render_rejects_unknown_action_and_bad_names() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        remote.render("rm", {})
    with pytest.raises(ValueError, match="bad variable"):
        remote.render("query", {"X; rm": "1"})
    with pytest.raises(ValueError, match="bad variable"):
        remote.render("query", {"NONCE": "forged"})  # only render sets it
    with pytest.raises(ValueError, match="nonce"):
        remote.render("query", {}, nonce="a b")


def test_bootstrap_is_valid_posix_sh() -> None:
    script = remote.render("query", {"ROOT": "/x"})
    out = subprocess.run(["sh", "-n"], input=script.text, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr


def test_the_answer_carries_the_nonce_of_its_call(tmp_path: Path) -> None:
    values = {"ROOT": str(tmp_path / "nothing-here"), "KERNEL": "k", "TOKEN": ""}
    script = remote.render("query", values)
    environ = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    out = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True, timeout=30, env=environ)
    assert script.mark in out.stdout
    assert remote.parse(out.stdout, script.nonce).data["action"] == "not_running"
    with pytest.raises(remote.AnswerError):
        remote.parse(out.stdout, "another")


def test_parse_skips_login_noise_and_reads_log_tail() -> None:
    stdout = (
        "Welcome to the cluster!\nmodule: loaded\n"
        f"\n{MARK}\n"
        '{"ok":false,"error":"server_died","message":"Jupyter exited while starting"}\n'
        f"{remote.log_mark('0123abcd')}\nTraceback (most recent call last):\nImportError: boom\n"
    )
    answer = remote.parse(stdout, "0123abcd")
    assert not answer.ok
    assert answer.error == "server_died"
    assert answer.log_tail.endswith("ImportError: boom")
    assert "Welcome" in answer.noise


def test_parse_takes_the_first_marker_with_the_nonce_not_a_forged_later_one() -> None:
    # e.g. a log tail or a process printing after the answer
    stdout = f'{MARK}\n{{"ok":true,"pid":3}}\n{MARK}\n{{"ok":true,"pid":666}}\n'
    assert remote.parse(stdout, "0123abcd").data["pid"] == 3


def test_parse_ignores_a_marker_without_this_calls_nonce_before_the_answer() -> None:
    # a login script (or a file it cats) printing remotebook's old marker, or a guessed one
    stdout = (
        '@@remotebook-answer@@\n{"ok":true,"pid":666}\n'
        f'{remote.answer_mark("ffffffffffffffff")}\n{{"ok":true,"pid":667}}\n'
        f'{MARK}\n{{"ok":true,"pid":3}}\n'
    )
    answer = remote.parse(stdout, "0123abcd")
    assert answer.data["pid"] == 3
    assert "666" in answer.noise


def test_a_forged_log_mark_after_the_answer_is_no_log_of_this_call() -> None:
    stdout = f'{MARK}\n{{"ok":false,"error":"x"}}\n@@remotebook-log@@\nforged\n'
    assert remote.parse(stdout, "0123abcd").log_tail == ""


@pytest.mark.parametrize("stdout", ["", "no marker here\n", f"{MARK}\nnot json\n", f"{MARK}\n[1]\n"])
def test_parse_rejects_missing_or_broken_answers(stdout: str) -> None:
    with pytest.raises(remote.AnswerError):
        remote.parse(stdout, "0123abcd")


@pytest.mark.parametrize(("seconds", "sent"), [(0.5, "1"), (1, "1"), (1.01, "2"), (60.0, "60")])
def test_start_timeout_is_rounded_up_to_whole_seconds(tmp_path: Path, seconds: float, sent: str) -> None:
    profile = Profile(name="p", host="h", remote_dir="~/proj", project_dir=tmp_path, start_timeout=seconds)
    assert host.bootstrap_values(profile)["TIMEOUT"] == sent


@pytest.mark.parametrize("value", ["/home/u/proj", *NASTY, "tab\there", "new\nline", "ünïcode ✓"])
def test_rb_str_makes_valid_json_strings(value: str) -> None:
    out = subprocess.run(
        ["sh", "-c", _function("rb_str") + 'rb_str "$1"', "sh", value], capture_output=True, text=True, timeout=10
    )
    assert out.returncode == 0, out.stderr
    expected = "".join(c for c in value if ord(c) >= 32)  # control characters are dropped
    assert json.loads(out.stdout) == expected


def test_private_files_and_dirs_are_private_whatever_the_umask(tmp_path: Path) -> None:
    funcs = _function("rb_private_dir") + _function("rb_put")
    probe = funcs + 'umask 000; rb_private_dir "$1/a/b" && rb_put "$1/a/b/token" secret && umask\n'
    out = subprocess.run(["sh", "-c", probe, "sh", str(tmp_path)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0000"  # the script's own umask is left alone
    for path, mode in ((tmp_path / "a", 0o700), (tmp_path / "a/b", 0o700), (tmp_path / "a/b/token", 0o600)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert (tmp_path / "a/b/token").read_text() == "secret"  # no newline: Jupyter reads the token file as is


@pytest.mark.parametrize(("before", "after"), [("export LC_ALL=de_DE.UTF-8", "de_DE.UTF-8"), ("unset LC_ALL", "unset")])
def test_jupyter_gets_the_login_shells_lc_all_back(before: str, after: str) -> None:
    common = remote.COMMON.read_text()
    head = common[: common.index("rb_str() {")]  # where common.sh saves LC_ALL and sets C
    probe = (
        before + "\n" + head + _function("rb_user_locale") + 'echo "$LC_ALL"; rb_user_locale; echo "${LC_ALL-unset}"\n'
    )
    out = subprocess.run(["sh", "-c", probe], capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == ["C", after]


def test_children_are_found_in_proc_when_there_is_no_ps(tmp_path: Path) -> None:
    # A child whose name holds spaces and ") ": the fields after the *last* ") " count.
    (tmp_path / "bin").mkdir()
    weird = tmp_path / "bin" / "a) b (c"
    weird.symlink_to("/bin/sleep")
    parent = subprocess.Popen(["sh", "-c", f"'{weird}' 30 & '{weird}' 30 & wait"])
    children: list[int] = []
    try:
        children = _wait_for_children(parent.pid)
        probe = _function("rb_children", remote.BOOTSTRAP) + 'rb_children "$1"'
        environ = {"PATH": str(tmp_path / "bin") + ":/nonexistent"}  # sh found by path, no ps
        out = subprocess.run(
            ["/bin/sh", "-c", probe, "sh", str(parent.pid)], capture_output=True, text=True, timeout=10, env=environ
        )
        assert sorted(int(pid) for pid in out.stdout.split()) == children
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait(timeout=10)


def _wait_for_children(pid: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sorted(
            int(d.name)
            for d in Path("/proc").iterdir()
            if d.name.isdigit() and _ppid(d) == pid and "a) b (c" in _comm_or_cmd(d)
        )
        if len(found) == 2:
            return found
        time.sleep(0.02)  # polling for the children to exist
    raise AssertionError("children did not start")


def _ppid(d: Path) -> int:
    try:
        return int((d / "stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _comm_or_cmd(d: Path) -> str:
    try:
        return (d / "cmdline").read_text()
    except OSError:
        return ""


def test_ensure_without_a_token_is_refused_before_anything_starts(tmp_path: Path) -> None:
    values = {"ROOT": "proj", "APP": "lab", "JUPYTER": "", "VENV": "", "CONDA_ENV": "", "SETUP": "", "KERNEL": "k"}
    values |= {"TRANSPORT": "auto", "TIMEOUT": "5", "TOKEN": "", "RESTART": "yes", "FOLLOW": "no", "LINES": "1"}
    script = remote.render("ensure", values)
    environ = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    out = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True, timeout=30, env=environ)
    answer = remote.parse(out.stdout, script.nonce)
    assert (answer.ok, answer.error) == (False, "auth_off")
    assert "never starts Jupyter without" in answer.message
    assert list(tmp_path.rglob("server.pid")) == [] and list(tmp_path.rglob("token")) == []
    err = failures.translate(answer, "gpu")
    assert isinstance(err, InsecureServerError) and err.exit_code == 12


def _is_server(pid: int, state_dir: Path, root: str = "/nowhere") -> bool:
    probe = _function("rb_alive", remote.BOOTSTRAP) + _function("rb_is_server", remote.BOOTSTRAP)
    probe += 'rb_dir=$2 rb_root=$3; rb_is_server "$1"'
    out = subprocess.run(["sh", "-c", probe, "sh", str(pid), str(state_dir), root], timeout=10)
    return out.returncode == 0


def test_a_server_is_known_by_the_runtime_dir_in_its_environment(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    env = {"PATH": os.environ["PATH"], "JUPYTER_RUNTIME_DIR": f"{ours}/runtime"}
    server = subprocess.Popen(["sleep", "30"], env=env)
    # a recycled pid: a program with "jupyter" and even the root_dir flag in its argv, but not our env
    editor = subprocess.Popen(
        ["bash", "-c", 'exec -a "vim jupyter_notes.txt" sleep 30 --ServerApp.root_dir=/nowhere'],
        env={"PATH": os.environ["PATH"], "JUPYTER_RUNTIME_DIR": f"{ours}/runtime-of-another"},
    )
    try:
        assert _is_server(server.pid, ours)
        assert not _is_server(server.pid, tmp_path / "another")
        assert not _is_server(editor.pid, ours)
    finally:
        for child in (server, editor):
            child.kill()
            child.wait(timeout=10)


def test_a_zombie_is_not_alive(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling for it to exit (nobody reaps it yet)
    probe = _function("rb_alive", remote.BOOTSTRAP) + 'rb_alive "$1"'
    assert subprocess.run(["sh", "-c", probe, "sh", str(child.pid)], timeout=10).returncode == 1
    child.wait(timeout=10)


def test_follow_output_drops_login_noise_and_turns_a_late_answer_into_an_error() -> None:
    from remotebook.remote.door import FollowReader

    shown: list[str] = []
    reader = FollowReader("n1", shown.append)
    recorded = [
        "Welcome to gpu-box!\n",
        remote.log_mark("other") + "\n",  # another call's mark is noise too
        remote.log_mark("n1") + "\n",
        "[I 10:00 ServerApp] Jupyter Server 2.14 is running\n",
        remote.answer_mark("other") + "\n",  # not this call's: a log line like any other
        "\n",
    ]
    for line in recorded:
        reader.feed(line)
    assert shown == [recorded[3], recorded[4], "\n"]
    assert reader.answer == []
    for line in [remote.answer_mark("n1") + "\n", '{"ok":false,"error":"no_log","message":"gone"}\n']:
        reader.feed(line)
    answer = remote.parse("".join(reader.answer), "n1")
    assert isinstance(failures.translate(answer, "gpu"), NotRunningError)
