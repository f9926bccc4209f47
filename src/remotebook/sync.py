"""rsync push/pull over the target's ssh master; when both sides changed a file, keep both."""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remotebook import proc, ssh
from remotebook.config import Profile
from remotebook.errors import EXIT_SYNC, RemotebookError, UsageError
from remotebook.session import Session

log = logging.getLogger(__name__)

MANIFEST = "sync.json"  # per project: size and mtime of every file as of the last sync
PARTIAL_DIR = ".rsync-partial"  # an interrupted transfer waits here, never in place
ALWAYS_SKIPPED = [
    ".git/", "__pycache__/", ".ipynb_checkpoints/", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/",
    ".ruff_cache/", ".tox/", "node_modules/", f"{PARTIAL_DIR}/", ".DS_Store",
]  # fmt: skip
# Ride the target's master; if none runs, make a short-lived one that ends 30 s after the sync.
SHORT_PERSIST = "30"  # a master that sync makes itself (no `up` running) lingers this long for the next sync
TRANSFER_TIMEOUT = 24 * 3600.0  # a backstop only: big results take as long as they take


class SyncError(RemotebookError):
    """rsync failed, or was asked to do something unsafe."""

    exit_code = EXIT_SYNC


@dataclass
class Plan:
    """What one sync will do: rsync's own dry-run list, split into safe updates and conflicts."""

    updates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each file to send
    created: set[str] = field(default_factory=set)  # updates that do not exist at the destination yet
    changes: int = 0  # every item rsync would touch (files, dirs, links, attributes)

    @property
    def bytes(self) -> int:
        return sum(self.sizes.get(name, 0) for name in self.updates)


@dataclass
class Outcome:
    direction: str
    plan: Plan
    kept: dict[str, str]  # conflicting path -> where the other side's version was kept
    seconds: float
    bytes: int
    dry_run: bool

    def summary(self) -> str:
        verb = "would transfer" if self.dry_run else "transferred"
        line = f"{self.direction}: {verb} {len(self.plan.updates)} file(s), {self.bytes:,} bytes in {self.seconds:.1f}s"
        if self.plan.conflicts:
            line += f"; {len(self.plan.conflicts)} conflict(s), both versions kept"
        if self.plan.deletions:
            line += f"; {len(self.plan.deletions)} deletion(s)"
        return line


def rsync_argv(sess: Session, *extra: str) -> list[str]:
    """rsync with -e set to our ssh (same -F, same control socket; a master is made if none runs)."""
    if shutil.which("rsync") is None:
        raise SyncError(
            "rsync is not installed on this computer", hint="install it (apt install rsync / brew install rsync)"
        )
    rsh = sess.target.argv(*ssh.master_options(sess.target, SHORT_PERSIST))
    return ["rsync", "-a", f"--partial-dir={PARTIAL_DIR}", "-e", shlex.join(rsh), *extra]


def remote_root(sess: Session) -> str:
    """`dest:path/` with ~ made relative (ssh starts in the home; rsync quotes what it sends)."""
    path = sess.profile.remote_dir
    if path in ("~", "~/"):
        path = "."
    elif path.startswith("~/"):
        path = path[2:]
    return f"{sess.target.destination}:{path.rstrip('/')}/"


def filters(profile: Profile, direction: str, paths: list[str]) -> list[str]:
    """rsync filter rules: always-skipped dirs, .gitignore files, the profile's excludes, the paths asked for."""
    rules = [f"--exclude={pattern}" for pattern in [*ALWAYS_SKIPPED, *profile.exclude]]
    rules.append("--filter=:- .gitignore")  # rsync reads each dir's .gitignore as exclude rules
    wanted = paths or ([*profile.pull, "*.ipynb"] if direction == "pull" else [])
    if wanted:
        rules.append("--include=*/")
        for item in wanted:
            anchored = item if item.startswith("*") else "/" + item.strip("/")
            rules += [f"--include={anchored}", f"--include={anchored}/***"]
        rules += ["--exclude=*", "--prune-empty-dirs"]
    return rules


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


