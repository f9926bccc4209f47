"""A tiny wheel made by hand, and a PEP 503 "simple" package index served from this process.

The harness's remote has no internet: tests point its pip or uv at this index, on the
host side of the harness's veth (our own test network), to install from local wheels.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import http.server
import re
import threading
import zipfile
from pathlib import Path


def tiny_wheel(folder: Path, name: str = "rbtiny", version: str = "1.0", value: int = 42) -> Path:
    """`name-version-py3-none-any.whl` whose package has VALUE = value (METADATA, WHEEL, RECORD by hand)."""
    files = {
        f"{name}/__init__.py": f"VALUE = {value}\n".encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: remotebook-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},{digest(data)},{len(data)}\n" for path, data in files.items())
    record += f"{name}-{version}.dist-info/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(f"{name}-{version}.dist-info/RECORD", record)
    return wheel


def project_of(wheel: Path) -> str:
    """PEP 503 normalized project name of a wheel file."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()


class SimpleIndex:
    """PEP 503 index of some folders of wheels, on http://ADDRESS:PORT/simple/, until close()."""

    def __init__(self, root: Path, address: str, wheel_dirs: list[Path]) -> None:
        files, simple = root / "files", root / "simple"
        files.mkdir(parents=True)
        projects: dict[str, list[str]] = {}
        for folder in wheel_dirs:
            for wheel in sorted(folder.glob("*.whl")):
                (files / wheel.name).symlink_to(wheel)
                projects.setdefault(project_of(wheel), []).append(wheel.name)
        for project, names in projects.items():
            page = simple / project
            page.mkdir(parents=True)
            links = "".join(f'<a href="/files/{html.escape(n)}">{html.escape(n)}</a>\n' for n in names)
            (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
        (simple / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n"
            + "".join(f'<a href="{p}/">{p}</a>\n' for p in projects)
            + "</body></html>\n"
        )
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer((address, 0), handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/simple/"
        self.host = address
        self.requests: list[str] = []
        self.server.requests = self.requests  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, name="pkgindex", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
