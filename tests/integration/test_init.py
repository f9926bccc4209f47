"""`remotebook init` against a real sshd that takes a password: a key made and installed, then password-free up/doctor."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.remote_host import PasswordLogin, RemoteHost, password_login
from tests.integration.conftest import Runner


@pytest.fixture
def login(remote_host: RemoteHost) -> Iterator[PasswordLogin]:
    with password_login(remote_host) as found:
        yield found


def client_config(rb: Runner, login: PasswordLogin, tmp_path: Path, strict: str = "yes") -> Path:
    """The laptop's ssh config for this test: host-key checking strict, no key of root's offered."""
    known = tmp_path / "known_hosts"
    known.write_text(login.known_hosts_line)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"""# the tester's own config
Host *
    UserKnownHostsFile {known}
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking {strict}
    UpdateHostKeys no
    IdentitiesOnly yes
    IdentityFile {tmp_path}/no-such-key
    ConnectTimeout 10
"""
    )
    cfg.chmod(0o600)
    rb.env["REMOTEBOOK_SSH_CONFIG"] = str(cfg)
    return cfg


def askpass(tmp_path: Path, answer: str | None) -> tuple[dict[str, str], Path]:
    """SSH_ASKPASS that counts its calls in a file and answers the password (or refuses: None)."""
    calls = tmp_path / f"askpass-{answer is None}.calls"
    script = tmp_path / f"askpass-{answer is None}.sh"
    reply = f"printf '%s\\n' '{answer}'" if answer is not None else "exit 1"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {calls}\n{reply}\n')
    script.chmod(0o700)
    return {"SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}, calls


def authorized(rb: Runner, login: PasswordLogin) -> list[str]:
    return (rb.host.home(login.user) / ".ssh" / "authorized_keys").read_text().splitlines()


def destination(login: PasswordLogin) -> str:
    return f"ssh://{login.user}@{login.address}:{login.port}"


def test_init_installs_a_key_with_the_password_once_then_up_needs_none(
    rb: Runner, login: PasswordLogin, tmp_path: Path
) -> None:
    cfg = client_config(rb, login, tmp_path)
    key = tmp_path / "keys" / "id_ed25519"
    before = authorized(rb, login)
    env, calls = askpass(tmp_path, login.password)
    rb.env.update(env)
    args = ("init", destination(login), "--install-key", "--key-file", str(key), "--write-ssh-config")
    out = rb.run(*args)
    assert out.returncode == 0, out.stderr
    assert len(calls.read_text().splitlines()) == 1, calls.read_text()  # the password, asked once
    assert "password" in calls.read_text().lower()
    pub = key.with_name("id_ed25519.pub").read_text().strip()
    assert authorized(rb, login) == [*before, pub]
    # The Host block went before `Host *` (ssh keeps the first value), after a backup of the old file.
    text = cfg.read_text()
    block = f"Host myproject\n    HostName {login.address}\n    User {login.user}\n    Port {login.port}\n"
    assert block + f"    IdentityFile {key}\n" in text and text.index("Host myproject") < text.index("Host *")
    (backup,) = tmp_path.glob("ssh_config.remotebook-*.bak")
    assert backup.read_text().startswith("# the tester's own config")
    assert 'host = "myproject"' in (rb.project / "remotebook.toml").read_text()

    # From now on no password: an askpass that refuses would make any prompt fail.
    env, refused = askpass(tmp_path, None)
    rb.env.update(env)
    doctor = rb.run("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    up = rb.json("up", "--detach", "--no-browser")
    assert up["target"] == "myproject"
    assert rb.run("down", "--server").returncode == 0
    assert not refused.exists()

    # A second run: the key already logs in, the Host block is its own; nothing asked, nothing doubled.
    again = rb.run(*args)
    assert again.returncode == 0, again.stderr
    assert "already logs in" in again.stderr and "the profile uses it" in again.stderr
    assert authorized(rb, login) == [*before, pub] and cfg.read_text() == text
    assert not refused.exists() and len(list(tmp_path.glob("ssh_config.remotebook-*.bak"))) == 1
    assert rb.ssh_clients() == []


def test_a_wrong_password_is_one_error_and_changes_nothing_on_the_server(
    rb: Runner, login: PasswordLogin, tmp_path: Path
) -> None:
    cfg = client_config(rb, login, tmp_path)
    key = tmp_path / "id_ed25519"
    before = authorized(rb, login)
    env, _ = askpass(tmp_path, "not-" + login.password)
    rb.env.update(env)
    out = rb.run("init", destination(login), "--install-key", "--key-file", str(key), "--write-ssh-config")
    assert out.returncode == 4, out.stderr
    assert "authentication to" in out.stderr and "Traceback" not in out.stderr
    assert authorized(rb, login) == before
    assert not (rb.project / "remotebook.toml").exists() and "Host myproject" not in cfg.read_text()
    assert rb.ssh_clients() == []


def test_an_unknown_host_key_is_never_accepted_behind_the_users_back(
    rb: Runner, login: PasswordLogin, tmp_path: Path
) -> None:
    client_config(rb, login, tmp_path)
    (tmp_path / "known_hosts").write_text("")  # StrictHostKeyChecking yes, and the key is not known
    env, calls = askpass(tmp_path, login.password)
    rb.env.update(env)
    out = rb.run("init", destination(login), "--install-key", "--key-file", str(tmp_path / "k"))
    assert out.returncode == 4, out.stderr
    assert "host key" in out.stderr and f"ssh {destination(login)}" in out.stderr
    assert (tmp_path / "known_hosts").read_text() == "" and not calls.exists()
    assert not (rb.project / "remotebook.toml").exists()


class Terminal:
    """remotebook on a pseudo-terminal (its controlling tty, where ssh and ssh-keygen ask too)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once, nothing of pytest's runs here
            os.chdir(cwd)
            os.execve(argv[0], argv, env)  # noqa: S606 - argv is ours: remotebook itself, no shell wanted
        self.seen = ""

    def expect(self, pattern: str, timeout: float = 60) -> str:
        """Read until `pattern` (a regex) shows; what was read up to it. Fails at the deadline or at EOF."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.seen)):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in time; the screen: {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.fd, 4096).decode("utf-8", "replace")
                except OSError:
                    chunk = ""
                assert chunk, f"remotebook ended before {pattern!r}; the screen: {self.seen!r}"
                self.seen += chunk
        shown, self.seen = self.seen[: found.end()], self.seen[found.end() :]
        return shown

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_tail = select.select([self.fd], [], [], 0.2)[0]
            if with_tail:
                with contextlib.suppress(OSError):  # EIO once the child closed its end
                    self.seen += os.read(self.fd, 4096).decode("utf-8", "replace")
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"remotebook did not end; the screen: {self.seen!r}")


def test_the_wizard_on_a_terminal(rb: Runner, login: PasswordLogin, tmp_path: Path) -> None:
    """Answers typed into the prompts: defaults taken, the key made (no passphrase), the password typed once
    into ssh's own prompt, the Host block accepted, and the old remotebook.toml replaced after its diff."""
    cfg = client_config(rb, login, tmp_path)
    key = tmp_path / "keys" / "id_ed25519"
    (rb.project / "remotebook.toml").write_text('[profiles.old]\nhost = "somewhere"\n')
    env = {k: v for k, v in rb.env.items() if not k.startswith("SSH_ASKPASS") and k != "DISPLAY"}
    argv = [*rb.argv("init", destination(login), "--key-file", str(key))]
    term = Terminal(argv, rb.project, env)
    term.expect(r"Profile name \[myproject\]: ")
    term.type("")
    term.expect(r"Notebook folder on the remote \[~/myproject\]: ")
    term.type("~/work")
    term.expect(r"Jupyter app \(lab, notebook\) \[lab\]: ")
    term.type("")
    term.expect(r"needs a password")
    term.expect(rf"Make an ed25519 key {re.escape(str(key))} and install it on .*\[Y/n\]: ")
    term.type("y")
    term.expect(r"Enter passphrase")
    term.type("")
    term.expect(r"Enter same passphrase again: ")
    term.type("")
    term.expect(r"password: ")
    term.type(login.password)
    term.expect(r"password-free login works")
    term.expect(r"Host myproject")
    term.expect(r"Add it to .*\? \[y/N\]: ")
    term.type("y")
    shown = term.expect(r"Replace remotebook.toml with this\? \[y/N\]: ")
    assert '-host = "somewhere"' in shown and '+host = "myproject"' in shown
    term.type("y")
    assert term.wait() == 0, term.seen
    assert "password: " not in term.seen  # asked once only
    text = (rb.project / "remotebook.toml").read_text()
    assert 'host = "myproject"' in text and 'remote_dir = "~/work"' in text
    assert "Host myproject" in cfg.read_text()
    assert key.with_name("id_ed25519.pub").read_text().strip() in authorized(rb, login)
    doctor = rb.run("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def test_an_unknown_host_key_is_shown_by_ssh_and_accepted_by_the_user(
    rb: Runner, login: PasswordLogin, tmp_path: Path
) -> None:
    """On a terminal, with ssh's default StrictHostKeyChecking (ask), ssh itself shows the fingerprint and asks."""
    client_config(rb, login, tmp_path, strict="ask")
    known = tmp_path / "known_hosts"
    known.write_text("")
    key = tmp_path / "id_ed25519"
    host_pub = rb.host.workdir / "sshd" / "host_ed25519.pub"
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(host_pub)], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()[1]
    env = {k: v for k, v in rb.env.items() if not k.startswith("SSH_ASKPASS") and k != "DISPLAY"}
    flags = ("--profile", "p", "--remote-dir", "~/x", "--app", "lab", "--install-key", "--key-file", str(key))
    term = Terminal(rb.argv("init", destination(login), *flags), rb.project, env)
    term.expect(r"ssh does not know the host key")
    term.expect(r"Enter passphrase")
    term.type("")
    term.expect(r"Enter same passphrase again: ")
    term.type("")
    shown = term.expect(r"Are you sure you want to continue connecting \(yes/no/\[fingerprint\]\)\? ")
    assert fingerprint in shown
    term.type("yes")
    term.expect(r"password: ")
    term.type(login.password)
    term.expect(r"Add it to .*\? \[y/N\]: ")
    term.type("")  # no: the profile names the destination itself
    assert term.wait() == 0, term.seen
    assert login.known_hosts_line.split()[1:] == known.read_text().split()[1:3]
    assert f'host = "{destination(login)}"' in (rb.project / "remotebook.toml").read_text()
    assert "Host p" not in (tmp_path / "ssh_config").read_text()
