"""A real browser for the integration tests: Debian's headless Chromium, driven by Playwright through the forward.

    with start_browser(artifacts) as browser:         # one Chromium process, owned by `browser`
        lab = browser.open_jupyter(url)              # the URL `up`/`status --json` gives; logs in
        lab.disable_news()                           # no "Jupyter news?" toast over the page
        lab.create_notebook("demo.ipynb")            # through Jupyter's contents API
        lab.open_notebook("demo.ipynb")              # in the page, as a user opens it
        lab.wait_kernel_idle("demo.ipynb")           # a cell typed before that can be dropped
        assert "42" in lab.run_cell("print(6*7)", expect="42")
        lab.save("demo.ipynb")                       # Ctrl+S; waits until the file has outputs
        lab.saved_notebook("demo.ipynb")             # what the server wrote, as JSON
        lab.screenshot("after-run")                  # a PNG under `artifacts`
        browser.log_in(url_without_token, password)  # through Jupyter's login page instead

    browser.kill()                                   # SIGKILL: a crash or a closed lid, not a goodbye
    again = start_browser(browser.artifacts, browser.profile)   # reopen
    lab = again.open_jupyter(url)                    # with the token URL again: Jupyter's login
    lab.open_notebook("demo.ipynb")                  # cookie is a session cookie, gone with the kill

The browser is started here (not by Playwright) and Playwright attaches to it over the DevTools
protocol on loopback, so the test owns the process: `kill()` ends it abruptly, `close()` politely.
No `playwright install`: the browser is /usr/bin/chromium (setup.sh installs it); with no
internet here, its background networking, updates and sync are off. The `browser` fixture
(tests/integration/conftest.py) gives one per test, with its artifacts in test-artifacts/<test>/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT = 30.0  # Chromium's first start on a busy 2-core machine
PAGE_TIMEOUT = 60.0  # JupyterLab's first load (its JS bundles) through the tunnel
KERNEL_TIMEOUT = 60.0
OUTPUT_TIMEOUT = 30.0
_POLL = 0.1

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # no internet here: nothing may phone home
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
    "--window-size=1280,900",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
)


class BrowserError(RuntimeError):
    """The browser or the page did not do what the test needed in time (the message says what)."""


def _poll(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    """probe() until it returns something truthy; BrowserError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / _POLL) + 2):
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL)
    raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what}")


def empty_notebook(kernel: str = "python3") -> dict[str, Any]:
    """An nbformat 4 notebook with one empty code cell and a kernelspec (no "Select Kernel" dialog)."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
        "cells": [
            {"cell_type": "code", "id": "first", "source": "", "metadata": {}, "outputs": [], "execution_count": None}
        ],
    }


def output_text(notebook: dict[str, Any]) -> str:
    """Every stream and text/plain output of a saved notebook's code cells, joined."""
    parts: list[str] = []
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []):
            text = out.get("text") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain")
            parts.append("".join(text) if isinstance(text, list) else str(text or ""))
    return "".join(parts)


