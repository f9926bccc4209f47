"""`remotebook run` against the harness: a real runner and kernel on the real sshd, surviving the link going down."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Runner

pytestmark = pytest.mark.integration


def code(text: str, tags: list[str] | None = None) -> dict[str, Any]:
    meta = {"tags": tags} if tags else {}
    return {"cell_type": "code", "source": text, "metadata": meta, "outputs": [], "execution_count": None}


def write_notebook(path: Path, *cells: dict[str, Any]) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": list(cells)}
    path.write_text(json.dumps(nb))


def outputs_text(nb: dict[str, Any]) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or "\n".join(out.get("traceback", []))
            parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def on_server(rb: Runner, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((rb.host.home("rbtest") / "myproject" / name).read_text())
    return data


def saved_text(rb: Runner, name: str) -> str:
    """The outputs in the server's copy so far ("" before the push); the runner replaces it atomically."""
    try:
        return outputs_text(on_server(rb, name))
    except FileNotFoundError:
        return ""


@pytest.fixture
def project(rb: Runner) -> Runner:
    rb.write_config('[profiles.s]\nhost = "rbremote"\n')
    return rb


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)  # polling the server's file, with a deadline
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_survives_its_local_process_and_the_link_going_down(project: Runner) -> None:
    rb = project
    ticks = "import time\nfor i in range(15):\n    print('tick', i, flush=True)\n    time.sleep(1)\n"
    write_notebook(rb.project / "train.ipynb", code("steps = 1", ["parameters"]), code(ticks), code("steps * 2"))
    local = rb.spawn("run", "train.ipynb", "-p", "steps", "21")
    try:
        wait_for(lambda: "tick 1" in saved_text(rb, "train.ipynb"), 60, "the first ticks saved on the server")
    finally:
        os.killpg(local.pid, signal.SIGKILL)  # the laptop goes away without a word
        local.wait(timeout=10)
    rb.host.set_link(False)
    try:
        time.sleep(10)  # the outage itself (what the test simulates), not a wait for readiness
    finally:
        rb.host.set_link(True)
    listed = rb.json("run", "--list")
    assert [r["notebook"] for r in listed["runs"]] == ["train.ipynb"]
    run_dir = Path(listed["runs"][0]["dir"])
    for folder in (run_dir, run_dir.parent, run_dir.parent.parent):  # ~/.remotebook/<host>/runs/<root>/<notebook>
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    attached = rb.run("run", "--attach", "train.ipynb", timeout=120)
    assert attached.returncode == 0, attached.stderr
    assert all(f"tick {i}\n" in attached.stdout for i in range(15)), attached.stdout  # also what came while away
    server = on_server(rb, "train.ipynb")
    assert all(f"tick {i}\n" in outputs_text(server) for i in range(15))
    injected = server["cells"][1]
    assert injected["metadata"]["tags"] == ["injected-parameters"] and "steps = 21" in "".join(injected["source"])
    assert server["cells"][-1]["outputs"][0]["data"]["text/plain"] == "42"
    assert all(cell.get("id") for cell in server["cells"]) and server["nbformat_minor"] == 5
    assert json.loads((rb.project / "train.ipynb").read_text()) == server  # the pulled copy is the server's
    assert rb.json("run", "--list")["runs"][0]["state"] == "done"


def test_a_failing_cell_stops_the_run_with_its_exit_code_and_the_outputs_until_then(project: Runner) -> None:
    rb = project
    write_notebook(rb.project / "bad.ipynb", code("print('before')"), code("1/0"), code("print('after')"))
    out = rb.run("run", "bad.ipynb")
    assert out.returncode == 14, out.stderr
    assert "cell 2 failed: ZeroDivisionError: division by zero" in out.stderr
    assert "before" in out.stdout and "ZeroDivisionError" in out.stdout and "after" not in out.stdout
    pulled = json.loads((rb.project / "bad.ipynb").read_text())
    assert pulled["cells"][0]["outputs"][0]["text"] == "before\n"
    assert pulled["cells"][1]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert pulled["cells"][2]["outputs"] == []


