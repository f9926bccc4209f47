"""Trust: owner and mode of the file really read, hash pinning, the trust store."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remotebook.core.errors import UntrustedError
from remotebook.local import trust
from remotebook.local.paths import Paths

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def fake_stat(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("mode", "uid", "why"),
    [
        (stat.S_IFREG | 0o644, 1000, ""),
        (stat.S_IFREG | 0o600, 1000, ""),
        (stat.S_IFREG | 0o444, 1000, ""),
        (stat.S_IFREG | 0o664, 1000, "is writable by group"),
        (stat.S_IFREG | 0o646, 1000, "is writable by others"),
        (stat.S_IFREG | 0o666, 1000, "is writable by group and others"),
        (stat.S_IFREG | 0o644, 1001, "is owned by uid 1001, not by you"),
        (stat.S_IFREG | 0o644, 0, "is owned by root (uid 0), not by you"),  # root's file, for user 1000
        (stat.S_IFDIR | 0o755, 1000, "is not a regular file"),
        (stat.S_IFIFO | 0o600, 1000, "is not a regular file"),
    ],
)
def test_problem_of_a_stat(mode: int, uid: int, why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust, "_user_name", lambda u: "root (uid 0)" if u == 0 else f"uid {u}")
    assert trust.problem(fake_stat(mode, uid), 1000) == why


def test_root_is_refused_another_users_file_too() -> None:
    assert trust.problem(fake_stat(stat.S_IFREG | 0o644, NOBODY), 0).startswith("is owned by")


def test_own_file_is_read_and_hashed_from_what_was_judged(tmp_path: Path) -> None:
    path = tmp_path / "remotebook.toml"
    path.write_bytes(b"x = 1\n")
    checked = trust.read_owned(path)
    assert checked.data == b"x = 1\n" and checked.real == path
    assert checked.sha256 == hashlib.sha256(b"x = 1\n").hexdigest()


def test_group_or_world_writable_is_refused_with_a_chmod_hint(tmp_path: Path) -> None:
    path = tmp_path / "remotebook.toml"
    path.write_text("")
    for mode, who in ((0o664, "group"), (0o646, "others"), (0o666, "group and others")):
        path.chmod(mode)
        with pytest.raises(UntrustedError) as info:
            trust.read_owned(path)
        assert str(info.value).startswith(f"{path} is writable by {who}; ")
        assert info.value.hint == f"if the file is yours to keep: `chmod go-w {path}`"
        assert info.value.exit_code == 13


@needs_root
def test_another_users_file_is_refused_even_for_root(tmp_path: Path) -> None:
    path = tmp_path / "remotebook.toml"
    path.write_text('[profiles.x]\nssh_config = "x"\n')
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(UntrustedError, match=r"remotebook\.toml is owned by nobody \(uid 65534\), not by you"):
        trust.read_owned(path)


@needs_root
def test_a_symlink_to_another_users_file_is_that_users_file(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.toml"
    theirs.write_text("")
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / "remotebook.toml"
    link.symlink_to(theirs)  # the link is ours, what it leads to is not
    with pytest.raises(UntrustedError) as info:
        trust.read_owned(link)
    assert str(info.value).startswith(f"{link} (a symlink to {theirs}) is owned by nobody")


def test_a_symlink_to_own_file_is_judged_and_pinned_by_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "shared.toml"
    real.write_text("a = 1\n")
    link = tmp_path / "proj" / "remotebook.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    checked = trust.read_owned(link)
    assert (checked.path, checked.real, checked.data) == (link, real, b"a = 1\n")
    real.chmod(0o666)
    with pytest.raises(UntrustedError, match="a symlink to .*shared.toml.* is writable by group and others"):
        trust.read_owned(link)


def test_a_fifo_does_not_hang_and_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "remotebook.toml"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(UntrustedError, match="is not a regular file"):
        trust.read_owned(fifo)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can read (pytest's tmp_path is root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="rb-trust-"))
    folder.chmod(0o755)
    yield folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def as_nobody(check: Callable[[], bool]) -> bool:
    """Run `check` in a forked child that became user nobody; True if it returned True."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = 0 if check() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@needs_root