ITEM = "%i|%l|%n"  # what parse_itemized reads, from the dry run's stdout or the transfer's log file
ITEM_FORMAT = f"--out-format={ITEM}"
LOG_FORMAT = f"--log-file-format={ITEM}"
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ", re.M)  # rsync's --log-file lines


def parse_itemized(output: str) -> Plan:
    """rsync `--itemize-changes --out-format=%i|%l|%n` lines -> files to update (with sizes) and to delete."""
    plan = Plan()
    for line in output.splitlines():
        parts = line.split("|", 2)
        if len(parts) != 3:
            continue
        flags, size, name = parts
        if name != "./" or not flags.startswith("."):
            plan.changes += 1
        if flags.startswith("*deleting"):
            plan.deletions.append(name.rstrip("/"))
        elif flags[:1] in (">", "<") and flags[1:2] == "f":
            plan.updates.append(name)
            plan.sizes[name] = int(size) if size.isdigit() else 0
            if flags.endswith("+++++++++"):
                plan.created.add(name)
    return plan


def parse_listing(output: str) -> dict[str, tuple[int, int]]:
    """`rsync --list-only --no-human-readable` -> {path: (size, mtime)} for regular files."""
    files = {}
    for line in output.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 5 or not parts[0].startswith("-"):
            continue
        stamp = time.mktime(time.strptime(f"{parts[2]} {parts[3]}", "%Y/%m/%d %H:%M:%S"))
        files[parts[4]] = (int(parts[1]), int(stamp))
    return files


