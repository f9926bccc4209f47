"""What pip and uv say when they fail: the requirement they blame (they say it only in prose)."""

from __future__ import annotations

import re
from pathlib import Path

_FAILED = [
    re.compile(r"Failed to (?:download and )?build `([^`]+)`"),  # uv
    re.compile(r"Because (\S+) was not found"),  # uv
    re.compile(r"you require ([^\s,]+?),"),  # uv, when the requirement exists in other versions
    re.compile(r"No matching distribution found for (\S+)"),  # pip
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),  # pip
    re.compile(r"Failed building wheel for (\S+)"),  # pip
    re.compile(r"Could not build wheels for (\S+?),"),  # pip
    re.compile(r"Failed to build installable wheels for some pyproject\.toml based projects \(([^)]+)\)"),  # pip
]
_LAST_TRIED = re.compile(r"^(?:Collecting|Processing) (\S+)", re.MULTILINE)  # pip, before a failing build


def failed_requirement(output: str) -> str:
    """The requirement an installer's output blames, or "" (pip and uv say it only in prose)."""
    for pattern in _FAILED:
        found = pattern.findall(output)
        if found:
            return str(found[-1])
    if "metadata-generation-failed" in output or "subprocess-exited-with-error" in output:
        tried = _LAST_TRIED.findall(output)
        if tried:
            return Path(tried[-1]).name if "/" in tried[-1] else str(tried[-1])
    return ""
