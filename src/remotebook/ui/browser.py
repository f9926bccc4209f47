"""Open the browser without putting the token on a command line (other local users see argv)."""

from __future__ import annotations

import html
import logging
import os
import webbrowser

from remotebook.local.paths import Paths, private_dir

log = logging.getLogger(__name__)


def open_url(paths: Paths, name: str, url: str) -> bool:
    """Write a 0600 page that redirects to `url` and open that file, as Jupyter itself does."""
    folder = private_dir(paths.state_dir / "open")
    page = folder / f"{''.join(c if c.isalnum() else '_' for c in name)[:60]}.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_redirect_page(url))
    try:
        return webbrowser.open(page.as_uri(), new=2)
    except webbrowser.Error as e:
        log.debug("no browser: %s", e)
        return False


def _redirect_page(url: str) -> str:
    safe = html.escape(url, quote=True)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0;url={safe}'><title>remotebook</title></head>"
        f"<body><p>Opening <a href='{safe}'>Jupyter</a>...</p></body></html>\n"
    )
