"""`remotebook password` against the real harness: hashed on the server, login form, never the clear text in sight."""

from __future__ import annotations

import contextlib
import http.client
import os
import pty
import re
import select
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.integration.conftest import Runner
from tests.integration.jupyter_client_lite import request

PASSWORD = "correct horse $(battery) 'staple' \\n ünï"  # shell and quoting metacharacters on purpose


def run_with_stdin(rb: Runner, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        rb.argv(*args), cwd=rb.project, env=rb.env, input=text, capture_output=True, text=True, timeout=180
    )


def login(port: int, password: str) -> tuple[int, str]:
    """Jupyter's login form as a browser posts it: GET /login for the _xsrf cookie, POST it back.

    Returns (status of the POST, the login cookie it set or "").
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/login")
        page = conn.getresponse()
        page.read()
        xsrf = re.search(r"_xsrf=([^;]+)", page.getheader("Set-Cookie") or "")
        assert xsrf, page.getheaders()
        from urllib.parse import urlencode

        body = urlencode({"_xsrf": xsrf.group(1), "password": password})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf.group(1)}"}
        conn.request("POST", "/login?next=%2Flab", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        cookies = [c for c in answer.headers.get_all("Set-Cookie") or [] if c.startswith("username-")]
        return answer.status, cookies[0].split(";", 1)[0] if cookies else ""
    finally:
        conn.close()


def api_status_with_cookie(port: int, cookie: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/api/status", headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class ProcessWatch:
    """Every process's argv and environment, read from /proc about every 10 ms while a block runs."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.rounds = 0
        self._stop = threading.Event()

    def _scan(self) -> None:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                for name in ("cmdline", "environ"):
                    with contextlib.suppress(OSError):
                        self.seen.add(Path("/proc", entry, name).read_bytes())

    def _loop(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._scan()
            self.rounds += 1
            self._stop.wait(0.01)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=10)

    def saw(self, secret: str) -> bool:
        needle = secret.encode()
        return any(needle in blob for blob in self.seen)


