"""Durable outputs against the harness: the extensions installed through `env`, a cell run on the server.

The remote has no internet: `up --durable` installs JupyterLab, jupyter-collaboration and
jupyter-server-nbmodel into the project's env with uv, from a PEP 503 index served by this
process out of the durable wheelhouse that setup.sh downloaded. Then a cell runs the way a
browser runs it with nbmodel's executor (the room opened, POST /api/kernels/ID/execute with
the document and cell ids), every client goes away, and the server's file gets every line.
The browser test does the same through JupyterLab in a real Chromium, killed mid-cell.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client

from tests.harness.browser import Browser, start_browser
from tests.harness.remote_host import HARNESS_PREFIX, JUPYTER_VENV, SETUP_HINT, RemoteHost
from tests.integration.conftest import Runner, _unavailable
from tests.integration.jupyter_client_lite import request
from tests.integration.pkgindex import SimpleIndex
from tests.integration.test_run import wait_for

WHEELHOUSE = HARNESS_PREFIX / "durable-wheelhouse"
UV_BIN = HARNESS_PREFIX / "uv" / "bin"
LINES = 40  # long enough that the first saves and `down` come well before its end on a busy machine
TICKS = f"import time\nfor i in range({LINES}):\n    print('line', i, flush=True)\n    time.sleep(1)\n"


@pytest.fixture(scope="module")
def index(remote_host: RemoteHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleIndex]:
    if not (WHEELHOUSE / ".stamp").is_file() or not (UV_BIN / "uv").is_file():
        _unavailable(f"no durable wheelhouse or uv under {HARNESS_PREFIX}: {SETUP_HINT}")
    if remote_host.host_address is None:
        pytest.skip("needs the network namespace: a remote without internet, and our own address to serve from")
    served = SimpleIndex(tmp_path_factory.mktemp("index") / "root", remote_host.host_address, [WHEELHOUSE])
    try:
        yield served
    finally:
        served.close()


def write_notebook(path: Path, source: str = TICKS) -> None:
    """nbformat 4.5: nbmodel finds a cell by its id."""
    cell: dict[str, Any] = {
        "id": "ticks",
        "cell_type": "code",
        "source": source,
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }
    # a kernelspec, so that JupyterLab opens it without asking which kernel
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": [cell]}))


def printed(path: Path) -> list[str]:
    """The lines the server's copy of the notebook holds so far (it is rewritten whole on each save)."""
    try:
        nb: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    text = ""
    for out in nb["cells"][0].get("outputs", []):
        piece = out.get("text", "")
        text += "".join(piece) if isinstance(piece, list) else piece
    return text.splitlines()


def open_room(port: int, token: str, path: str) -> tuple[str, websocket.WebSocket]:
    """What a browser tab does first: a collaboration session for the file, then its room's websocket."""
    status, session = request(
        port, "PUT", f"/api/collaboration/session/{path}", token, {"format": "json", "type": "notebook"}
    )
    assert status in (200, 201), (status, session)
    room = f"{session['format']}:{session['type']}:{session['fileId']}"
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/api/collaboration/room/{room}?sessionId={session['sessionId']}",
        header=[f"Authorization: token {token}"],
        timeout=30,
    )
    return room, ws


@pytest.mark.timeout(600)
def test_a_cell_run_from_a_room_keeps_printing_into_the_saved_notebook_after_every_client_left(
    rb: Runner, index: SimpleIndex
) -> None:
    rb.write_config(
        f'[profiles.dur]\nhost = "rbremote"\ndurable_outputs = true\n'
        f'setup = ["PATH={UV_BIN}:$PATH", "export UV_DEFAULT_INDEX={index.url}"]\n'
    )
    write_notebook(rb.project / "ticks.ipynb")
    out = rb.run("up", "dur", "--sync", "--detach", "--no-browser", "--json", timeout=420)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["server"]["durable_outputs"] is True
    root = rb.host.home("rbtest") / "myproject"
    envs = sorted((rb.host.home("rbtest") / ".remotebook" / "envs").glob("rb-myproject-*/bin/jupyter-server"))
    assert len(envs) == 1  # the project's env serves it now
    assert any(str(envs[0].parent) in line for line in rb.jupyter_processes())
    status = rb.run("status", "dur")
    assert "outputs: durable" in status.stdout, status.stdout
    assert rb.json("status", "dur")["server"]["durable_outputs"] is True

    port, token = int(report["local_port"]), str(report["token"])
    room, ws = open_room(port, token, "ticks.ipynb")
    try:
        created, kernel = request(port, "POST", "/api/kernels", token, {})
        assert created == 201, kernel
        asked, queued = request(
            port,
            "POST",
            f"/api/kernels/{kernel['id']}/execute",
            token,
            {"code": TICKS, "metadata": {"document_id": room, "cell_id": "ticks"}},
        )
        assert asked == 202, queued
        # the server saves while the cell runs: a few lines are in the file before anyone leaves
        wait_for(lambda: len(printed(root / "ticks.ipynb")) >= 3, 60, "the first saved lines")
    finally:
        ws.close()
    down = rb.run("down", "dur")  # the tunnel and the ssh connection go too: no client is left
    assert down.returncode == 0, down.stderr
    assert rb.ssh_processes() == []
    early = printed(root / "ticks.ipynb")
    assert len(early) < LINES, "the cell ended before every client left: the test proves nothing"

    wait_for(lambda: len(printed(root / "ticks.ipynb")) >= LINES, 90, "every line in the saved notebook")
    assert printed(root / "ticks.ipynb") == [f"line {i}" for i in range(LINES)]
    # the extensions' stores live in the server's state dir, never in the notebook root
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) in ([], [".ipynb_checkpoints"])
    stores = list((rb.host.home("rbtest") / ".remotebook").glob("*/*/ystore.db"))
    assert len(stores) == 1


