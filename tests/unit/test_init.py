"""`remotebook init` without a network: the file it writes from flags, the ssh config Host block, the key script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from remotebook.connection import direct, ssh, sshconfig
from remotebook.local import config
from remotebook.local import project_file as init
from remotebook.local.config import tomllib
from tests.unit.test_cli import private_dirs, run  # noqa: F401 - the fixture is used by name

HARNESS_LIKE = """\
# mine
ServerAliveInterval 30

Host old
    HostName old.example.org

Host *
    User fallback
"""


def test_flags_answer_every_question_and_the_default_profile_is_the_folder_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "init", "me@gpu-box", "--remote-dir", "~/work/x y", "--app", "notebook")
    assert code == 0, out
    data = tomllib.loads((tmp_path / "remotebook.toml").read_text())
    name = tmp_path.name.lower()
    assert data["default"] == name and list(data["profiles"]) == [name]
    profile = config.resolve(config.load(tmp_path, tmp_path / "none"), None)
    assert (profile.name, profile.host, profile.remote_dir, profile.app) == (
        name,
        "me@gpu-box",
        "~/work/x y",
        "notebook",
    )


def test_two_folders_get_two_profile_names(tmp_path: Path) -> None:
    assert init.default_profile(tmp_path / "analysis") == "analysis"
    assert init.default_profile(tmp_path / "My Thesis!") == "my-thesis"
    assert init.default_profile(tmp_path / "...") == "project"


def test_bad_answers_are_usage_errors_and_write_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "init", "h", "--profile", "a b;rm")
    assert code == 2 and "profile name" in err and "Traceback" not in err
    for host in ("-oProxyCommand=x", "h;rm -rf ~", "a b"):
        code, _, err = run(capsys, "init", "--", host) if host.startswith("-") else run(capsys, "init", host)
        assert code == 2 and f"host `{host}`" in err
    code, _, err = run(capsys, "init", "h", "--host", "other")
    assert code == 2 and "two hosts" in err
    assert not (tmp_path / "remotebook.toml").exists()


def test_values_with_quotes_stay_toml_strings(tmp_path: Path) -> None:
    text = init.render(init.Answers(host="h", profile="p", remote_dir='~/a "b" \\c', app="lab"))
    assert tomllib.loads(text)["profiles"]["p"]["remote_dir"] == '~/a "b" \\c'


def test_the_difference_to_an_existing_file(tmp_path: Path) -> None:
    text = init.render(init.defaults(tmp_path, "h1"))
    assert init.changes(tmp_path, text) is None
    init.write(tmp_path, text=text)
    assert init.changes(tmp_path, text) == ""
    diff = init.changes(tmp_path, init.render(init.defaults(tmp_path, "h2")))
    assert diff is not None and '-host = "h1"' in diff and '+host = "h2"' in diff


def test_same_answers_twice_leave_the_file_alone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "init", "h")[0] == 0
    code, _, err = run(capsys, "init", "h")
    assert code == 0 and "left as it is" in err
    code, _, err = run(capsys, "init", "other")  # no terminal to ask: only --force replaces
    assert code == 2 and "--force" in err
    assert run(capsys, "init", "other", "--force")[0] == 0
    assert 'host = "other"' in (tmp_path / "remotebook.toml").read_text()


def fake_target(hostname: str, user: str = "", port: int = 22) -> ssh.Target:
    return ssh.Target(hostname, "", "", hostname, user, port, {})


def test_host_block_has_only_what_differs_from_the_defaults() -> None:
    target = fake_target("gpu.example.org", "alice", 2222)
    block = sshconfig.block(sshconfig.alias_for(target, "proj"), target, "~/.ssh/id_work")
    assert block.splitlines()[1:] == [
        "Host gpu",
        "    HostName gpu.example.org",
        "    User alice",
        "    Port 2222",
        "    IdentityFile ~/.ssh/id_work",
    ]
    assert sshconfig.alias_for(fake_target("10.1.2.3"), "proj") == "proj"
    for destination in ("box", "me@box", "ssh://me@box:2222", "ssh://box", "ssh://me@[box]:22"):
        assert sshconfig.host_part(destination) == "box"
    assert sshconfig.configured(ssh.Target("box", "", "", "box.example.org", "", 22, {}))
    assert not sshconfig.configured(ssh.Target("ssh://me@Box:2", "", "", "box", "", 2, {}))
    assert sshconfig.hosts("Host a b !c\n  HostName x\nhost=d\nMatch host e\n") == {"a", "b", "d"}


def test_the_block_goes_before_the_first_host_section() -> None:
    block = "Host new\n    HostName n\n"
    text = sshconfig.insert(HARNESS_LIKE, block)
    assert text.index("ServerAliveInterval") < text.index("Host new") < text.index("Host old")
    assert sshconfig.insert("", block) == block
    assert sshconfig.insert("Compression yes", block) == "Compression yes\n\n" + block


def test_adding_makes_a_backup_and_never_a_second_host(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(HARNESS_LIKE)
    path.chmod(0o600)
    written = sshconfig.add(path, "new", "Host new\n    HostName n\n")
    assert written is not None and written.backup is not None
    assert written.backup.read_text() == HARNESS_LIKE and oct(path.stat().st_mode & 0o777) == "0o600"
    assert sshconfig.add(path, "new", "Host new\n    HostName other\n") is None
    assert sshconfig.add(path, "old", "Host old\n    HostName other\n") is None
    assert path.read_text().count("Host new") == 1 and "HostName other" not in path.read_text()
    fresh = sshconfig.add(tmp_path / "ssh" / "config", "a", "Host a\n")
    assert fresh is not None and fresh.backup is None and oct(fresh.path.stat().st_mode & 0o777) == "0o600"


def test_write_ssh_config_without_a_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """ssh -G only (no connection): the block goes into the --ssh-config file, the profile names the alias."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(HARNESS_LIKE)
    cfg.chmod(0o600)
    args = ("--ssh-config", str(cfg), "init", "bob@box.example.net", "--no-check", "--write-ssh-config")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "Host box\n    HostName box.example.net\n    User bob\n" in out and "added Host box" in err
    assert 'host = "box"' in (tmp_path / "remotebook.toml").read_text()
    assert len(list(tmp_path.glob("ssh_config.remotebook-*.bak"))) == 1
    code, _, err = run(capsys, *args)  # the same again: the block is there, the profile already uses it
    assert code == 0 and "already has a `Host box` for bob@box.example.net; the profile uses it" in err
    assert cfg.read_text().count("Host box") == 1 and len(list(tmp_path.glob("ssh_config.remotebook-*.bak"))) == 1
    code, _, err = run(capsys, *args[:3], "bob@box.elsewhere.org", *args[4:], "--force")
    assert code == 0 and "already has a `Host box` for another host; not changed" in err
    assert 'host = "bob@box.elsewhere.org"' in (tmp_path / "remotebook.toml").read_text()
    assert cfg.read_text().count("Host box") == 1 and "elsewhere" not in cfg.read_text()
    code, _, err = run(capsys, "--ssh-config", str(cfg), "init", "old", "--no-check", "--write-ssh-config", "--force")
    assert code == 0 and 'host = "old"' in (tmp_path / "remotebook.toml").read_text()
    assert cfg.read_text().count("Host old") == 1