def files_holding(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    found = []
    for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found


def shared_tmp_of(rb: Runner) -> list[Path]:
    """What the remote user made at the top of /tmp (shared with the namespace)."""
    uid = rb.host.home("rbtest").stat().st_uid
    return [entry for entry in Path("/tmp").iterdir() if entry.lstat().st_uid == uid]


def test_password_login_then_clear_back_to_the_token(rb: Runner) -> None:
    up = rb.json("up", "rbremote", "--detach", "--no-browser")
    port, token = up["local_port"], up["token"]
    assert login(port, PASSWORD)[0] != 302  # no password yet: only the token logs in

    watch = ProcessWatch()
    with watch.running():
        out = run_with_stdin(rb, PASSWORD + "\n", "-v", "password", "rbremote", "--stdin", "--restart")
    assert out.returncode == 0, out.stderr
    assert "password set (hashed on the server with argon2); the server restarted" in out.stdout
    assert watch.rounds > 3 and not watch.saw(PASSWORD)  # not in any argv or environment, here or there
    assert PASSWORD not in out.stdout + out.stderr  # nor in the -v log on screen
    assert PASSWORD not in (rb.state / "remotebook.log").read_text()  # nor in the log file

    status = rb.json("status", "rbremote")
    assert status["server"]["password"] is True
    assert status["url"] == f"http://127.0.0.1:{port}/lab"  # no token: the login page asks for the password
    assert status["local_port"] == port and status["token"] != token  # a restarted server: a new token
    assert request(port, "GET", "/api/status", token)[0] == 403
    token = status["token"]
    assert request(port, "GET", "/api/status", token)[0] == 200  # the token still works (status, scripts)
    assert request(port, "GET", "/api/status", None)[0] == 403

    refused, no_cookie = login(port, PASSWORD + "x")
    assert refused != 302 and no_cookie == ""
    ok, cookie = login(port, PASSWORD)
    assert ok == 302 and cookie
    assert api_status_with_cookie(port, cookie) == 200

    home = rb.host.home("rbtest")
    hashed = list((home / ".remotebook" / "auth").glob("*/jupyter_server_config.json"))
    assert len(hashed) == 1 and (hashed[0].stat().st_mode & 0o777) == 0o600
    assert '"hashed_password": "argon2:' in hashed[0].read_text()
    assert files_holding(home, PASSWORD) == []  # not in the server's log, its config, or any file of the user
    assert [found for top in shared_tmp_of(rb) for found in files_holding(top, PASSWORD)] == []

    cleared = rb.run("password", "rbremote", "--clear", "--restart")
    assert cleared.returncode == 0, cleared.stderr
    assert "password removed; the server restarted: the token alone logs in" in cleared.stdout
    assert login(port, PASSWORD)[0] != 302
    token = rb.json("status", "rbremote")["token"]  # restarted again: another new one
    assert request(port, "GET", "/api/status", token)[0] == 200
    assert list((home / ".remotebook" / "auth").glob("*")) == []
    again = rb.json("status", "rbremote")
    assert again["server"]["password"] is False
    assert again["url"] == f"http://127.0.0.1:{port}/lab?token={token}"


def test_password_set_while_down_is_used_by_the_next_up(rb: Runner) -> None:
    out = run_with_stdin(rb, "s3cret-pass\n", "password", "rbremote", "--stdin")
    assert out.returncode == 0, out.stderr
    assert "from the next `remotebook up rbremote`" in out.stdout
    assert rb.jupyter_processes() == []  # setting it starts nothing
    assert rb.ssh_processes() == []  # and leaves no connection behind
    up = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert up["url"] == f"http://127.0.0.1:{up['local_port']}/lab"
    assert login(up["local_port"], "s3cret-pass")[0] == 302
    assert login(up["local_port"], "s3cret-pas")[0] != 302


def test_bad_password_input_is_one_line_and_exit_2(rb: Runner) -> None:
    for text, expected in [
        ("\n", "the password is empty"),
        ("a\nb\n", "line break"),
        ("x\n", "shorter than 8 characters"),  # a one-character password
        ("Password\n", "one of the first ones anyone guesses"),
        ("jupyter1\n", "one of the first ones anyone guesses"),
        ("rbremote\n", "the name 'rbremote'"),  # the profile's (and host's) own name
        ("rbtest2024\n", "the name 'rbtest'"),  # the remote user's, with digits on
    ]:
        out = run_with_stdin(rb, text, "password", "rbremote", "--stdin")
        assert out.returncode == 2, out.stderr
        assert expected in out.stderr and "Traceback" not in out.stderr
    no_tty = rb.run("password", "rbremote")
    assert no_tty.returncode == 2
    assert "no terminal to ask for the password on" in no_tty.stderr and "--stdin" in no_tty.stderr
    typed = typed_twice(rb, "first-one", "second-one")
    assert typed[0] == 2 and "the two passwords differ" in typed[1]
    assert "first-one" not in typed[1].replace("New Jupyter password", "")  # no echo
    assert rb.ssh_processes() == [] and rb.state_files() == []  # nothing ran, nothing left
    assert not (rb.host.home("rbtest") / ".remotebook").exists()


def typed_twice(rb: Runner, first: str, second: str) -> tuple[int, str]:
    """`remotebook password` on a terminal (a pty): type two entries; (exit code, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, so getpass reads it without echo
        os.chdir(rb.project)
        os.execve(rb.argv()[0], rb.argv("password", "rbremote"), rb.env)  # noqa: S606 - argv list, no shell
    shown = b""
    prompts = [(b"New Jupyter password: ", first), (b"Again: ", second)]
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it exited
                break
            if not chunk:
                break
            shown += chunk
            if prompts and prompts[0][0] in shown:
                os.write(fd, prompts.pop(0)[1].encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_the_login_form_locks_after_wrong_passwords_and_opens_again(rb: Runner) -> None:
    """jupyter_server has no limit of its own: login_limit.py, beside the hash, counts the failures."""
    limit = '"--RemotebookLoginLimit.max_failures=3", "--RemotebookLoginLimit.lockout_seconds=4"'
    rb.write_config(f'[profiles.pw]\nhost = "rbremote"\nremote_dir = "~/pw"\njupyter_args = [{limit}]\n')
    out = run_with_stdin(rb, PASSWORD + "\n", "password", "pw", "--stdin")
    assert out.returncode == 0, out.stderr
    assert "locks after 5 wrong ones" in out.stdout and "the token keeps working" in out.stdout
    up = rb.json("up", "pw", "--detach", "--no-browser")
    port = up["local_port"]
    assert [login(port, f"wrong guess {n}")[0] for n in range(3)] == [401, 401, 401]
    assert login(port, PASSWORD)[0] == 401  # locked: the right password is refused too, unchecked
    assert request(port, "GET", "/api/status", up["token"])[0] == 200  # the token is not the form
    log = rb.run("logs", "pw", "-n", "100").stdout
    assert "login refused: 3 wrong passwords in a row" in log

    def opened() -> bool | None:
        return True if login(port, PASSWORD)[0] == 302 else None

    assert wait_for(opened, 30)  # the lock expires (4 s after the failures); polled, no fixed sleep


def wait_for(check: Callable[[], bool | None], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False
