"""remote_dir is the project's, never the account's: the pure judges, and the server's (rb_judge, run by sh here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from remotebook import remote
from remotebook.core.errors import UntrustedError
from remotebook.local import config, roots, trust
from remotebook.remote import door, failures
from remotebook.sync import skips
from remotebook.sync.engine import filters, skipped_here
from remotebook.sync.skips import Skip


@pytest.mark.parametrize(
    ("remote_dir", "says"),
    [
        ("~", "is your home folder"),
        ("~/", "is your home folder"),
        ("", "is your home folder"),  # the remote scripts read a relative path from the home
        (".", "is your home folder"),
        ("~/proj/..", "is your home folder"),
        ("~/..", "holds your home folder"),
        ("/", "holds your home folder"),
        ("//", "holds your home folder"),
        ("~/.ssh", "inside ~/.ssh"),
        ("~/.config/x", "inside ~/.config"),
        (".local/bin", "inside ~/.local"),
        ("~/new/../.jupyter", "inside ~/.jupyter"),
        ("~/.anything-dotted/p", "inside ~/.anything-dotted"),
        ("~/proj/x", ""),
        ("proj", ""),
        ("~/proj/.hidden", ""),  # a dotted folder below a project is the project's
        ("/home/u", ""),  # an absolute path: only the server knows its home
        ("/data/proj", ""),
    ],
)
def test_risk_of_a_remote_dir_as_written(remote_dir: str, says: str) -> None:
    why = roots.risk(remote_dir)
    assert (says in why) if says else why == ""


@pytest.mark.parametrize(
    ("root", "skip"),
    [
        ("/home/u", Skip("", False, "remote_dir is your home there")),
        ("/home/u/", Skip("", False, "remote_dir is your home there")),
        ("/home", Skip("u", False, "remote_dir holds your home there (u)")),
        (
            "/",
            Skip("data/u", False, "remote_dir holds your home there (data/u)"),
        ),  # the real one: rsync replaces a link
        ("/home/u/.ssh", Skip("", True, "remote_dir is inside ~/.ssh there")),
        ("/home/u/.local/bin", Skip("", True, "remote_dir is inside ~/.local there")),
        ("/home/u/.ipython/profile_default", Skip("", True, "remote_dir is inside ~/.ipython there")),
        ("/data/u", Skip("", False, "remote_dir is your home there")),  # the home's real path
        ("/home/u/proj", None),
        ("/home/u/.cache/x", None),  # a dotted folder no tool reads settings from: the user chose it
        ("/home/other", None),
    ],
)
def test_what_a_push_must_skip(root: str, skip: Skip | None) -> None:
    assert skips.skip_for(root, ["/data/u", "/home/u"]) == skip


def test_skip_patterns_come_first_and_are_literal(tmp_path: Path) -> None:
    profile = config.Profile(name="p", host="h", remote_dir="~", exclude=("!", "+ .ssh/***"))
    rules = filters(profile, "push", [".bash_profile"], Skip("we[ird]", False, ""))
    assert rules[0] == r"--exclude=/we\[ird\]/.*"  # before any include the paths add
    assert "--filter=- !" in rules and "--filter=- + .ssh/***" in rules  # never a clear, never an include
    assert not any(rule.startswith("--exclude=!") or rule.startswith("--exclude=+") for rule in rules)
    assert filters(profile, "push", [], Skip("", True, ""))[0] == "--exclude=/*"


def test_the_summary_names_what_was_skipped(tmp_path: Path) -> None:
    for name in (".bash_profile", "notes.ipynb", ".git", ".ssh"):
        (tmp_path / name).mkdir() if name in (".git", ".ssh") else (tmp_path / name).write_text("")
    assert skipped_here(tmp_path, Skip("", False, "")) == [".bash_profile", ".ssh/"]  # .git/ is never pushed
    assert skipped_here(tmp_path, Skip("", True, "")) == [".bash_profile", ".ssh/", "notes.ipynb"]
    assert skipped_here(tmp_path, Skip("home/u", False, "")) == []


def test_an_unapproved_file_with_a_risky_value_is_refused_a_harmless_one_works(tmp_path: Path) -> None:
    path = tmp_path / "remotebook.toml"
    path.write_text('[profiles.a]\nhost = "h"\nremote_dir = "~"\n[profiles.b]\nhost = "h"\nremote_dir = "~/proj/x"\n'
                    '[profiles.c]\nhost = "h"\ntransport = "tcp"\n')  # fmt: skip
    path.chmod(0o600)
    cfg = config.load(tmp_path, tmp_path / "none")
    with pytest.raises(UntrustedError, match=r"sets remote_dir = '~', which is your home folder.*it is not approved"):
        config.resolve(cfg, "a")
    with pytest.raises(UntrustedError, match="sets transport = 'tcp', which puts Jupyter on a TCP port"):
        config.resolve(cfg, "c")
    harmless = config.resolve(cfg, "b")
    assert harmless.root_values() == {"ROOT": "~/proj/x", "ROOT_OK": "no"}  # still judged on the server
    approved = config.load(tmp_path, tmp_path / "none", {str(path.resolve()): trust.read_owned(path).sha256})
    assert config.resolve(approved, "a").root_values() == {"ROOT": "~", "ROOT_OK": "yes"}
    path.write_text(path.read_text().replace('"~/proj/x"', '"~/proj/y"'))  # an edit: the approval is gone
    changed = config.load(tmp_path, tmp_path / "none", {str(path.resolve()): "old"})
    with pytest.raises(UntrustedError, match="it changed since you approved it"):
        config.resolve(changed, "a")
    assert config.resolve(changed, "b").remote_dir == "~/proj/y"


def test_the_users_own_config_chooses_its_remote_dir(tmp_path: Path) -> None:
    user = tmp_path / "config.toml"
    user.write_text('[profiles.home]\nhost = "h"\nremote_dir = "~"\n')
    user.chmod(0o600)
    profile = config.resolve(config.load(tmp_path, user), "home")
    assert profile.root_values()["ROOT_OK"] == "yes"
    assert config.resolve(config.load(tmp_path, user), "otherhost").root_values()["ROOT_OK"] == "no"  # the default


def test_trust_names_the_risk(tmp_path: Path) -> None:
    tables = {"a": {"remote_dir": "~"}, "b": {"remote_dir": "/home/me"}, "c": {"transport": "tcp"}}
    found = {(name, key) for name, key, _value, _why in trust.risks_of(tables)}
    assert found == {("a", "remote_dir"), ("b", "remote_dir"), ("c", "transport")}


def test_the_door_refuses_a_home_remote_dir_before_any_ssh() -> None:
    request = door.Request("sync", "mkdir", {"ROOT": "~/.ssh", "ROOT_OK": "no"})
    refused = request.refusal()
    assert refused is not None and refused.error == "remote_dir_refused"
    error = failures.translate(refused, "gpu")
    assert error.exit_code == 13 and str(error).startswith("gpu: remote_dir ~/.ssh is inside ~/.ssh")
    assert door.Request("sync", "mkdir", {"ROOT": "~/.ssh", "ROOT_OK": "yes"}).refusal() is None
    assert door.Request("bootstrap", "query", {"ROOT": "~"}).refusal() is None  # only reads: status, down
    assert "RB_JUDGE_ROOT=no" in remote.render("query", {"ROOT": "~"}).text
    assert "RB_JUDGE_ROOT=yes" in remote.render("ensure", {"ROOT": "/h", "ROOT_OK": "no"}).text
    with pytest.raises(ValueError, match="bad variable"):
        remote.render("ensure", {"ROOT": "/h", "JUDGE_ROOT": "no"})


def _judge(home: Path, path: str) -> tuple[str, str]:
    body = remote.COMMON.read_text()
    start = body.index("rb_judge() {")
    function = body[start : body.index("\n}\n", start) + 3]
    script = function + 'rb_judge "$1"; printf "%s\\n%s\\n" "$rb_real" "$rb_why"\n'
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    out = subprocess.run(["sh", "-c", script, "sh", path], capture_output=True, text=True, env=env, timeout=10)
    assert out.returncode == 0, out.stderr
    real, why = out.stdout.split("\n")[:2]
    return real, why


def test_the_server_judges_the_real_path(tmp_path: Path) -> None:
    home = tmp_path / "home" / "u"
    (home / ".ssh").mkdir(parents=True)
    (home / "proj").mkdir()
    (home / "proj" / "keys").symlink_to(home / ".ssh")
    (home / "proj" / "me").symlink_to(home)
    (tmp_path / "alias").symlink_to(home)  # HOME named through a symlink
    cases = {
        str(home): "is your home folder",
        str(home) + "/": "is your home folder",
        str(home / "proj" / "me"): "is your home folder",
        str(home.parent): "holds your home folder",
        "/": "holds your home folder",
        str(home / ".ssh"): "is inside ~/.ssh",
        str(home / "proj" / "keys"): "is inside ~/.ssh",
        str(home / "proj" / "keys" / "new" / "deeper"): "is inside ~/.ssh",  # not there yet: judged as written
        str(home / "proj" / "new" / ".." / ".." / ".config" / "x"): "is inside ~/.config",
        str(home / ".config" / "x"): "is inside ~/.config",
        str(home / "proj"): "",
        str(home / "proj" / "new" / "x"): "",
        str(home / "proj" / ".hidden"): "",
    }
    for path, says in cases.items():
        real, why = _judge(home, path)
        assert (says in why) if says else why == "", (path, real, why)
    assert _judge(home, str(home / "proj" / "keys"))[0] == str(home / ".ssh")
    assert "is your home folder" in _judge(tmp_path / "alias", str(home))[1]
    assert "holds your home folder" in _judge(tmp_path / "alias", str(tmp_path))[1]
