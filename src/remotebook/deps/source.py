"""The imports of one piece of Python source, with their context: optional, PEP 508 marker, guarded by a flag.

A file whose imports are all one-line statements at column 0 is not parsed at all; one that
must be parsed is parsed only up to its last import; one that does not parse is read line by line.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from dataclasses import dataclass

IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import\s+(?P<names>[\w.]+(?:\s*,\s*[\w.]+)*)|from\s+(?P<module>[\w.]+)\s+import\b)", re.M
)
_AS = r"(?:\s+as\s+\w+)?"
# An import statement alone on its line; at column 0 it can be under no try/if/def.
_PLAIN_IMPORT = re.compile(
    rf"(?:import\s+(?P<names>[\w.]+{_AS}(?:\s*,\s*[\w.]+{_AS})*)"
    rf"|from\s+(?P<module>[\w.]+)\s+import\s+(?P<what>\*|\w+{_AS}(?:\s*,\s*\w+{_AS})*))\s*(?:#.*)?"
)
_WORD_IMPORT = re.compile(r"\bimport\b")  # not feature_importances_, import_module or __import__
# A line at column 0 that goes on the statement before it, not one that starts a new one.
_GOES_ON = re.compile(r"(?:except|else|elif|finally)\b|[)\]}]")
# Parsing takes about a second per MB and 300 bytes of memory per byte of source: a bigger
# file (generated code, data) is read line by line, which is linear and loses only context.
MAX_PARSED = 1 << 20
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
# `%load_ext autoreload` and `%load_ext storemagic` load IPython's own (IPython.extensions.X):
# the kernel that runs the notebook brings them, so they are no requirement.
IPYTHON_EXTENSIONS = frozenset({"autoreload", "storemagic"})
_EXTENSION_MAGICS = frozenset({"load_ext", "reload_ext"})
_LOADERS = frozenset({"import_module", "__import__", "run_line_magic", "magic", "load_extension", "reload_extension"})
_MARKER_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class Import:
    """One imported module: dotted name as written, where, and how much it is needed."""

    name: str  # e.g. "numpy", "google.cloud.storage" (for `from google.cloud import storage`)
    where: str  # "path:line" or "nb.ipynb cell 3:line"
    optional: bool = False  # inside try/except ImportError, or under `if TYPE_CHECKING:`
    marker: str = ""  # PEP 508 marker when under `if sys.version_info < (3, 11):` and the like
    dev: bool = False  # in a test, the docs' conf.py or other dev tooling, not in what the project runs


def imports_of(text: str, where: str) -> tuple[list[Import], str]:
    """The imports of one file or cell, and a warning ("" if none) when it did not parse."""
    if "import" not in text and "load_ext" not in text:
        return [], ""  # most cells: nothing to parse
    # Also a script made from a notebook: get_ipython().run_line_magic("load_ext", "line_profiler")
    dynamic = "import_module" in text or "__import__" in text or "load_ext" in text
    plain = None if dynamic else _plain_imports(text, where)
    if plain is not None:  # the common file: parsing would tell nothing more, at 10x the cost
        return plain, ""
    if len(text) > MAX_PARSED:
        return _imports_by_line(text, where), f"{where}: over {MAX_PARSED >> 20} MB; imports read line by line"
    try:
        tree = ast.parse(text) if dynamic else _parse_up_to_the_last_import(text)
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        warning = f"{where}: syntax error{f' at line {line}' if line else ''}; imports read line by line"
        return _imports_by_line(text, where), warning
    except (RecursionError, MemoryError):  # how CPython's parser says "nested too deeply" (x = -----1)
        return _imports_by_line(text, where), f"{where}: nested too deeply to parse; imports read line by line"
    found: list[Import] = []
    try:
        _walk(tree.body, _Context(where), found)
    except RecursionError:  # absurdly nested blocks: keep the imports, lose the context
        found = _flat_imports(tree, where)
    if dynamic:
        found += _dynamic_imports(tree, where)
    return found, ""


def _parse_up_to_the_last_import(text: str) -> ast.Module:
    """Parse only the top-level statements up to the one holding the last `import`, if that parses.

    The cut is at the first line after the last `import` that starts a new top-level
    statement (column 0, not `except`/`else`/...), so every statement before it is whole and
    its imports get the same context as in the whole file. A cut inside a string or
    brackets does not parse, and the whole text is parsed instead (so are syntax errors).
    """
    lines = text.splitlines(keepends=True)
    last = max((i for i, line in enumerate(lines) if "import" in line and _WORD_IMPORT.search(line)), default=-1)
    for cut in range(last + 1, len(lines)):
        line = lines[cut]
        if line[:1].strip() and line[0] != "#" and not _GOES_ON.match(line):
            try:
                return ast.parse("".join(lines[:cut]))
            except (SyntaxError, ValueError):
                break
    return ast.parse(text)


def _plain_imports(text: str, where: str) -> list[Import] | None:
    """The imports when every line that mentions `import` is a one-line import statement at column 0.

    Such a statement cannot sit under a try, an if or a def, so it is unconditional and
    required: exactly what the parse would say. Anything else (an indented or multi-line
    import, `import` in prose) returns None, and the file is parsed.
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "import" not in line or not _WORD_IMPORT.search(line):
            continue
        m = _PLAIN_IMPORT.fullmatch(line.rstrip())
        if m is None:
            return None
        if m.group("names"):
            names = [part.split()[0] for part in m.group("names").split(",")]
        elif m.group("module").startswith("."):
            continue  # relative: the project's own
        elif m.group("what") == "*":
            names = [m.group("module")]
        else:
            names = [f"{m.group('module')}.{part.split()[0]}" for part in m.group("what").split(",")]
        found += [Import(name, f"{where}:{number}") for name in names]
    return found