def test_durable_outputs_that_cannot_be_installed_are_refused_and_nothing_is_left(rb: Runner) -> None:
    # the PATH's Jupyter (the harness's shared venv) lacks the extensions, and the remote has no index
    rb.write_config('[profiles.dur]\nhost = "rbremote"\n')
    out = rb.run("up", "dur", "--durable", "--detach", "--no-browser", timeout=180)
    assert out.returncode == 15, out.stderr
    (first,) = [line for line in out.stderr.splitlines() if line.startswith("remotebook: error:")]
    assert first.startswith("remotebook: error: rbremote: durable outputs need jupyter-collaboration 5.0.4"), first
    assert "could not be installed" in first and "cannot reach" in first
    assert "remotebook env dur --durable" in out.stderr and "--wheels" in out.stderr
    assert "Traceback" not in out.stderr
    assert rb.jupyter_processes() == []
    assert list((rb.host.home("rbtest") / ".remotebook" / "envs").glob("rb-myproject-*")) == []
    assert list((rb.host.home("rbtest") / ".remotebook").glob("*/[0-9]*")) == []  # no server dir either
    assert rb.ssh_processes() == []
    assert rb.state_files() == []

    # a Jupyter the profile names is not remotebook's to change: the pip line to run there
    rb.write_config(f'[profiles.own]\nhost = "rbremote"\nvenv = "{JUPYTER_VENV}"\ndurable_outputs = true\n')
    own = rb.run("up", "own", "--detach", "--no-browser")
    assert own.returncode == 15, own.stderr
    assert f"{JUPYTER_VENV}/bin/jupyter lacks jupyter-collaboration, jupyter-server-nbmodel" in own.stderr
    assert "-m pip install jupyter-collaboration==5.0.4 jupyter-server-nbmodel==0.2.9" in own.stderr
    assert rb.jupyter_processes() == [] and rb.ssh_processes() == []


BROWSER_LINES = 30
BROWSER_TICKS = f"import time\nfor i in range({BROWSER_LINES}):\n    print('line', i, flush=True)\n    time.sleep(1)\n"


@pytest.mark.timeout(600)
def test_a_browser_killed_5s_into_a_30s_cell_finds_every_line_when_it_comes_back(
    rb: Runner, index: SimpleIndex, browser: Browser
) -> None:
    rb.write_config(
        f'[profiles.dur]\nhost = "rbremote"\ndurable_outputs = true\n'
        f'setup = ["PATH={UV_BIN}:$PATH", "export UV_DEFAULT_INDEX={index.url}"]\n'
    )
    write_notebook(rb.project / "long.ipynb", BROWSER_TICKS)
    out = rb.run("up", "dur", "--sync", "--detach", "--no-browser", "--json", timeout=420)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    lab = browser.open_jupyter(report["url"])
    lab.disable_news()
    lab.open_notebook("long.ipynb")
    try:
        lab.wait_kernel_idle("long.ipynb")
    finally:
        lab.screenshot("opened")
    lab.page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()  # as a user runs it: Shift+Enter
    lab.page.keyboard.press("Shift+Enter")
    output = lab.page.locator(".jp-OutputArea-output").first
    wait_for(lambda: "line 4" in (output.inner_text() if output.count() else ""), 60, "5 s of the cell's output")
    browser.kill()  # no goodbye: a crash or a closed lid
    saved = rb.host.home("rbtest") / "myproject" / "long.ipynb"
    assert len(printed(saved)) < BROWSER_LINES

    wait_for(lambda: len(printed(saved)) >= BROWSER_LINES, 90, "every line in the saved notebook")
    assert printed(saved) == [f"line {i}" for i in range(BROWSER_LINES)]
    with start_browser(browser.artifacts, browser.profile) as again:
        reopened = again.open_jupyter(report["url"])
        reopened.open_notebook("long.ipynb")
        shown = reopened.page.locator(".jp-OutputArea-output").first.inner_text()
        assert shown.splitlines() == [f"line {i}" for i in range(BROWSER_LINES)], reopened.screenshot("reopened")
