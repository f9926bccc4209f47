"""Notebooks to plain Python: code cells of nbformat 4 and 3, IPython syntax neutralised, pip installs kept."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from remotebook.deps.source import MODULE_NAME, extension_module

# Cell magics whose body is Python: the first line goes, the body is parsed.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3", "px"})
# Cell magics whose body is shell: scanned for `pip install` only.
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system"})

# %load_ext X, %reload_ext X, and the same without the % (IPython's automagic, on by default).
_EXTENSION_MAGIC = re.compile(r"(?P<percent>%?)(?:re)?load_ext(?:\s+(?P<arg>.*))?")
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
    extensions: list[tuple[int, str]] = field(default_factory=list)  # (line, module) of each `%load_ext module`


class NotebookError(ValueError):
    """Not a notebook we can read (bad JSON, unknown shape, another language)."""


def load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except ValueError as e:  # an integer of more digits than int() allows, say
        raise NotebookError(f"not valid JSON ({e})") from None
    except RecursionError:  # json's decoder recurses once per nested [ or {
        raise NotebookError("not valid JSON (nested too deeply)") from None


def code_cells(nb: Any) -> tuple[list[Cell], list[str]]:
    """The notebook's Python code cells, in order, and what was wrong with the cells left out.

    Raises NotebookError for what is not a notebook at all. A cell that is not an object,
    or a code cell whose source is not text, is left out and named ("cell 3: a str, not a cell").
    """
    if not isinstance(nb, dict):
        raise NotebookError(f"not a notebook (the top level is {_a(nb)}, not an object)")
    language = _language(nb)
    if language and language != "python":
        raise NotebookError(f"a {language} notebook")
    major = nb.get("nbformat", 4)
    problems: list[str] = []
    if isinstance(major, int) and not isinstance(major, bool) and major >= 4:
        raw, key = _listed(nb, "cells"), "source"
    elif major == 3 and not isinstance(major, bool):
        raw, key = _v3_cells(_listed(nb, "worksheets"), problems), "input"
    else:
        raise NotebookError(f"nbformat {major!r} is not supported")
    cells = []
    for n, cell in enumerate(raw, start=1):
        if not isinstance(cell, dict):
            problems.append(f"cell {n}: {_a(cell)}, not a cell")
        elif not isinstance(cell.get("cell_type"), str):
            problems.append(f"cell {n}: {_not(cell.get('cell_type'), 'cell_type', 'a string')}")
        elif cell["cell_type"] == "code":
            text = _text(cell.get(key))
            if text is None:
                problems.append(f"cell {n}: {_not(cell.get(key), key, 'text')}")
            else:
                cells.append(to_python(n, text))
    return cells, problems


def _listed(nb: dict[str, Any], key: str) -> list[Any]:
    value = nb.get(key)
    if not isinstance(value, list):
        raise NotebookError(f"not a notebook ({_not(value, key, 'a list')})")
    return value


def _v3_cells(worksheets: list[Any], problems: list[str]) -> list[Any]:
    """nbformat 3's cells, all worksheets in order (numbered on across them, as a reader counts)."""
    cells: list[Any] = []
    for n, ws in enumerate(worksheets, start=1):
        if not isinstance(ws, dict):
            problems.append(f"worksheet {n}: {_a(ws)}, not a worksheet")
        elif not isinstance(ws.get("cells"), list):
            problems.append(f"worksheet {n}: {_not(ws.get('cells'), 'cells', 'a list')}")
        else:
            cells += ws["cells"]
    return cells


def _text(source: Any) -> str | None:
    """A cell's source: a string, or a list of strings (lines); None for anything else."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return None


def _not(value: Any, key: str, wanted: str) -> str:
    """ "no cells", "source is a number, not text": what is wrong with one key's value."""
    return f"no {key}" if value is None else f"{key} is {_a(value)}, not {wanted}"


def _a(value: Any) -> str:
    """What a JSON value is, for a message: "a list", "a number", "null"."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return kinds.get(type(value), "null")


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
    if not any(mark in text for mark in "!%?") and "pip" not in text and "load_ext" not in text:
        cell.source = text  # plain Python, the common case
        return cell
    out = []
    for number, line in enumerate(lines, start=1):
        if not any(mark in line for mark in "!%?") and "pip" not in line and "load_ext" not in line:
            out.append(line)
            continue
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if (m := _EXTENSION_MAGIC.fullmatch(stripped)) and (m["percent"] or MODULE_NAME.fullmatch(m["arg"] or "")):
            # %load_ext line_profiler imports line_profiler. Without the %, only `load_ext NAME`
            # is the magic: `load_ext(x)` and `load_ext = f` are Python.
            if module := extension_module(m["arg"] or ""):
                cell.extensions.append((number, module))
            out.append(indent + "pass")
        elif stripped.startswith(("!", "%")):
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
