"""A real browser through the forward: headless Chromium (Playwright) on JupyterLab and Notebook 7 that `up` started.

Screenshots are kept in test-artifacts/<test>/ (named at the end of pytest's output).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.harness.browser import Browser, BrowserError, output_text, start_browser
from tests.harness.remote_host import HARNESS_PREFIX
from tests.integration.conftest import Runner

NOTEBOOK7_JUPYTER = HARNESS_PREFIX / "notebook-venv" / "bin" / "jupyter"  # setup.sh: notebook-requirements.txt


def on_the_remote(rb: Runner, name: str) -> dict[str, Any]:
    """The notebook file itself, read from the remote user's disk (not through Jupyter)."""
    data: dict[str, Any] = json.loads((rb.host.home("rbtest") / "myproject" / name).read_text())
    return data


def test_jupyterlab_in_chromium_runs_a_new_notebook_and_saves_it_on_the_remote(rb: Runner, browser: Browser) -> None:
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert report["url"].startswith(f"http://127.0.0.1:{report['local_port']}/lab?token=")
    lab = browser.open_jupyter(report["url"])  # the URL remotebook opens: the token logs the page in
    lab.disable_news()
    name = lab.new_notebook_from_launcher()
    lab.wait_kernel_idle(name)
    shown = lab.run_cell("print(6*7)", expect="42")
    assert shown.strip() == "42"
    lab.save(name)
    shot = lab.screenshot("jupyterlab-after-run")
    saved = on_the_remote(rb, name)
    code = [cell for cell in saved["cells"] if cell["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == "print(6*7)", shot
    assert output_text(saved) == "42\n", shot
    assert saved["metadata"]["kernelspec"]["name"] == "python3"

    # What a durable-outputs test does next: the browser dies without a goodbye, then comes back.
    browser.kill()
    assert not browser.alive
    with start_browser(browser.artifacts, browser.profile) as again:
        reopened = again.open_jupyter(report["url"])
        reopened.open_notebook(name)
        assert reopened.page.locator(".jp-OutputArea-output").first.inner_text().strip() == "42"


def test_notebook7_in_chromium_runs_a_cell_and_saves_it_on_the_remote(rb: Runner, browser: Browser) -> None:
    assert NOTEBOOK7_JUPYTER.is_file(), "run `bash tests/harness/setup.sh` (the Notebook 7 venv)"
    rb.write_config(f'[profiles.nb7]\nhost = "rbremote"\napp = "notebook"\njupyter = "{NOTEBOOK7_JUPYTER}"\n')
    up = rb.run("up", "nb7", "--detach", "--no-browser")
    assert up.returncode == 0, up.stderr
    status = rb.json("status", "nb7")
    assert status["url"].startswith(f"http://127.0.0.1:{status['local_port']}/tree?token=")
    page = browser.open_jupyter(status["url"])
    assert page.app == "notebook"
    assert page.page.locator(".jp-NotebookShell, #main-panel").first.is_visible()
    page.disable_news()
    page.create_notebook("nb7.ipynb")
    page.open_notebook("nb7.ipynb")
    page.wait_kernel_idle("nb7.ipynb")
    assert page.run_cell("print(6*7)", expect="42").strip() == "42"
    page.save("nb7.ipynb")
    shot = page.screenshot("notebook7-after-run")
    assert output_text(on_the_remote(rb, "nb7.ipynb")) == "42\n", shot
    assert Path(shot).stat().st_size > 0


def test_with_a_password_the_opened_url_shows_the_login_page_and_the_password_gets_in(
    rb: Runner, browser: Browser
) -> None:
    secret = "browser pass \u00e9 $HOME"
    done = subprocess.run(
        rb.argv("password", "rbremote", "--stdin"), cwd=rb.project, env=rb.env, input=secret + "\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = rb.json("up", "rbremote", "--detach", "--no-browser")
    assert "token=" not in report["url"]
    login = browser.new_page(report["url"])
    assert "/login" in login.url  # the URL remotebook opens asks for the password
    with pytest.raises(BrowserError, match="did not let the password in"):
        browser.log_in(report["url"], secret + "x", timeout=10)
    lab = browser.log_in(report["url"], secret)
    lab.screenshot("logged-in-with-password")
    lab.create_notebook("pw.ipynb")
    lab.open_notebook("pw.ipynb")
    lab.wait_kernel_idle("pw.ipynb")
    assert lab.run_cell("print(6*7)", expect="42").strip() == "42"
