"""The pure parts of a run, on plain notebook JSON: check, cell ids, papermill's parameters, outputs, atomic save.

Sent to the server beside runner.py (Python 3.8+, standard library only) and unit-tested here.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import uuid
from collections.abc import Callable
from typing import Any

ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's cell id
KINDS = ("code", "markdown", "raw")
PARAMETERS, INJECTED = "parameters", "injected-parameters"  # papermill's tags


class NotANotebook(ValueError):
    """The file is not an nbformat 4 notebook; the message says why."""


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotANotebook(f"not JSON ({e})") from None
    check(nb)
    return nb  # type: ignore[no-any-return]


def check(nb: object) -> None:
    """nbformat 4's shape, as far as running it needs; code cells get the keys a run fills in."""
    if not isinstance(nb, dict) or "cells" not in nb:
        raise NotANotebook("no cells")
    if nb.get("nbformat") != 4:
        raise NotANotebook(f"nbformat {nb.get('nbformat')!r}, not 4")
    if not isinstance(nb["cells"], list):
        raise NotANotebook("cells is not a list")
    nb.setdefault("metadata", {})
    for n, cell in enumerate(nb["cells"], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in KINDS:
            raise NotANotebook(f"cell {n} is not a code, markdown or raw cell")
        text = cell.get("source", "")
        if not isinstance(text, str) and not (isinstance(text, list) and all(isinstance(t, str) for t in text)):
            raise NotANotebook(f"cell {n} has no text source")
        cell.setdefault("metadata", {})
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)