def local_meta(root: Path, names: list[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for name in names:
        try:
            st = (root / name).lstat()
        except OSError:
            continue
        out[name] = (st.st_size, int(st.st_mtime))
    return out


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
    return Plan(safe, kept, plan.deletions, plan.sizes, plan.created, plan.changes)


def _unchanged(name: str, now: tuple[int, int], was: list[Any], dest_hash: Callable[[str], str | None]) -> bool:
    if tuple(was[:2]) == now:
        return True
    return len(was) > 2 and was[0] == now[0] and dest_hash(name) == was[2]


HASHED_UP_TO = 8 * 1024 * 1024  # files this small get a hash in the manifest; big data is judged by size+mtime


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
) -> Outcome:
    """Plan with rsync's dry run, set conflicting files aside, transfer, record the new state.

    What to skip and what a pull brings back come from the profile (`exclude`, `pull`).
    """
    project = sess.profile.project_dir
    local, remote = f"{project}/", remote_root(sess)
    src, dst = (local, remote) if direction == "push" else (remote, local)
    rules = filters(sess.profile, direction, check_paths(project, paths or []))
    start = time.monotonic()
    manifest = sess.store.load(MANIFEST) or {}
    dry_args = [*rules, *(["--delete"] if delete else []), "-n", "-i", ITEM_FORMAT, src, dst]
    if direction == "push" and not manifest and _mkdir_remote(sess) and not dry_run:
        # The remote dir did not exist: nothing there can conflict, so no planning pass.
        return _first_push(sess, rules, src, dst, progress=progress, start=start)
    plan = parse_itemized(_rsync(sess, dry_args).stdout)
    dest_hash = (lambda name: file_hash(project / name)) if direction == "pull" else _no_hash
    plan = conflicts(plan, _destination_now(sess, direction, plan, rules), manifest, dest_hash)
    if dry_run:
        return Outcome(direction, plan, {}, time.monotonic() - start, plan.bytes, True)
    kept = _keep_both(sess, direction, plan.conflicts, src, dst)
    skip = [f"--exclude=/{name}" for name in plan.conflicts]
    shown = ["--info=progress2"] if progress and plan.updates else []
    if plan.changes:  # rsync's dry run found nothing to do: no second pass over the tree
        _rsync(sess, [*skip, *rules, *(["--delete"] if delete else []), *shown, src, dst], show=bool(shown))
    _record(sess, manifest, plan, project)
    return Outcome(direction, plan, kept, time.monotonic() - start, plan.bytes, False)


def _first_push(sess: Session, rules: list[str], src: str, dst: str, *, progress: bool, start: float) -> Outcome:
    """One rsync pass into an empty dir; what it did comes from its log file (stdout may show progress)."""
    import tempfile

    from remotebook.paths import private_dir

    with tempfile.TemporaryDirectory(prefix="rb-sync-", dir=private_dir(sess.paths.runtime_dir)) as tmp:
        log_file = Path(tmp) / "rsync.log"
        shown = ["--info=progress2"] if progress else []
        _rsync(sess, [*rules, f"--log-file={log_file}", LOG_FORMAT, *shown, src, dst], show=progress)
        plan = parse_itemized(_LOG_PREFIX.sub("", log_file.read_text(encoding="utf-8", errors="replace")))
    _record(sess, {}, plan, sess.profile.project_dir)
    return Outcome("push", plan, {}, time.monotonic() - start, plan.bytes, False)


def _destination_now(sess: Session, direction: str, plan: Plan, rules: list[str]) -> dict[str, tuple[int, int]]:
    """Size and mtime of the destination's copies of files the sync would overwrite.

    Only files that exist on both sides can conflict, so the remote is listed only when
    there are some (a no-change or new-files-only push skips that pass over the tree).
    """
    existing = [name for name in plan.updates if name not in plan.created]
    if direction == "pull":
        return local_meta(sess.profile.project_dir, existing)
    return _remote_meta(sess, rules) if existing else {}


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


def _rsync(sess: Session, args: list[str], show: bool = False) -> proc.Result:
    """rsync to completion; `show` lets its progress line reach the terminal (stdout not captured)."""
    result = proc.run(rsync_argv(sess, *args), timeout=TRANSFER_TIMEOUT, capture=not show)
    if result.returncode != 0:
        raise _translate(result)
    return result


def _mkdir_remote(sess: Session) -> bool:
    """Make the remote dir if needed; True when it did not exist (then nothing there can conflict)."""
    path = shlex.quote(remote_root(sess).split(":", 1)[1].rstrip("/") or ".")
    argv = sess.target.argv(*ssh.master_options(sess.target, SHORT_PERSIST), "-T", "--")
    command = f"test -d {path} && exit 0; mkdir -p -- {path} && echo created"
    result = proc.run([*argv, sess.target.destination, command], timeout=60)
    if result.returncode == 255:
        raise ssh.classify_failure(sess.target.destination, result.stderr)
    if result.returncode != 0:
        raise SyncError(f"cannot create {path} on {sess.profile.host}: {result.stderr.strip()}")
    return result.stdout.strip().endswith("created")


def _remote_meta(sess: Session, rules: list[str]) -> dict[str, tuple[int, int]]:
    listing = _rsync(sess, [*rules, "-r", "--list-only", "--no-human-readable", remote_root(sess)])
    return parse_listing(listing.stdout)


def _keep_both(sess: Session, direction: str, names: list[str], src: str, dst: str) -> dict[str, str]:
    """Copy the source's version of each conflicting file beside the destination's, under a new name."""
    stamp = time.strftime("%Y-%m-%dT%H%M")
    side = "local" if direction == "push" else "remote"
    kept = {}
    for name in names:
        beside = side_name(name, side, stamp)
        _rsync(sess, [src + name, dst + beside])
        kept[name] = beside
    return kept


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


def _translate(result: proc.Result) -> RemotebookError:
    tail = result.stderr.strip().splitlines()[-3:] if result.stderr.strip() else []
    if "command not found" in result.stderr or result.returncode == 127:
        return SyncError("rsync is not installed on the remote", hint="install it there (apt install rsync)")
    if "No space left on device" in result.stderr:
        return SyncError("the destination disk is full", hint="free some space and sync again; nothing was lost")
    if "Permission denied" in result.stderr and result.returncode != 255:
        return SyncError("permission denied while syncing", hint=" / ".join(tail), detail="\n".join(tail))
    reason = _RSYNC_EXITS.get(result.returncode, f"rsync exited {result.returncode}")
    return SyncError(f"sync failed: {reason}", hint="run with -v for rsync's own words", detail="\n".join(tail))
