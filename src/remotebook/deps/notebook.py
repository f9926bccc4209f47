"""Notebooks to plain Python: code cells of nbformat 4 and 3, IPython syntax neutralised, pip installs kept."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

# Cell magics whose body is Python: the first line goes, the body is parsed.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3", "px"})
# Cell magics whose body is shell: scanned for `pip install` only.
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system"})

_ASSIGNED_MAGIC = re.compile(r"^(?P<lhs>[\w.\[\], ]+?)\s*=\s*[!%]")  # files = !ls   t = %timeit -o f()
# pip install, python -m pip install, {sys.executable} -m pip install, uv pip install, ...
_PIP_COMMAND = re.compile(r"(?:^|[\s;&|(])pip3?\s+install\s+(?P<args>.*)$")
_REQUIREMENT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9,._ -]*\])?(?:\s*[<>=!~].*)?$")
# pip install options that take a value (the value is not a requirement)
_PIP_VALUE_OPTIONS = frozenset(
    [
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--trusted-host",
        "--proxy",
        "--cache-dir",
        "--src",
        "--upgrade-strategy",
        "--progress-bar",
        "--log",
        "--timeout",
        "--retries",
        "--no-binary",
        "--only-binary",
        "--config-settings",
        "-C",
        "--python",
        "--report",
        "--global-option",
    ]
)
_SHELL_STOPS = frozenset({"&&", "||", ";", "|", ">", ">>", "2>&1", "&"})


@dataclass
class Cell:
    """One code cell as Python: `source` parses (if the cell did), magics replaced by `pass`."""

    index: int  # 1-based position among the notebook's cells, as a person counts them
    source: str
    pip: list[str] = field(default_factory=list)  # requirement strings from `%pip install ...`
    writes: list[str] = field(default_factory=list)  # files written by %%writefile (local modules)


class NotebookError(ValueError):
    """Not a notebook we can read (bad JSON, unknown shape, another language)."""


def load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"not valid JSON ({e.msg} at line {e.lineno})") from None


def code_cells(nb: Any) -> list[Cell]:
    """The notebook's Python code cells, in order; raises NotebookError for what is not one."""
    if not isinstance(nb, dict):
        raise NotebookError("not a notebook (no top-level object)")
    language = _language(nb)
    if language and language != "python":
        raise NotebookError(f"a {language} notebook")
    major = nb.get("nbformat", 4)
    if isinstance(major, int) and major >= 4:
        raw, key = nb.get("cells", []), "source"
    elif major == 3:
        raw = [c for ws in nb.get("worksheets", []) if isinstance(ws, dict) for c in ws.get("cells", [])]
        key = "input"
    else:
        raise NotebookError(f"nbformat {major} is not supported")
    if not isinstance(raw, list):
        raise NotebookError("cells is not a list")
    cells = []
    for n, cell in enumerate(raw, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            text = cell.get(key, "")
            cells.append(to_python(n, "".join(text) if isinstance(text, list) else str(text)))
    return cells


def _language(nb: dict[str, Any]) -> str:
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return ""
    for holder, key in (("kernelspec", "language"), ("language_info", "name")):
        value = meta.get(holder, {})
        if isinstance(value, dict) and isinstance(value.get(key), str):
            return str(value[key]).lower()
    return str(meta.get("language", "")).lower() if isinstance(meta.get("language"), str) else ""


def to_python(index: int, text: str) -> Cell:
    """Replace IPython-only lines so `ast` can parse the rest; line numbers stay as they were."""
    cell = Cell(index, "")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name, _, arg = lines[first].lstrip()[2:].partition(" ")
        body = lines[first + 1 :]
        if name in PYTHON_CELL_MAGICS:
            lines[first] = ""
        else:  # not Python: only look for installs, and for the modules it writes
            if name in SHELL_CELL_MAGICS:
                for line in body:
                    cell.pip.extend(pip_requirements(line))
            if name in ("writefile", "file") and arg.split():
                cell.writes.append(arg.split()[-1])
            return cell
    if not any(mark in text for mark in "!%?") and "pip" not in text:
        cell.source = text  # plain Python, the common case
        return cell
    out = []
    for line in lines:
        if not any(mark in line for mark in "!%?") and "pip" not in line:
            out.append(line)
            continue
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(("!", "%")):
            cell.pip.extend(pip_requirements(stripped[1:]))
            out.append(indent + "pass")
        elif (m := _ASSIGNED_MAGIC.match(stripped)) and not stripped.startswith(("#", "'", '"')):
            cell.pip.extend(pip_requirements(stripped[m.end() :]))
            out.append(f"{indent}{m.group('lhs')} = None")
        elif stripped.startswith(("pip install ", "pip3 install ")):  # automagic: pip without the %
            cell.pip.extend(pip_requirements(stripped))
            out.append(indent + "pass")
        elif stripped.endswith("?") and not stripped.startswith("#") and _is_help(stripped):
            out.append(indent + "pass")
        else:
            out.append(line)
    cell.source = "\n".join(out)
    return cell


def _is_help(stripped: str) -> bool:
    """`obj?`, `obj??`, `?obj`: IPython's help syntax (a bare name or attribute, then ?)."""
    return re.fullmatch(r"\??[\w.*\[\]()]+\?{1,2}", stripped) is not None


def pip_requirements(command: str) -> list[str]:
    """The requirements of a `pip install ...` command line (magic, shell escape or shell cell)."""
    m = _PIP_COMMAND.search(command.strip())
    if not m:
        return []
    try:
        words = shlex.split(m.group("args"), comments=True)
    except ValueError:
        words = m.group("args").split()
    found, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in _SHELL_STOPS:
            break
        if word.startswith("-"):
            skip = word in _PIP_VALUE_OPTIONS
            continue
        if any(c in word for c in "{}$/\\") or word.endswith((".whl", ".tar.gz", ".zip")) or word == ".":
            continue  # a path, a URL or a Python/shell variable: nothing to record
        if _REQUIREMENT.match(word):
            found.append(word.strip())
    return found
