"""The pure parts of `remotebook run`: notebook checks, cell ids, papermill's parameters, output merging, saves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from remotebook.actions.runs import Run, parse_value
from remotebook.remote import runner_cells as cells


def code(text: str, tags: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "code", "source": text, "metadata": {"tags": tags} if tags else {}, **extra}


def notebook(*items: dict[str, Any], minor: int = 5) -> dict[str, Any]:
    nb = {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": list(items)}
    cells.check(nb)
    return nb


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"cells": []}, "nbformat None, not 4"),
        ({"nbformat": 3, "worksheets": []}, "no cells"),
        ({"nbformat": 4, "cells": {}}, "cells is not a list"),
        ({"nbformat": 4, "cells": [{"cell_type": "heading"}]}, "cell 1 is not a code"),
        ({"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}, "cell 1 has no text source"),
        ([1, 2], "no cells"),
    ],
)
def test_what_is_not_a_notebook_says_why(data: object, why: str) -> None:
    with pytest.raises(cells.NotANotebook, match=why):
        cells.check(data)


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "x.ipynb"
    path.write_text("print('a script')\n")
    with pytest.raises(cells.NotANotebook, match="not JSON"):
        cells.load(str(path))


def test_ids_are_made_where_missing_invalid_or_duplicated_and_the_minor_version_goes_to_5() -> None:
    nb = notebook(code("a", id="keep-me"), code("b"), code("c", id="keep-me"), code("d", id="bad id!"), minor=4)
    assert cells.ensure_ids(nb) == 3
    ids = [c["id"] for c in nb["cells"]]
    assert ids[0] == "keep-me" and len(set(ids)) == 4
    assert all(cells.ID_PATTERN.match(i) for i in ids)
    assert nb["nbformat_minor"] == 5
    assert cells.ensure_ids(nb) == 0  # a second pass changes nothing


def test_parameters_go_right_after_the_cell_tagged_parameters_and_replace_an_earlier_injection() -> None:
    nb = notebook(code("import os"), code("alpha = 1\nname = 'x'", ["parameters"]), code("print(alpha)"))
    assert cells.inject_parameters(nb, {"alpha": 0.5, "name": 'say "hi"', "on": True, "none": None}) == 2
    injected = nb["cells"][2]
    assert injected["metadata"]["tags"] == ["injected-parameters"]
    assert injected["source"] == "# Parameters\nalpha = 0.5\nname = 'say \"hi\"'\non = True\nnone = None\n"
    namespace: dict[str, Any] = {}
    exec(injected["source"], namespace)  # noqa: S102 - the injected source must be valid Python
    assert namespace["name"] == 'say "hi"'
    cells.inject_parameters(nb, {"alpha": 2})
    assert [cells.source(c) for c in nb["cells"]].count("# Parameters\nalpha = 2\n") == 1
    assert len(nb["cells"]) == 4


def test_without_a_parameters_cell_the_injection_goes_first() -> None:
    nb = notebook(code("print(n)"))
    assert cells.inject_parameters(nb, {"n": float("inf"), "xs": [1, "a"], "d": {"k": False}}) == 0
    namespace: dict[str, Any] = {}
    exec(cells.source(nb["cells"][0]), namespace)  # noqa: S102
    assert namespace["n"] == float("inf") and namespace["xs"] == [1, "a"] and namespace["d"] == {"k": False}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("True", True),
        ("False", False),
        ("None", None),
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("abc", "abc"),
        ("true", "true"),
    ],
)
def test_a_p_value_is_read_as_papermill_reads_it(text: str, value: object) -> None:
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_a_syntax_error_names_its_cell_counting_every_cell() -> None:
    nb = notebook(
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        code("x = 1"),
        code("await something()"),  # top-level await is fine in a kernel
        code("def f(:\n    pass"),
    )
    found = cells.syntax_problem(nb, None)
    assert found is not None and found[0] == 4 and found[1].startswith("cell 4: SyntaxError:")


def test_ipython_syntax_is_not_judged_without_ipython_and_is_transformed_with_it() -> None:
    nb = notebook(code("%time x = 1\n!ls"), code("x?"))
    assert cells.syntax_problem(nb, None) is None
    assert cells.syntax_problem(nb, lambda text: "pass\n") is None
    assert cells.syntax_problem(notebook(code("%time (")), lambda text: "(\n") is not None


def test_streams_merge_and_carriage_returns_keep_the_last_rewrite() -> None:
    out = cells.Outputs()
    cell = code("x")
    out.start(cell)
    assert out.add("stream", {"name": "stdout", "text": "epoch 1\n"}) == "epoch 1\n"
    out.add("stream", {"name": "stdout", "text": "10%\r"})
    out.add("stream", {"name": "stdout", "text": "50%\r"})
    out.add("stream", {"name": "stdout", "text": "100%\n"})
    out.add("stream", {"name": "stderr", "text": "warn\n"})
    out.add("stream", {"name": "stdout", "text": "done\n"})
    assert [(o["name"], o["text"]) for o in cell["outputs"]] == [
        ("stdout", "epoch 1\n100%\n"),
        ("stderr", "warn\n"),
        ("stdout", "done\n"),
    ]


def test_collapse_keeps_crlf_lines_and_a_trailing_rewrite() -> None:
    assert cells.collapse_cr("a\r\nb\rc\nd\r") == "a\nc\nd\r"
    assert cells.collapse_cr("plain\n") == "plain\n"


def test_results_displays_updates_clears_and_errors() -> None:
    out = cells.Outputs()
    first, second = code("a"), code("b")
    out.start(first)
    shown = {"data": {"text/plain": "0%"}, "metadata": {}, "transient": {"display_id": "bar"}}
    assert out.add("display_data", shown) == "0%\n"
    out.start(second)
    assert (
        out.add("execute_result", {"data": {"image/png": "AA=="}, "metadata": {}, "execution_count": 3})
        == "[image/png]\n"
    )
    assert out.add("update_display_data", {**shown, "data": {"text/plain": "100%"}}) == ""
    assert first["outputs"][0]["data"] == {"text/plain": "100%"}  # the display lives in the first cell
    assert "transient" not in first["outputs"][0]
    assert second["outputs"][0]["execution_count"] == 3
    assert out.add("clear_output", {"wait": True}) is None
    assert len(second["outputs"]) == 1  # wait=True: cleared when the next output comes
    text = out.add("error", {"ename": "E", "evalue": "v", "traceback": ["line 1", "line 2"]})
    assert text == "line 1\nline 2\n"
    assert [o["output_type"] for o in second["outputs"]] == ["error"]
    assert out.add("execute_input", {"code": "b"}) is None


def test_save_is_atomic_keeps_the_mode_and_writes_as_nbformat_does(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text("{}")
    path.chmod(0o640)
    nb = notebook(code("print('é')", outputs=[], execution_count=None))
    cells.save(str(path), nb)
    assert os.stat(path).st_mode & 0o777 == 0o640
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == nb and "é" in text and text.startswith('{\n "cells": [')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]


def test_a_run_whose_runner_is_gone_is_lost() -> None:
    item = {"alive": False, "notebook": "a.ipynb", "run": {"state": "running", "cell": 3, "cells": 5}}
    assert Run.from_answer(item).state == "lost"
    failed = {"alive": False, "notebook": "a.ipynb", "run": {"state": "failed", "error": {"cell": 2, "ename": "E"}}}
    run = Run.from_answer(failed)
    assert run.state == "failed" and run.failure is not None and run.failure.cell == 2