class JupyterPage:
    """One tab on a Jupyter server (JupyterLab or Notebook 7), logged in; API calls ride the page's cookie."""

    def __init__(self, page: Page, url: str, artifacts: Path) -> None:
        self.page = page
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        # Notebook 7's pages live under /tree and /notebooks, JupyterLab's under /lab.
        self.app = "notebook" if parts.path.startswith(("/tree", "/notebooks")) else "lab"
        self.artifacts = artifacts

    # ---- the server's REST API, as this page -----------------------------

    def _xsrf(self) -> str:
        for cookie in self.page.context.cookies(self.base):
            if cookie["name"] == "_xsrf":
                return cookie["value"]
        return ""

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON or text) of a call with the page's own login cookie (and its _xsrf for writes)."""
        headers = {"X-XSRFToken": self._xsrf()} if method != "GET" else {}
        response = self.page.request.fetch(
            self.base + path, method=method, headers=headers, data=None if body is None else json.dumps(body)
        )
        text = response.text()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text

    def create_notebook(self, name: str, kernel: str = "python3") -> None:
        """A new notebook `name` (relative to the server's root) with one empty cell and `kernel`."""
        status, answer = self.api(
            "PUT", f"/api/contents/{name}", {"type": "notebook", "content": empty_notebook(kernel)}
        )
        if status not in (200, 201):
            raise BrowserError(f"creating {name} through the contents API: {status} {answer}")

    def saved_notebook(self, name: str) -> dict[str, Any]:
        """The notebook as the server has it on disk (contents API)."""
        status, answer = self.api("GET", f"/api/contents/{name}?content=1&type=notebook")
        if status != 200:
            raise BrowserError(f"reading {name} through the contents API: {status} {answer}")
        return dict(answer["content"])

    def kernel_state(self, name: str) -> str:
        """The execution state of the kernel of the session for `name` ("" while there is none)."""
        status, sessions = self.api("GET", "/api/sessions")
        if status != 200:
            raise BrowserError(f"/api/sessions answered {status}: {sessions}")
        for session in sessions:
            if session.get("path") == name and session.get("kernel"):
                return str(session["kernel"].get("execution_state", ""))
        return ""

    def wait_kernel_idle(self, name: str, timeout: float = KERNEL_TIMEOUT) -> None:
        """Until the notebook's kernel is up and idle: a cell run before that can be dropped silently."""
        _poll(f"the kernel of {name} to be idle (/api/sessions)", lambda: self.kernel_state(name) == "idle", timeout)

    # ---- the page, as a user sees it -------------------------------------

    def wait_app(self, timeout: float = PAGE_TIMEOUT) -> None:
        """Until the application is on screen with its theme applied (JupyterLab's, or Notebook 7's).

        Both mark <body> with the theme's name once its stylesheet loaded. Seen once on a busy
        machine: the stylesheet failed to load and an "Error Loading Theme" dialog covered the
        page; then the page is reloaded once, as a user would (the screenshot of it is kept).
        """
        shell = "#main-panel, .jp-LabShell" if self.app == "lab" else "#main-panel, .jp-NotebookShell"
        self.page.locator(shell).first.wait_for(state="visible", timeout=timeout * 1000)
        themed = "body[data-jp-theme-name]"
        theme_error = '.jp-Dialog[aria-label^="Error Loading Theme"]'
        for attempt in range(2):
            self.page.locator(f"{themed}, {theme_error}").first.wait_for(state="attached", timeout=timeout * 1000)
            if not self.page.locator(theme_error).count():
                return
            self.screenshot(f"theme-error-{attempt}")
            self.page.reload(wait_until="domcontentloaded", timeout=timeout * 1000)
        raise BrowserError("JupyterLab's theme stylesheet failed to load twice (see the theme-error screenshots)")

    def disable_news(self) -> None:
        """Say no to the "Jupyter news?" toast of a first load (it covers the page), then reload without it.

        The answer is the user's setting on the server (reset with the remote's home after a test).
        """
        raw = json.dumps({"fetchNews": "false", "checkForUpdates": False})
        status, answer = self.api("PUT", "/lab/api/settings/@jupyterlab/apputils-extension:notification", {"raw": raw})
        if status not in (200, 204):
            raise BrowserError(f"turning Jupyter news off in the settings API: {status} {answer}")
        self.page.reload(wait_until="domcontentloaded")
        self.wait_app()

    def open_notebook(self, name: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Navigate this tab to the notebook and wait until its first cell's editor is on screen."""
        path = f"/lab/tree/{name}" if self.app == "lab" else f"/notebooks/{name}"
        self.page.goto(self.base + path, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.locator(".jp-Notebook .jp-Cell .cm-content").first.wait_for(state="visible", timeout=timeout * 1000)

    def run_cell(self, code: str, *, expect: str, timeout: float = OUTPUT_TIMEOUT) -> str:
        """Type `code` into the last cell, run it (Shift+Enter) and return the page's outputs once one shows `expect`.

        The text is inserted as a paste would (no key events), so the editor's auto-closing brackets
        and auto-indent leave it as written.
        """
        editor = self.page.locator(".jp-Notebook .jp-Cell .cm-content").last
        editor.click()
        self.page.keyboard.insert_text(code)
        self.page.keyboard.press("Shift+Enter")
        outputs = self.page.locator(".jp-Notebook .jp-OutputArea-output")
        try:
            outputs.filter(has_text=expect).first.wait_for(state="visible", timeout=timeout * 1000)
        except Exception as exc:
            shot = self.screenshot("run-cell-failed")
            raise BrowserError(f"no output showing {expect!r} after running {code!r} (screenshot: {shot})") from exc
        return "\n".join(outputs.all_inner_texts())

    def new_notebook_from_launcher(self, timeout: float = PAGE_TIMEOUT) -> str:
        """JupyterLab: click the Launcher's first Notebook card (the default kernel); the new notebook's path.

        The path is the one notebook in the server's root that was not there before the click
        (`Untitled.ipynb`, `Untitled1.ipynb`...).
        """
        before = self._notebooks_in_root()
        self.page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
        # Not /api/sessions: the new session has a temporary path (a uuid) until the file exists.
        path: str = _poll(
            "the launcher's new notebook file",
            lambda: next(iter(sorted(self._notebooks_in_root() - before)), ""),
            timeout,
        )
        self.page.locator(".jp-Notebook .jp-Cell .cm-content").first.wait_for(state="visible", timeout=timeout * 1000)
        return path

    def _notebooks_in_root(self) -> set[str]:
        status, listing = self.api("GET", "/api/contents?content=1")
        if status != 200:
            raise BrowserError(f"listing the server's root through the contents API: {status} {listing}")
        return {item["path"] for item in listing["content"] if item["type"] == "notebook"}

    def save(self, name: str | None = None, timeout: float = OUTPUT_TIMEOUT) -> None:
        """Ctrl+S, as a user saves; with `name`, wait until the saved file on the server has outputs.

        JupyterLab 4 asks to rename an `Untitled` notebook on its first save: the dialog is
        accepted with the name it proposes, so the file keeps its path.
        """
        self.page.keyboard.press("Control+s")
        if name is None:
            return
        accept = self.page.locator(".jp-Dialog button.jp-mod-accept")

        def saved() -> bool:
            if accept.count() and accept.first.is_visible():
                accept.first.click()
            return bool(output_text(self.saved_notebook(name)))

        _poll(f"{name} to be saved with its outputs", saved, timeout)

    def screenshot(self, label: str) -> Path:
        """A full-page PNG `<artifacts>/<label>.png` (kept after the test; the path is returned)."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


class Browser:
    """A headless Chromium process owned by the test, with Playwright attached to it over CDP."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        playwright: Playwright,
        cdp: PlaywrightBrowser,
        artifacts: Path,
        profile: Path,
    ) -> None:
        self.proc = proc
        self.playwright = playwright
        self.cdp = cdp
        self.artifacts = artifacts
        self.profile = profile  # Chromium's user-data dir: pass it to start_browser() again to reopen

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def open_jupyter(self, url: str, timeout: float = PAGE_TIMEOUT) -> JupyterPage:
        """A new tab at `url` (with `?token=` it logs in, as the browser remotebook opens does), the app on screen."""
        context = self.cdp.contexts[0] if self.cdp.contexts else self.cdp.new_context()
        page = context.new_page()
        page.set_default_timeout(timeout * 1000)
        page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        jupyter = JupyterPage(page, url, self.artifacts)
        jupyter.wait_app(timeout)
        return jupyter

    def log_in(self, url: str, password: str, timeout: float = PAGE_TIMEOUT) -> JupyterPage:
        """Open `url` (no token: Jupyter answers with its login page), type the password, submit; the app on screen.

        A refused password leaves the login page: BrowserError (with a screenshot).
        """
        page = self.new_page(url, timeout)
        page.locator("#password_input").fill(password)
        page.locator("#login_submit").click()
        jupyter = JupyterPage(page, url, self.artifacts)
        try:
            jupyter.wait_app(timeout)
        except Exception as exc:
            shot = jupyter.screenshot("login-refused")
            raise BrowserError(f"the login page did not let the password in (screenshot: {shot})") from exc
        return jupyter

    def new_page(self, url: str, timeout: float = PAGE_TIMEOUT) -> Page:
        """A plain new tab at `url` (a login page, say), nothing waited for beyond the document."""
        context = self.cdp.contexts[0] if self.cdp.contexts else self.cdp.new_context()
        page = context.new_page()
        page.set_default_timeout(timeout * 1000)
        page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        return page

    def kill(self) -> None:
        """SIGKILL Chromium and its helpers (its own process group): the page gets no unload, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._kill_group()
        self._detach()

    def close(self) -> None:
        """Close politely (pages unload), then make sure the process is gone. Idempotent."""
        if self.alive:
            with contextlib.suppress(Exception):
                self.cdp.close()
            try:
                self.proc.terminate()
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._kill_group()
        self._detach()

    def _kill_group(self) -> None:
        """Renderer and helper processes share the group: none may outlive the test (bounded wait)."""

        def gone() -> bool:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return True
            return False

        with contextlib.suppress(BrowserError):  # a zombie that init has not reaped yet is harmless
            _poll("chromium's helper processes to exit", gone, 5.0)

    def _detach(self) -> None:
        with contextlib.suppress(Exception):
            self.playwright.stop()


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port Chromium chose, from the DevToolsActivePort file it writes in its profile."""

    def ready() -> int | None:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with {proc.returncode} while starting: {log.read_text()[-2000:]}")
        try:
            return int((profile / "DevToolsActivePort").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    port: int = _poll("chromium's DevTools port", ready, START_TIMEOUT)
    return port


def start_browser(artifacts: Path, profile: Path | None = None) -> Browser:
    """Start headless Chromium and attach Playwright. `artifacts`: where screenshots and the browser log go.

    `profile` is Chromium's user-data dir (default: a fresh temp dir, `browser.profile`, which the
    caller removes with remove_profile() when done); pass the same one to a second start_browser()
    to reopen with what the first one left (its cookies, as far as a kill() let it write them).
    """
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserError(f"{CHROMIUM} is missing: run `bash tests/harness/setup.sh` as root")
    artifacts.mkdir(parents=True, exist_ok=True)
    profile = profile or Path(tempfile.mkdtemp(prefix="rb-chromium-"))
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a killed browser's would be stale
    log = artifacts / "chromium.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # its own group: kill() reaches every helper process
        )
    playwright: Playwright | None = None
    try:
        port = _devtools_port(profile, proc, log)
        playwright = sync_playwright().start()
        cdp = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}", timeout=START_TIMEOUT * 1000)
    except BaseException:
        if playwright is not None:
            with contextlib.suppress(Exception):
                playwright.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise
    return Browser(proc, playwright, cdp, artifacts, profile)


def remove_profile(profile: Path) -> None:
    """Remove a profile dir made for start_browser() (after the last browser on it is gone)."""
    shutil.rmtree(profile, ignore_errors=True)


__all__ = ["Browser", "BrowserError", "JupyterPage", "empty_notebook", "output_text", "start_browser"]
