"""rsync's text, read and written exactly: itemized and listing output (escaped names read back),
its version lines, and patterns that match one literal path. Pure: no process, no file."""

from __future__ import annotations

import calendar
import os
import re
import time
from dataclasses import dataclass, field

Stamp = tuple[int, ...]  # what a destination file looked like: (size, mtime[, ...])


@dataclass
class Plan:
    """What one sync will do: rsync's own dry-run list, split into safe updates and conflicts."""

    updates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each file to send
    created: set[str] = field(default_factory=set)  # updates that do not exist at the destination yet
    changes: int = 0  # every item rsync would touch (files, dirs, links, attributes)
    items: list[str] = field(default_factory=list)  # every path the transfer sends (files, dirs, links)
    deleted_dirs: set[str] = field(default_factory=set)  # deletions that are directories
    seen: dict[str, Stamp] = field(default_factory=dict)  # the destination's files as the plan saw them
    protocol: int = 0  # the remote rsync's protocol, from the dry run

    @property
    def bytes(self) -> int:
        return sum(self.sizes.get(name, 0) for name in self.updates)


def parse_version(output: str) -> tuple[int, ...] | None:
    """`rsync --version` -> (3, 2, 7); None for something else answering to the name (openrsync)."""
    found = re.match(r"rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)", output)
    return tuple(int(n) for n in found.groups()) if found else None


def parse_protocol(output: str) -> int | None:
    """The remote's protocol from `--debug=proto`: `(Client) Protocol versions: remote=32, negotiated=32`."""
    found = re.search(r"^\(Client\) Protocol versions: remote=(\d+)", output, re.M)
    return int(found[1]) if found else None


def literal(path: str, tail: str = "") -> str:
    """`path` + `tail` as an rsync pattern that matches that path only.

    rsync reads a backslash as an escape only in a pattern that has a wildcard, so a
    name is escaped exactly when the pattern (with its tail) will have one.
    """
    if tail or any(c in path for c in "*?["):
        return re.sub(r"([*?[\]\\])", r"\\\1", path) + tail
    return path


ITEM = "%i|%l|%n"  # what parse_itemized reads, from the dry run's stdout or the transfer's log file
ITEM_FORMAT = f"--out-format={ITEM}"
LOG_FORMAT = f"--log-file-format={ITEM}"
LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ", re.M)  # rsync's --log-file lines
_ESCAPED = re.compile(rb"\\#([0-3][0-7][0-7])")  # rsync prints a byte it will not show as \#ooo (octal)


def unescape(name: str) -> str:
    """A name as rsync printed it -> the name on disk, whatever the locale.

    rsync escapes control characters, and bytes that are not printable in its locale
    (all non-ASCII under C/POSIX), as `\\#ooo`; a real backslash followed by `#ddd` is
    escaped too, so the reading is unambiguous. sync runs rsync under LC_ALL=C, so what
    it prints is ASCII and exact through any decoding; surrogates carry non-UTF-8 names.
    """
    raw = name.encode("utf-8", "surrogateescape")
    return os.fsdecode(_ESCAPED.sub(lambda m: bytes([int(m[1], 8)]), raw))


def parse_itemized(output: str) -> Plan:
    """rsync `--itemize-changes --out-format=%i|%l|%n` lines -> files to update (with sizes) and to delete."""
    plan = Plan()
    for line in output.split("\n"):  # not splitlines(): a name may hold U+2028 or \x1c, a line ends at \n only
        parts = line.split("|", 2)
        if len(parts) != 3 or len(parts[0]) < 11:
            continue
        flags, size, shown = parts
        name = unescape(shown).rstrip("/")
        if shown != "./" or not flags.startswith("."):
            plan.changes += 1
        if flags.startswith("*deleting"):
            plan.deletions.append(name)
            if shown.endswith("/"):
                plan.deleted_dirs.add(name)
            continue
        if shown != "./":
            plan.items.append(name)
        if flags[:1] in (">", "<") and flags[1:2] == "f":
            plan.updates.append(name)
            plan.sizes[name] = int(size) if size.isdigit() else 0
            if flags.endswith("+++++++++"):
                plan.created.add(name)
    return plan


_LISTED = re.compile(r"^(\S{10})\s+(\d+) (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) (.*)$")


def parse_listing(output: str) -> dict[str, tuple[int, int]]:
    """`rsync --list-only --no-human-readable` run with TZ=UTC -> {path: (size, mtime)} for regular files."""
    files = {}
    for line in output.split("\n"):
        found = _LISTED.match(line)
        if found is None or not found[1].startswith("-"):
            continue
        stamp = calendar.timegm(time.strptime(found[3], "%Y/%m/%d %H:%M:%S"))
        files[unescape(found[4])] = (int(found[2]), stamp)
    return files