def test_the_ssh_config_is_never_written_without_the_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(HARNESS_LIKE)
    cfg.chmod(0o600)
    code, out, _ = run(capsys, "--ssh-config", str(cfg), "init", "box.example.net")
    assert code == 0 and "Host box" not in out  # no terminal, no flag: no ssh step at all
    assert run(capsys, "--ssh-config", str(cfg), "init", "box.example.net", "--force", "--no-check", "-y")[0] == 0
    assert cfg.read_text() == HARNESS_LIKE and not list(tmp_path.glob("ssh_config.remotebook-*"))


def test_the_key_script_appends_once_and_keeps_other_keys(tmp_path: Path) -> None:
    """The remote script of direct.install_key, run by a real sh in a scratch home."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-rsa OLD no-newline")
    key = "ssh-ed25519 AAAAC3Nza me@laptop (remotebook init)"
    for _ in range(2):
        out = subprocess.run(
            ["sh", "-c", direct._INSTALL_KEY, "sh", key], env={**os.environ, "HOME": str(home)}, timeout=30
        )
        assert out.returncode == 0
    assert (home / ".ssh" / "authorized_keys").read_text() == f"ssh-rsa OLD no-newline\n{key}\n"


def test_init_help_lists_every_question_as_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", "--help")
    for flag in ("--profile", "--remote-dir", "--app", "--install-key", "--key-file", "--write-ssh-config", "--yes"):
        assert flag in out


def test_ssh_names_every_key_it_offers(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.write_text("Host a\n    IdentityFile ~/.ssh/one\n    IdentityFile /k/two\n")
    target = ssh.Target("a", str(cfg), "", "a", "", 22, {})
    assert ssh.identity_files(target) == [Path("~/.ssh/one").expanduser(), Path("/k/two")]


@pytest.mark.parametrize("alias", ["-oProxyCommand=x", "two words", "gpu*", "a\nHost b", ""])
def test_a_host_block_refuses_an_alias_ssh_would_misread(alias: str) -> None:
    from remotebook.connection import sshconfig
    from remotebook.core.errors import UsageError

    with pytest.raises(UsageError):
        sshconfig.block(alias, fake_target("gpu.example.org"))


def test_a_host_block_quotes_a_key_path_with_a_space() -> None:
    from remotebook.connection import sshconfig

    text = sshconfig.block("gpu", fake_target("gpu.example.org"), identity="/home/a b/.ssh/id_ed25519")
    assert '    IdentityFile "/home/a b/.ssh/id_ed25519"' in text.splitlines()
