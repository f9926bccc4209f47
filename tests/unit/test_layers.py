"""The package's folders are its layers: each imports only its own folder and the ones below it.

Every import counts, those inside functions and under TYPE_CHECKING included: a circle hidden in a
function is still a circle. README's layout section lists each folder once, in this order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import remotebook

PACKAGE = Path(remotebook.__file__).parent
README = PACKAGE.parent.parent / "README.md"

# From the screen down; a module may import its own layer and any layer after it.
LAYERS = (
    "ui",
    "supervisor",
    "actions",
    "env",
    "sync",
    "project",
    "launch",
    "remote",
    "connection",
    "local",
    "deps",
    "platform",
    "core",
)
UPWARD_ALLOWED: set[tuple[str, str]] = set()  # (importer, imported): none today; the issue allows two


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules this file imports, wherever in the file the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("remotebook"):
            for alias in node.names:  # `from remotebook.x import y`: y may be a module or a name in x
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found & known


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, known) - {name} for name, path in mods.items()}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def test_every_folder_is_a_layer_and_no_module_stands_loose() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert folders == set(LAYERS)
    assert loose == set()


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = set()
    for importer, imported in graph().items():
        for other in imported:
            here, there = layer_of(importer), layer_of(other)
            if here and there and LAYERS.index(there) < LAYERS.index(here):
                upward.add((importer, other))
    assert upward - UPWARD_ALLOWED == set()


def test_no_import_circle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    assert circles == []