@dataclass(frozen=True)
class _Context:
    where: str
    optional: bool = False
    marker: str = ""
    # Names that say whether a guarded import worked (HAS_X = True in the try, `import x` there
    # with x = None in the handler): `if HAS_X:` / `if x is not None:` guards like the try.
    flags: set[str] = dataclasses.field(default_factory=set, compare=False)

    def add(self, out: list[Import], name: str, node: ast.AST) -> None:
        out.append(Import(name, f"{self.where}:{getattr(node, 'lineno', 0)}", self.optional, self.marker))

    def but(self, *, optional: bool = False, marker: str = "") -> _Context:
        joined = " and ".join(m for m in (self.marker, marker) if m)
        return _Context(self.where, self.optional or optional, joined, self.flags)


def _walk(statements: list[ast.stmt], ctx: _Context, out: list[Import]) -> None:
    """Statements only (imports are statements): expressions are most of a tree and hold none."""
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                ctx.add(out, alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:  # relative imports are the project's own
                for alias in node.names:  # `from google.cloud import storage` may name a submodule
                    ctx.add(out, node.module if alias.name == "*" else f"{node.module}.{alias.name}", node)
        elif isinstance(node, _TRY):
            guarded = any(_catches_import_error(h) for h in node.handlers)
            if guarded:
                ctx.flags.update(_bound_names(node.body))
            _walk(node.body, ctx.but(optional=guarded), out)
            for handler in node.handlers:
                _walk(handler.body, ctx, out)
            _walk(node.orelse, ctx.but(optional=guarded), out)  # runs only when the guarded import worked
            _walk(node.finalbody, ctx, out)
        elif isinstance(node, ast.If):
            if _is_type_checking(node.test):
                body_ctx, else_ctx = ctx.but(optional=True), ctx
            elif marker := _marker(node.test):
                body_ctx, else_ctx = ctx.but(marker=marker), ctx.but(marker=_negate(marker))
            elif (worked := _tests_a_flag(node.test, ctx.flags)) is not None:
                body_ctx, else_ctx = (ctx.but(optional=True), ctx) if worked else (ctx, ctx.but(optional=True))
            else:
                body_ctx = else_ctx = ctx
            _walk(node.body, body_ctx, out)
            _walk(node.orelse, else_ctx, out)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                _walk(case.body, ctx, out)
        else:  # def, class, with, for, while: their bodies
            for field_name in ("body", "orelse"):
                inner = getattr(node, field_name, None)
                if isinstance(inner, list):
                    _walk(inner, ctx, out)


_TRY = (ast.Try, ast.TryStar) if sys.version_info >= (3, 11) else (ast.Try,)


def _dynamic_imports(tree: ast.AST, where: str) -> list[Import]:
    return [
        Import(name, f"{where}:{node.lineno}")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (name := _dynamic_import(node))
    ]


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    """Names a guarded try body binds at its own level: imported modules and assigned flags."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).partition(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _tests_a_flag(test: ast.expr, flags: set[str]) -> bool | None:
    """True: the if-body runs when the guarded import worked; False: the else does; None: unrelated."""
    if isinstance(test, ast.Name) and test.id in flags:
        return True
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _tests_a_flag(test.operand, flags)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return True if any(_tests_a_flag(v, flags) for v in test.values) else None
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id in flags
        and len(test.ops) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return {ast.IsNot: True, ast.Is: False}.get(type(test.ops[0]))
    return None


def _dynamic_import(call: ast.Call) -> str:
    """importlib.import_module("x") / import_module("x") / __import__("x") with a literal name,
    and the IPython extension loaded by a literal get_ipython().run_line_magic("load_ext", "x")."""
    func = call.func
    fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if fname not in _LOADERS:
        return ""
    args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in call.args]
    if not args or args[0] is None:
        return ""
    if fname in ("import_module", "__import__"):
        return args[0] if MODULE_NAME.fullmatch(args[0]) else ""
    if fname == "run_line_magic" and len(args) > 1 and args[0] in _EXTENSION_MAGICS:
        return extension_module(args[1] or "")
    if fname == "magic":  # the old get_ipython().magic("load_ext x")
        magic, _, arg = args[0].lstrip("%").partition(" ")
        return extension_module(arg) if magic in _EXTENSION_MAGICS else ""
    on_manager = isinstance(func, ast.Attribute) and _last_name(func.value) == "extension_manager"
    if fname in ("load_extension", "reload_extension") and on_manager:  # not sqlite3's load_extension
        return extension_module(args[0])
    return ""


def extension_module(arg: str) -> str:
    """The module `%load_ext ARG` imports, or "" when it is no requirement.

    IPython imports the whole argument as one name, so `%load_ext a b` (or with a comment)
    loads nothing; IPython's own extensions come with the kernel. A dotted name is kept
    whole, like `import rpy2.ipython`: resolving goes by its top-level name.
    """
    name = arg.strip()
    if not MODULE_NAME.fullmatch(name) or name in IPYTHON_EXTENSIONS or name.partition(".")[0] == "IPython":
        return ""
    return name


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type
    if kinds is None:
        return True  # a bare except catches ImportError too
    names = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    return any(_last_name(n) in IMPORT_ERRORS for n in names)


def _last_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _is_type_checking(test: ast.expr) -> bool:
    return _last_name(test) == "TYPE_CHECKING"


def _marker(test: ast.expr) -> str:
    """`sys.version_info >= (3, 11)`, `sys.platform == "win32"`, `os.name == "nt"` as a PEP 508 marker."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _MARKER_OPS):
        return ""
    op = _MARKER_OPS[type(test.ops[0])]
    left, right = test.left, test.comparators[0]
    if isinstance(left, ast.Subscript):  # sys.version_info[:2]
        left = left.value
    source = ast.unparse(left)
    if source == "sys.version_info" and isinstance(right, ast.Tuple):
        parts = [e.value for e in right.elts if isinstance(e, ast.Constant) and isinstance(e.value, int)]
        if parts and len(parts) == len(right.elts):
            var = "python_full_version" if len(parts) > 2 else "python_version"
            return f'{var} {op} "{".".join(map(str, parts))}"'
    variables = {"sys.platform": "sys_platform", "os.name": "os_name", "platform.system()": "platform_system"}
    if source in variables and isinstance(right, ast.Constant) and isinstance(right.value, str) and op in ("==", "!="):
        return f'{variables[source]} {op} "{right.value}"'
    return ""


def _negate(marker: str) -> str:
    var, op, value = marker.split(" ", 2)
    return f"{var} {_NEGATED[op]} {value}"


def _flat_imports(tree: ast.AST, where: str) -> list[Import]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, f"{where}:{node.lineno}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(node.module, f"{where}:{node.lineno}"))
    return found


def _imports_by_line(text: str, where: str) -> list[Import]:
    """For code that does not parse (Python 2, a half-written cell): import statements at line starts."""
    found, line, counted = [], 1, 0
    for m in _IMPORT_LINE.finditer(text):
        line += text.count("\n", counted, m.start())  # on from the last match: linear in a 10 MB file
        counted = m.start()
        names = m.group("names").split(",") if m.group("names") else [m.group("module")]
        found += [Import(n.strip(), f"{where}:{line}") for n in names if not n.strip().startswith(".")]
    return found