def test_bad_input_is_refused_with_a_reason(project: Runner) -> None:
    rb = project
    (rb.project / "notes.ipynb").write_text("just text")
    out = rb.run("run", "notes.ipynb")
    assert out.returncode == 2 and "notes.ipynb is not a notebook: not JSON" in out.stderr, out.stderr
    write_notebook(rb.project / "syntax.ipynb", code("x = 1"), code("%time x\n!ls"), code("def f(:\n  pass"))
    out = rb.run("run", "syntax.ipynb")
    assert out.returncode == 14 and "cell 3: SyntaxError" in out.stderr, out.stderr


def test_a_second_run_while_one_runs_is_refused_and_a_dead_kernel_is_said(project: Runner) -> None:
    rb = project
    slow = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
    write_notebook(rb.project / "slow.ipynb", code(slow))
    assert rb.run("run", "slow.ipynb", "--detach").returncode == 0
    again = rb.run("run", "slow.ipynb")
    assert again.returncode == 2 and "still running" in again.stderr and "--attach" in again.stderr, again.stderr
    write_notebook(rb.project / "slow.ipynb", code(slow), code("print('edited here')"))
    edited = rb.run("run", "slow.ipynb")
    assert edited.returncode == 2 and "still running" in edited.stderr, edited.stderr
    assert sorted(p.name for p in (rb.host.home("rbtest") / "myproject").glob("slow*")) == [
        "slow.ipynb"
    ]  # nothing pushed
    write_notebook(rb.project / "die.ipynb", code("print('alive', flush=True)"), code("import os\nos._exit(1)"))
    out = rb.run("run", "die.ipynb", timeout=120)
    assert out.returncode == 14 and "the kernel died during cell 2" in out.stderr, out.stderr
    assert json.loads((rb.project / "die.ipynb").read_text())["cells"][0]["outputs"][0]["text"] == "alive\n"


def test_a_local_edit_made_during_the_run_is_kept_and_the_executed_notebook_lands_beside_it(project: Runner) -> None:
    rb = project
    write_notebook(rb.project / "nb.ipynb", code("import time\ntime.sleep(2)\nprint('ran')"))
    assert rb.run("run", "nb.ipynb", "--detach").returncode == 0
    write_notebook(rb.project / "nb.ipynb", code("print('my edit')"))
    out = rb.run("run", "--attach")
    assert out.returncode == 0, out.stderr
    assert "edited here meanwhile" in out.stderr, out.stderr
    assert "my edit" in (rb.project / "nb.ipynb").read_text()
    [beside] = rb.project.glob("nb.remote-*.ipynb")
    assert json.loads(beside.read_text()) == on_server(rb, "nb.ipynb")
    assert outputs_text(on_server(rb, "nb.ipynb")) == "ran\n"


def test_run_stop_interrupts_the_kernel_saves_what_ran_and_records_the_run_stopped(project: Runner) -> None:
    rb = project
    ticks = "import time\nfor i in range(120):\n    print('tick', i, flush=True)\n    time.sleep(1)\n"
    write_notebook(rb.project / "long.ipynb", code("print('first', flush=True)"), code(ticks), code("print('never')"))
    out = rb.run("run", "long.ipynb", "s", "--detach")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: "tick 2" in saved_text(rb, "long.ipynb"), 60, "a few ticks saved on the server")

    stop = rb.run("run", "--stop", "long.ipynb", "s", timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert "long.ipynb: stopped during cell 2; the outputs until then are saved" in stop.stdout
    (only,) = rb.json("run", "--list", "s")["runs"]
    assert (only["state"], only["alive"]) == ("stopped", False)
    text = saved_text(rb, "long.ipynb")
    assert "first" in text and "tick 2" in text and "KeyboardInterrupt" in text  # interrupted, not killed
    assert "never" not in text and "tick 119" not in text
    local = json.loads((rb.project / "long.ipynb").read_text())  # pulled back
    assert "tick 2" in outputs_text(local)
    assert [line for line in rb.host.ps().splitlines() if line.startswith("rbtest") and "ipykernel" in line] == []
    assert rb.ssh_clients() == []

    again = rb.run("run", "--stop", "long.ipynb", "s")
    assert again.returncode == 8, again.stderr
    assert "long.ipynb is not running on rbremote (its last run: stopped)" in again.stderr