def test_for_a_plain_user_their_file_is_read_and_roots_is_refused(shared_dir: Path) -> None:
    mine, roots = shared_dir / "mine.toml", shared_dir / "roots.toml"
    mine.write_text("a = 1\n")
    roots.write_text("a = 1\n")
    os.chown(mine, NOBODY, NOBODY)

    def refused() -> bool:
        try:
            trust.read_owned(roots)
        except UntrustedError as e:
            return f"{roots} is owned by root (uid 0), not by you" in str(e)
        return False

    assert as_nobody(lambda: os.geteuid() == NOBODY and trust.read_owned(mine).data == b"a = 1\n")
    assert as_nobody(refused)


def test_command_keys_of_a_profile() -> None:
    table = {"host": "h", "setup": ["x"], "ssh_config": "c", "venv": "", "jupyter_args": [], "exclude": ["a"]}
    assert trust.command_keys(table) == ["setup", "ssh_config"]  # empty values run nothing
    assert trust.command_keys(table, ssh_config_override="/mine") == ["setup"]
    assert trust.command_keys({"host": "h", "remote_dir": "~", "pull": ["r"], "local_port": 1}) == []
    tables = {"a": {"host": "h", "setup": "s"}, "b": {"jupyter": "/j", "app": "lab", "conda_env": "c"}}
    assert trust.commands_of(tables) == [("a", "setup", "s"), ("b", "jupyter", "/j"), ("b", "conda_env", "c")]


def test_pinned_hash_approves_exactly_that_content(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "state", tmp_path / "rt")
    path = tmp_path / "remotebook.toml"
    path.write_text('setup = "a"\n')
    first = trust.read_owned(path)
    assert trust.verdict(trust.approvals(paths), first) == "new"
    trust.record(paths, first)
    assert trust.verdict(trust.approvals(paths), trust.read_owned(path)) == "approved"
    path.write_text('setup = "b"\n')
    assert trust.verdict(trust.approvals(paths), trust.read_owned(path)) == "changed"
    path.write_text('setup = "a"\n')  # back to what was approved
    assert trust.verdict(trust.approvals(paths), trust.read_owned(path)) == "approved"
    entry = trust.entries(paths)[str(path)]
    assert entry["sha256"] == first.sha256 and entry["by"] == "trust" and entry["approved"].endswith("Z")
    assert trust.revoke(paths, path) and not trust.revoke(paths, path)
    assert trust.verdict(trust.approvals(paths), first) == "new"


def test_the_store_is_private_atomic_and_keeps_other_entries(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "state", tmp_path / "rt")
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("1")
    b.write_text("2")
    trust.record(paths, trust.read_owned(a))
    trust.record(paths, trust.read_owned(b), by="init")
    store = trust.store_file(paths)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600 and stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert sorted(json.loads(store.read_text())["files"]) == [str(a), str(b)]
    assert sorted(p.name for p in store.parent.iterdir()) == ["trusted.json", "trusted.json.lock"]  # no temp file


def test_a_damaged_or_unsafe_store_approves_nothing(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "state", tmp_path / "rt")
    path = tmp_path / "a.toml"
    path.write_text("1")
    trust.record(paths, trust.read_owned(path))
    store = trust.store_file(paths)
    store.chmod(0o666)  # someone else could have written an approval in it
    assert trust.approvals(paths) == {}
    store.chmod(0o600)
    assert trust.approvals(paths) == {str(path): trust.read_owned(path).sha256}
    store.write_text("{not json")
    assert trust.approvals(paths) == {}
    trust.record(paths, trust.read_owned(path))  # a damaged store is replaced, not a crash
    assert list(trust.approvals(paths)) == [str(path)]
