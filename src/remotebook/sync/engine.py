"""rsync push/pull over the target's ssh master; when both sides changed a file, keep both."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remotebook.core import proc
from remotebook.core.errors import RemotebookError, SyncError, UsageError
from remotebook.local.config import Profile
from remotebook.project.handle import Session
from remotebook.remote.door import Request, call
from remotebook.sync import rsync, skips
from remotebook.sync.rsync import PARTIAL_DIR, SHORT_PERSIST
from remotebook.sync.rsync_text import (
    ITEM_FORMAT,
    LOG_FORMAT,
    LOG_PREFIX,
    Plan,
    Stamp,
    literal,
    parse_itemized,
    parse_listing,
    parse_protocol,
)

log = logging.getLogger(__name__)

MANIFEST = "sync.json"  # per project: size and mtime of every file as of the last sync
BACKUP_DIR = ".rsync-backup"  # what a transfer replaced or deleted waits here until checked against the plan
ALWAYS_SKIPPED = [
    ".git/", "__pycache__/", ".ipynb_checkpoints/", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/",
    ".ruff_cache/", ".tox/", "node_modules/", f"{PARTIAL_DIR}/", f"{BACKUP_DIR}/", ".DS_Store",
]  # fmt: skip
TRANSFER_TIMEOUT = 24 * 3600.0  # a backstop only: big results take as long as they take
REMOTE_PROTOCOL_NEEDED = 31  # rsync 3.1.0: --delete-missing-args, --info
VANISHED = 24  # rsync: a source file went away after the plan; the rest was transferred


@dataclass
class Outcome:
    direction: str
    plan: Plan
    kept: dict[str, str]  # conflicting path -> where the other side's version was kept
    seconds: float
    bytes: int
    dry_run: bool
    skipped: list[str] = dataclasses.field(default_factory=list)  # start-up files never pushed (skips.Skip)
    skip_why: str = ""

    def summary(self) -> str:
        verb = "would transfer" if self.dry_run else "transferred"
        line = f"{self.direction}: {verb} {len(self.plan.updates)} file(s), {self.bytes:,} bytes in {self.seconds:.1f}s"
        if self.plan.conflicts:
            line += f"; {len(self.plan.conflicts)} conflict(s), both versions kept"
        if self.plan.deletions:
            line += f"; {len(self.plan.deletions)} deletion(s)"
        if self.skipped:
            shown = ", ".join(self.skipped[:8]) + (", ..." if len(self.skipped) > 8 else "")
            line += f"; skipped {len(self.skipped)} start-up item(s) the server would read ({self.skip_why}): {shown}"
        return line


def remote_root(sess: Session) -> str:
    """`dest:path/` with ~ made relative (ssh starts in the home; rsync quotes what it sends)."""
    return f"{sess.target.destination}:{_remote_path(sess)}/"


def _remote_path(sess: Session) -> str:
    path = sess.profile.remote_dir
    if path in ("", "~", "~/"):  # the home, as the remote scripts read them (rb_abs)
        return "."
    if path.startswith("~/"):
        path = path[2:]
    return path.rstrip("/") or "/"


def filters(profile: Profile, direction: str, paths: list[str], skip: skips.Skip | None = None) -> list[str]:
    """rsync filter rules: start-up files, always-skipped dirs, .gitignore files, the profile's excludes, the paths.

    Each `exclude` of the profile is a plain exclude (`- PATTERN`): a `+ x` or `!` in it would
    otherwise be read as an include, or clear the always-skipped list (.git/ and its hooks).
    """
    rules = [f"--exclude={skip.pattern()}"] if skip is not None else []  # first: no include can undo it
    rules += [f"--exclude={pattern}" for pattern in ALWAYS_SKIPPED]
    rules += [f"--filter=- {pattern}" for pattern in profile.exclude]
    rules.append("--filter=:- .gitignore")  # rsync reads each dir's .gitignore as exclude rules
    if paths:  # paths on the command line are names, the profile's `pull` entries are patterns
        wanted = [(literal("/" + item.strip("/")), literal("/" + item.strip("/"), "/***")) for item in paths]
    elif direction == "pull":
        wanted = [_pattern_pair(item) for item in [*profile.pull, "*.ipynb"]]
    else:
        wanted = []
    if wanted:
        rules.append("--include=*/")
        for exact, below in wanted:
            rules += [f"--include={exact}", f"--include={below}"]
        rules += ["--exclude=*", "--prune-empty-dirs"]
    return rules


def _pattern_pair(item: str) -> tuple[str, str]:
    anchored = item if item.startswith("*") else "/" + item.strip("/")
    return anchored, f"{anchored}/***"


def check_paths(project: Path, paths: list[str]) -> list[str]:
    """PATHs relative to the project; one that leaves the project is refused."""
    out = []
    for raw in paths:
        full = (Path.cwd() / raw).resolve()
        try:
            out.append(str(full.relative_to(project.resolve())) or ".")
        except ValueError:
            raise UsageError(f"{raw} is outside the project {project}", hint="sync only paths inside it") from None
    return out


def local_stamps(root: Path, names: list[str]) -> dict[str, Stamp]:
    """(size, mtime in ns, inode) of each name that exists: what a later change would alter."""
    out: dict[str, Stamp] = {}
    for name in names:
        with contextlib.suppress(OSError):
            st = (root / name).lstat()
            out[name] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def local_meta(root: Path, names: list[str]) -> dict[str, tuple[int, int]]:
    return {name: (s[0], s[1] // 1_000_000_000) for name, s in local_stamps(root, names).items()}


def conflicts(
    plan: Plan,
    dest_now: dict[str, tuple[int, int]],
    manifest: dict[str, Any],
    dest_hash: Callable[[str], str | None] = lambda _name: None,
) -> Plan:
    """A file the sync would overwrite conflicts when the destination changed since the last sync.

    Unchanged since then means it is safe to overwrite: same size and mtime as recorded, or
    (a file only touched) same size and the same hash. Never synced and present on both
    sides means we cannot know, so it is kept too.
    """
    safe, kept = [], []
    for name in plan.updates:
        now, was = dest_now.get(name), manifest.get(name)
        if now is None or (was is not None and _unchanged(name, now, was, dest_hash)):
            safe.append(name)
        else:
            kept.append(name)
    conflicting = set(kept)
    items = [name for name in plan.items if name not in conflicting]
    return dataclasses.replace(plan, updates=safe, conflicts=kept, items=items)


def _unchanged(name: str, now: tuple[int, int], was: list[Any], dest_hash: Callable[[str], str | None]) -> bool:
    if tuple(was[:2]) == now:
        return True
    return len(was) > 2 and was[0] == now[0] and dest_hash(name) == was[2]


HASHED_UP_TO = 8 * 1024 * 1024  # files this small get a hash in the manifest; big data is judged by size+mtime


def unchanged_here(sess: Session, name: str) -> bool:
    """Is the local file as it was at the last sync (so a push has nothing of ours to send)?"""
    was = (sess.store.load(MANIFEST) or {}).get(name)
    now = local_meta(sess.profile.project_dir, [name]).get(name)
    if not isinstance(was, list) or now is None:
        return False
    return _unchanged(name, now, was, lambda _name: file_hash(sess.profile.project_dir / name))


def file_hash(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _no_hash(_name: str) -> str | None:
    return None  # the destination of a push is remote: hashing there would cost a pass


def side_name(name: str, side: str, stamp: str) -> str:
    """`analysis.ipynb` -> `analysis.remote-2026-11-26T1032.ipynb`."""
    path = Path(name)
    return str(path.with_name(f"{path.stem}.{side}-{stamp}{path.suffix}"))


def run(
    sess: Session,
    direction: str,
    *,
    paths: list[str] | None = None,
    dry_run: bool = False,
    delete: bool = False,
    progress: bool = False,
    confirm: Callable[[list[str]], None] | None = None,
) -> Outcome:
    """Plan with rsync's dry run, set conflicting files aside, transfer, record the new state.

    What to skip and what a pull brings back come from the profile (`exclude`, `pull`).
    With `delete`, `confirm` sees the deletions first (it raises to stop); exactly the
    planned list is then deleted, with no second plan in between.
    """
    start = time.monotonic()
    rsync.local_rsync()  # before anything touches the server
    project = sess.profile.project_dir
    wanted = check_paths(project, paths or [])
    manifest = sess.store.load(MANIFEST) or {}
    created, skip = _judged_root(sess, direction, make=direction == "push" and not manifest)
    skip = skip if direction == "push" else None
    rules = filters(sess.profile, direction, wanted, skip)
    if created and not manifest and not dry_run:
        # The remote dir did not exist: nothing there can conflict, so no planning pass.
        return _noted(_first_push(sess, rules, progress=progress, start=start), project, skip)
    planned = plan(sess, direction, rules, manifest, delete=delete)
    if dry_run:
        return _noted(Outcome(direction, planned, {}, time.monotonic() - start, planned.bytes, True), project, skip)
    if planned.deletions and confirm is not None:
        confirm(planned.deletions)
    kept = apply(sess, direction, planned, progress=progress)
    _record(sess, manifest, planned, project)
    return _noted(Outcome(direction, planned, kept, time.monotonic() - start, planned.bytes, False), project, skip)


def _noted(outcome: Outcome, project: Path, skip: skips.Skip | None) -> Outcome:
    """The outcome, naming what the push left out (never silently)."""
    if skip is not None:
        outcome.skipped, outcome.skip_why = skipped_here(project, skip), skip.why
    return outcome


ROOT_RECORD = "sync-root.json"  # per project: the remote_dir last judged on the server, and where it really is


def _judged_root(sess: Session, direction: str, *, make: bool) -> tuple[bool, skips.Skip | None]:
    """Has the server judged this remote_dir (refused the account's, unless chosen)? (made it now, what to skip).

    The judgement rides a call the push makes anyway (`mkdir`, before a first push) or, when
    remote_dir or its approval changed since the last sync, one `check`; a sync of the same
    remote_dir again costs no round trip.
    """
    values = sess.profile.root_values()
    record = sess.store.load(ROOT_RECORD) or {}
    if not make and record.get("values") == values and isinstance(record.get("root"), str):
        return False, skips.skip_for(record["root"], [str(h) for h in record.get("homes", [])])
    request = Request("sync", "mkdir" if make or direction == "push" else "check", values)
    answer = call(sess.target, request, timeout=60, persist=SHORT_PERSIST)
    root, homes = str(answer.data.get("root", "")), [str(h) for h in answer.data.get("homes", [])]
    sess.store.save({"values": values, "root": root, "homes": homes}, ROOT_RECORD)
    return bool(answer.data.get("created")), skips.skip_for(root, homes)


def skipped_here(project: Path, skip: skips.Skip) -> list[str]:
    """The project's items that `skip` keeps from the server (what the summary names), dirs with a /."""
    folder = project / skip.folder
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    always = {name.rstrip("/") for name in ALWAYS_SKIPPED}
    chosen = [name for name in entries if (skip.everything or name.startswith(".")) and name not in always]
    prefix = f"{skip.folder}/" if skip.folder else ""
    return [prefix + name + ("/" if (folder / name).is_dir() else "") for name in chosen]


def _ends(sess: Session, direction: str) -> tuple[str, str]:
    local, remote = f"{sess.profile.project_dir}/", remote_root(sess)
    return (local, remote) if direction == "push" else (remote, local)


def plan(sess: Session, direction: str, rules: list[str], manifest: dict[str, Any], *, delete: bool) -> Plan:
    """rsync's dry run, checked against the destination: what would change, what conflicts."""
    src, dst = _ends(sess, direction)
    dry = _rsync(sess, [*rules, *(["--delete"] if delete else []), "-n", "-i", ITEM_FORMAT, "--debug=proto", src, dst])
    found = parse_itemized(dry.stdout)
    found.protocol = parse_protocol(dry.stdout) or 0
    if found.protocol and found.protocol < REMOTE_PROTOCOL_NEEDED:
        raise _remote_too_old(sess, f"protocol {found.protocol}")
    project = sess.profile.project_dir
    found.seen = _destination_now(sess, direction, found, rules)
    meta = {name: (s[0], s[1] // 1_000_000_000 if direction == "pull" else s[1]) for name, s in found.seen.items()}
    dest_hash = (lambda name: file_hash(project / name)) if direction == "pull" else _no_hash
    return conflicts(found, meta, manifest, dest_hash)


def _remote_too_old(sess: Session, found: str) -> SyncError:
    return SyncError(
        f"the rsync on {sess.profile.host} is too old ({found}): sync needs 3.1.0 or newer there",
        hint=f"upgrade rsync on {sess.profile.host}",
    )


def _destination_now(sess: Session, direction: str, plan: Plan, rules: list[str]) -> dict[str, Stamp]:
    """The destination's copies of files the sync would overwrite or delete, as they are now.

    Only files that exist on both sides can conflict, so the remote is listed only when
    there are some (a no-change or new-files-only push skips that pass over the tree).
    """
    existing = [name for name in plan.updates if name not in plan.created]
    existing += [name for name in plan.deletions if name not in plan.deleted_dirs]
    if direction == "pull":
        return local_stamps(sess.profile.project_dir, existing)
    listed = _remote_meta(sess, rules) if existing else {}
    return {name: listed[name] for name in existing if name in listed}


def apply(sess: Session, direction: str, planned: Plan, *, progress: bool = False) -> dict[str, str]:
    """Do what `planned` says and nothing else; returns conflicting path -> where the other version went.

    Every destination file the transfer replaces or deletes is moved aside by rsync
    (--backup-dir) and compared with what the plan saw: one that changed since (Jupyter
    saving during the sync) is put back, and the incoming version is kept beside it.
    """
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    backup = f"{BACKUP_DIR}/{run_id}"
    stamp = time.strftime("%Y-%m-%dT%H%M")
    kept, replaced = _keep_both(sess, direction, planned.conflicts, backup, stamp)
    replaced += [name for name in planned.updates if name not in planned.created]
    shown = ["--info=progress2"] if progress and planned.updates else []
    if planned.items:
        done = _transfer(sess, direction, planned.items, [f"--backup-dir={backup}", *shown])
        replaced += [name for name in done.updates if name not in done.created]
    files = [name for name in planned.deletions if name not in planned.deleted_dirs]
    if files:
        _transfer(sess, direction, files, [f"--backup-dir={backup}", "--delete-missing-args"])
        replaced += files
    dirs = sorted(planned.deleted_dirs, key=lambda d: d.count("/"), reverse=True)  # deepest first
    if direction == "pull":
        back = _restore_local(sess.profile.project_dir, backup, planned.seen, stamp, dirs)
    else:
        back = _restore_remote(sess, backup, sorted(set(replaced)), planned.seen, stamp, dirs)
    for name, beside in back.items():  # changed since the plan: not synced after all
        for listed in (planned.updates, planned.deletions):
            if name in listed:
                listed.remove(name)
        if beside is not None:
            planned.conflicts.append(name)
            kept[name] = beside
    return kept


def _transfer(sess: Session, direction: str, names: list[str], extra: list[str], src: str = "", dst: str = "") -> Plan:
    """rsync exactly `names` (a NUL-separated --files-from list: no name is ever a pattern); what it did."""
    ends = _ends(sess, direction)
    src, dst = src or ends[0], dst or ends[1]
    with _scratch(sess) as tmp:
        listed, log_file = tmp / "names", tmp / "rsync.log"
        listed.write_bytes(b"".join(os.fsencode(name) + b"\0" for name in names))
        args = [f"--files-from={listed}", "--from0", "--backup", f"--log-file={log_file}", LOG_FORMAT, *extra]
        _rsync(sess, [*args, src, dst], show="--info=progress2" in extra, ok=(0, VANISHED))
        return parse_itemized(_read_log(log_file))


@contextlib.contextmanager
def _scratch(sess: Session) -> Iterator[Path]:
    from remotebook.local.paths import private_dir

    with tempfile.TemporaryDirectory(prefix="rb-sync-", dir=private_dir(sess.paths.runtime_dir)) as tmp:
        yield Path(tmp)


def _read_log(log_file: Path) -> str:
    """rsync's log file without its line prefixes, decoded so that `unescape` gets its bytes back.

    Unlike stdout, the log keeps bytes >= 0xa0 raw even under LC_ALL=C (and escapes 0x80-0x9f).
    """
    raw = log_file.read_bytes() if log_file.exists() else b""
    return LOG_PREFIX.sub("", raw.decode("utf-8", "surrogateescape"))


def _first_push(sess: Session, rules: list[str], *, progress: bool, start: float) -> Outcome:
    """One rsync pass into an empty dir; what it did comes from its log file (stdout may show progress)."""
    src, dst = _ends(sess, "push")
    with _scratch(sess) as tmp:
        log_file = tmp / "rsync.log"
        shown = ["--info=progress2"] if progress else []
        _rsync(sess, [*rules, f"--log-file={log_file}", LOG_FORMAT, *shown, src, dst], show=progress)
        done = parse_itemized(_read_log(log_file))
    _record(sess, {}, done, sess.profile.project_dir)
    return Outcome("push", done, {}, time.monotonic() - start, done.bytes, False)


def _keep_both(
    sess: Session, direction: str, names: list[str], backup: str, stamp: str
) -> tuple[dict[str, str], list[str]]:
    """Put the source's version of each conflicting file beside the destination's, under a new name.

    One rsync for all of them, through a staging folder in the project's own backup dir:
    a pull fetches them there and renames each into place (never over an existing file);
    a push hard-links them there under their new names and sends that list.
    """
    if not names:
        return {}, []
    project = sess.profile.project_dir
    stage = project / f"{backup}.kept"
    _src, dst = _ends(sess, direction)
    kept, replaced = {}, []
    if direction == "pull":
        stage.mkdir(parents=True, exist_ok=True)
        _transfer(sess, direction, names, [], dst=f"{stage}/")
        for name in names:
            beside = _free_name(project, name, "remote", stamp)
            with contextlib.suppress(FileNotFoundError):  # gone from the server since the plan
                os.rename(stage / name, project / beside)
                kept[name] = beside
    else:
        for name in names:
            beside = side_name(name, "local", stamp)
            (stage / beside).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(project / name, stage / beside)
            except FileNotFoundError:
                continue  # deleted here since the plan: nothing to keep
            except OSError:  # no hard links on this file system
                shutil.copy2(project / name, stage / beside)
            kept[name] = beside
        if kept:  # a same-minute copy already there is moved aside by --backup, and put back by the check
            done = _transfer(sess, direction, list(kept.values()), [f"--backup-dir={backup}"], src=f"{stage}/")
            replaced = [name for name in done.updates if name not in done.created]
    shutil.rmtree(stage, ignore_errors=True)  # our own staging copies (links) only
    return kept, replaced


def _free_name(project: Path, name: str, side: str, stamp: str) -> str:
    """side_name(), with -2, -3... when a kept copy of that name exists already (two syncs in one minute)."""
    for n in range(1, 1000):
        beside = side_name(name, side, stamp if n == 1 else f"{stamp}-{n}")
        if not os.path.lexists(project / beside):
            return beside
    raise SyncError(f"too many kept copies of {name}", hint="remove old *.remote-* copies")


def _restore_local(
    project: Path, backup: str, seen: dict[str, Stamp], stamp: str, dirs: list[str]
) -> dict[str, str | None]:
    """Check what the transfer moved into `backup` against the plan; put back what changed since.

    Returns path -> where the incoming version now is (None: a deletion undone).
    """
    root, back = project / backup, {}
    for folder, _subdirs, leaves in os.walk(root):
        for leaf in leaves:
            path = Path(folder) / leaf
            name = str(path.relative_to(root))
            st = path.lstat()
            if seen.get(name) == (st.st_size, st.st_mtime_ns, st.st_ino):
                path.unlink()  # replaced as planned
                continue
            back[name] = _put_back(project, name, path, _free_name(project, name, "remote", stamp))
    _prune(root)
    for folder in dirs:  # confirmed deletions of folders, deepest first; one that is not empty stays
        with contextlib.suppress(OSError):
            (project / folder).rmdir()
    with contextlib.suppress(OSError):
        (project / BACKUP_DIR).rmdir()
    return back


def _put_back(project: Path, name: str, saved: Path, beside: str) -> str | None:
    log.warning("%s changed during the sync: it is put back", name)
    target = project / name
    moved = os.path.lexists(target)
    if moved:
        os.rename(target, project / beside)  # the incoming version, kept beside it
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(saved, target)
    return beside if moved else None


def _prune(root: Path) -> None:
    """Remove the empty folders of a backup dir, deepest first (a file left there stays, with its folders)."""
    if not root.is_dir():
        return
    for folder, _subdirs, _leaves in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


# Runs on the server after a push: `keep NAME 'SIZE MTIME' INDEX BESIDE-STEM EXT` per file the
# transfer may have replaced or deleted. A backup unlike the plan's view is put back, and the
# incoming version moved to BESIDE-STEM[-N]EXT (never over a file). GNU stat first, BSD stat second.
def _restore_remote(
    sess: Session, backup: str, names: list[str], seen: dict[str, Stamp], stamp: str, dirs: list[str]
) -> dict[str, str | None]:
    """_restore_local's check, on the server: one remote call, only after a push that replaced something."""
    if not names and not dirs:
        return {}
    words = []
    for i, name in enumerate(names):
        was, ext = seen.get(name), Path(name).suffix
        stem = side_name(name, "local", stamp).removesuffix(ext)
        words += [name, f"{was[0]} {was[1]}" if was else "-", str(i), stem, ext]
    values = {**sess.profile.root_values(), "BACKUP": backup, "KEEP": shlex.join(words), "DIRS": shlex.join(dirs)}
    answer = call(sess.target, Request("sync", "restore", values), timeout=120, persist=SHORT_PERSIST)
    back: dict[str, str | None] = {}
    for word, index, n in (
        item.split(".") for item in str(answer.data.get("done", "")).split() if item.count(".") == 2
    ):
        if word in ("kept", "back") and index.isdigit() and int(index) < len(names) and n.isdigit():
            name = names[int(index)]
            log.warning("%s changed on the server during the sync: it is put back", name)
            back[name] = side_name(name, "local", stamp if n == "1" else f"{stamp}-{n}") if word == "kept" else None
    return back


RETRY_DELAYS = (1, 2, 4, 8, 15)  # seconds between tries of a failed --watch push, the last repeated


def watch(project: Path, push: Callable[[], object], *, say: Callable[[str], None], debounce_ms: int = 400) -> None:
    """Call `push` after every burst of changes under `project` (debounced), until Ctrl-C.

    A failed push (connection down, say) is tried again with backoff, and on the next
    change, until it works: a change made while the link was down still arrives.
    """
    import watchfiles  # imported here: only `sync --watch` pays for it

    skipped = {name.rstrip("/") for name in ALWAYS_SKIPPED}
    quiet = watchfiles.DefaultFilter(ignore_dirs=tuple(skipped | set(watchfiles.DefaultFilter.ignore_dirs)))
    say(f"watching {project} (Ctrl-C to stop)")
    failures, retry_at = 0, 0.0
    for changes in watchfiles.watch(
        project, debounce=debounce_ms, watch_filter=quiet, raise_interrupt=True, rust_timeout=500, yield_on_timeout=True
    ):
        if not changes and not (failures and time.monotonic() >= retry_at):
            continue  # a tick with nothing to do
        try:
            push()
        except RemotebookError as e:
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            failures, retry_at = failures + 1, time.monotonic() + delay
            say(f"push failed: {e} (trying again in {delay}s, or on the next change)")
        else:
            failures = 0


def _rsync(
    sess: Session, args: list[str], show: bool = False, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> proc.Result:
    """rsync to completion; `show` lets its progress line reach the terminal (stdout not captured)."""
    # LC_ALL=C: rsync then escapes every non-ASCII byte of a name (\#ooo), whatever the user's locale,
    # so its output is ASCII, exact through any decoding, and unescape() reads it back byte for byte.
    # RSYNC_OLD_ARGS would hand the remote path to the remote shell unprotected again.
    env = {**(env or os.environ), "LC_ALL": "C"}
    env.pop("RSYNC_OLD_ARGS", None)
    result = proc.run(rsync.argv(sess.target, *args), timeout=TRANSFER_TIMEOUT, capture=not show, env=env)
    if result.returncode not in ok:
        raise _translate(result, sess.profile.host)
    return result


def _remote_meta(sess: Session, rules: list[str]) -> dict[str, tuple[int, int]]:
    utc = {**os.environ, "TZ": "UTC"}  # rsync prints times in local time: UTC reads back exactly
    listing = _rsync(sess, [*rules, "-r", "--list-only", "--no-human-readable", remote_root(sess)], env=utc)
    return parse_listing(listing.stdout)


def _record(sess: Session, manifest: dict[str, Any], plan: Plan, project: Path) -> None:
    """After a sync both sides hold the same bytes and mtime (rsync -a) for every updated file."""
    for name, meta in local_meta(project, plan.updates).items():
        digest = file_hash(project / name) if meta[0] <= HASHED_UP_TO else None
        manifest[name] = [*meta, digest] if digest else list(meta)
    for name in plan.deletions:
        manifest.pop(name, None)
    sess.store.save(manifest, MANIFEST)


_RSYNC_EXITS = {
    11: "a file could not be written (disk full or permission denied?)",
    12: "the rsync protocol broke (is rsync installed on the remote?)",
    23: "some files could not be transferred (permission denied?)",
    30: "the transfer timed out",
}


def _translate(result: proc.Result, host: str = "the remote") -> RemotebookError:
    tail = result.stderr.strip().splitlines()[-3:] if result.stderr.strip() else []
    if "command not found" in result.stderr or result.returncode == 127:
        return SyncError("rsync is not installed on the remote", hint="install it there (apt install rsync)")
    if "on remote machine" in result.stderr and "unknown option" in result.stderr:
        return SyncError(
            f"the rsync on {host} is too old (it does not know an option sync uses): sync needs 3.1.0 or newer there",
            hint=f"upgrade rsync on {host}",
        )
    if "No space left on device" in result.stderr:
        return SyncError("the destination disk is full", hint="free some space and sync again; nothing was lost")
    if "Permission denied" in result.stderr and result.returncode != 255:
        return SyncError("permission denied while syncing", hint=" / ".join(tail), detail="\n".join(tail))
    reason = _RSYNC_EXITS.get(result.returncode, f"rsync exited {result.returncode}")
    return SyncError(f"sync failed: {reason}", hint="run with -v for rsync's own words", detail="\n".join(tail))