def source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def is_code(cell: dict[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and bool(source(cell).strip())


def tags(cell: dict[str, Any]) -> list[str]:
    found = cell.get("metadata", {}).get("tags", [])
    return [str(t) for t in found] if isinstance(found, list) else []


def ensure_ids(nb: dict[str, Any]) -> int:
    """Every cell gets a valid, unique id (nbformat 4.5); returns how many were made."""
    if int(nb.get("nbformat_minor", 0)) < 5:
        nb["nbformat_minor"] = 5
    seen: set[str] = set()
    made = 0
    for cell in nb["cells"]:
        given = cell.get("id")
        if not isinstance(given, str) or not ID_PATTERN.match(given) or given in seen:
            given = new_id(seen)
            cell["id"] = given
            made += 1
        seen.add(given)
    return made


def new_id(taken: set[str]) -> str:
    for _ in range(100):
        made = uuid.uuid4().hex[:8]
        if made not in taken:
            return made
    return uuid.uuid4().hex  # 32 hex digits: taken by nothing


def python_literal(value: object) -> str:
    """A value as Python source, as papermill's Python translator writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def inject_parameters(nb: dict[str, Any], params: dict[str, object]) -> int:
    """papermill's convention: a cell tagged injected-parameters right after the one tagged parameters.

    An injected cell from an earlier run is replaced; with no parameters cell it goes first.
    Returns its position (0-based).
    """
    nb["cells"] = [cell for cell in nb["cells"] if INJECTED not in tags(cell)]
    where = next((n + 1 for n, cell in enumerate(nb["cells"]) if PARAMETERS in tags(cell)), 0)
    lines = "".join(f"{name} = {python_literal(value)}\n" for name, value in params.items())
    taken = {str(cell.get("id")) for cell in nb["cells"]}
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "id": new_id(taken),
        "metadata": {"tags": [INJECTED]},
        "outputs": [],
        "source": "# Parameters\n" + lines,
    }
    nb["cells"].insert(where, cell)
    return where


def ipython_transform() -> Callable[[str], str] | None:
    """IPython's own cell transformer (magics, !shell, ?help) where IPython is installed."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager  # type: ignore[import-not-found,unused-ignore]
    except Exception:
        return None
    transform: Callable[[str], str] = TransformerManager().transform_cell
    return transform


def _looks_like_ipython(text: str) -> bool:
    return any(line.lstrip().startswith(("%", "!")) or line.rstrip().endswith("?") for line in text.splitlines())


def syntax_problem(nb: dict[str, Any], transform: Callable[[str], str] | None) -> tuple[int, str] | None:
    """(cell number, message) of the first code cell Python cannot parse; numbers count every cell from 1.

    Without IPython, a cell with IPython syntax (magics, !shell) is not judged.
    """
    flags = ast.PyCF_ONLY_AST | getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    for n, cell in enumerate(nb["cells"], 1):
        if not is_code(cell):
            continue
        text = source(cell)
        if transform is not None:
            # The transformer may give up on broken input: then the parser judges the raw text.
            with contextlib.suppress(Exception):
                text = transform(text)
        elif _looks_like_ipython(text):
            continue
        try:
            compile(text, f"cell {n}", "exec", flags=flags, dont_inherit=True)
        except SyntaxError as e:
            return n, f"cell {n}: SyntaxError: {e.msg} (line {e.lineno})"
        except ValueError as e:  # a NUL byte in the source
            return n, f"cell {n}: {e}"
    return None


def clear_outputs(nb: dict[str, Any]) -> None:
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None


def collapse_cr(text: str) -> str:
    """What a terminal shows of text with carriage returns (progress bars): each line's last rewrite.

    A trailing \\r stays, so that the next chunk of the stream overwrites that line.
    """
    if "\r" not in text:
        return text
    pieces = text.split("\n")
    for i, piece in enumerate(pieces):
        tail = ""
        if piece.endswith("\r"):
            piece = piece[:-1]
            tail = "\r" if i == len(pieces) - 1 else ""
        pieces[i] = piece.rsplit("\r", 1)[-1] + tail
    return "\n".join(pieces)


class Outputs:
    """Kernel messages -> the running cell's nbformat outputs (a display update may reach any cell)."""

    def __init__(self) -> None:
        self.current: list[dict[str, Any]] = []
        self.clear_pending = False
        self.displays: dict[str, list[dict[str, Any]]] = {}  # display_id -> outputs showing it

    def start(self, cell: dict[str, Any]) -> None:
        cell["outputs"] = []
        self.current = cell["outputs"]
        self.clear_pending = False

    def add(self, kind: str, content: dict[str, Any]) -> str | None:
        """Record one message; what the run log shows of it ("" for a change with nothing to show, None: no change)."""
        if kind == "clear_output":
            if content.get("wait"):
                self.clear_pending = True
            else:
                self.current.clear()
            return "" if not content.get("wait") else None
        display_id = str(content.get("transient", {}).get("display_id") or "")
        if kind == "update_display_data":
            for shown in self.displays.get(display_id, []):
                shown["data"], shown["metadata"] = content.get("data", {}), content.get("metadata", {})
            return ""
        output = to_output(kind, content)
        if output is None:
            return None
        if self.clear_pending:
            self.current.clear()
            self.clear_pending = False
        last = self.current[-1] if self.current else None
        if (
            output["output_type"] == "stream"
            and last
            and last["output_type"] == "stream"
            and last["name"] == output["name"]
        ):
            last["text"] = collapse_cr(stream_text(last) + output["text"])
        else:
            if output["output_type"] == "stream":
                output["text"] = collapse_cr(output["text"])
            self.current.append(output)
            if display_id:
                self.displays.setdefault(display_id, []).append(output)
        return log_text(kind, content)


def stream_text(output: dict[str, Any]) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


def to_output(kind: str, content: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "stream":
        return {"output_type": "stream", "name": content.get("name", "stdout"), "text": str(content.get("text", ""))}
    if kind in ("display_data", "execute_result"):
        output = {"output_type": kind, "data": content.get("data", {}), "metadata": content.get("metadata", {})}
        if kind == "execute_result":
            output["execution_count"] = content.get("execution_count")
        return output
    if kind == "error":
        return {
            "output_type": "error",
            "ename": str(content.get("ename", "")),
            "evalue": str(content.get("evalue", "")),
            "traceback": [str(line) for line in content.get("traceback", [])],
        }
    return None  # execute_input, status, comm messages: not outputs


def log_text(kind: str, content: dict[str, Any]) -> str:
    """What the terminal shows of an output: the text, a result's text/plain, a traceback."""
    if kind == "stream":
        return str(content.get("text", ""))
    if kind == "error":
        return "\n".join(str(line) for line in content.get("traceback", [])) + "\n"
    data = content.get("data", {})
    if "text/plain" in data:
        plain = data["text/plain"]
        return ("".join(plain) if isinstance(plain, list) else str(plain)) + "\n"
    return "[" + ", ".join(sorted(data)) + "]\n"


def save(path: str, nb: dict[str, Any]) -> None:
    """Atomically, as nbformat writes (indent 1, sorted keys): a reader sees the old file or the new one."""
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.remotebook-tmp")
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())  # a save that survives the server losing power is the point of it
    os.chmod(tmp, mode)
    os.replace(tmp, path)
