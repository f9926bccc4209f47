"""The import scanner: .py and .ipynb parsing edge cases, local modules, optional and conditional imports."""

from __future__ import annotations

import ast
import json
import os
import socket
from pathlib import Path

import pytest

from remotebook.deps import notebook, scan
from remotebook.deps import source as source_mod


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def nb4(*cells: str | list[str], language: str = "python", cell_type: str = "code") -> str:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "k", "language": language}},
            "cells": [{"cell_type": cell_type, "source": c, "metadata": {}, "outputs": []} for c in cells],
        }
    )


def names(result: scan.Scan) -> set[str]:
    return {i.name for i in result.imports}


def test_plain_imports_from_imports_and_dynamic_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.py",
        "import numpy as np, scipy.stats\n"
        "from pandas import DataFrame\n"
        "from google.cloud import storage\n"
        "from . import sibling\n"
        "from .. import parent\n"
        "import importlib\n"
        "importlib.import_module('torch')\n"
        "__import__('yaml')\n"
        "importlib.import_module(name_in_a_variable)\n"
        "importlib.import_module('.relative', 'pkg')\n",
    )
    found = names(scan.scan(tmp_path))
    assert found == {
        "numpy",
        "scipy.stats",
        "pandas.DataFrame",
        "google.cloud.storage",
        "importlib",
        "torch",
        "yaml",
    }


def test_optional_conditional_and_type_checking_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.py",
        "import sys, os\n"
        "try:\n    import ujson as json\nexcept ImportError:\n    import simplejson as json\n"
        "try:\n    import orjson\nexcept (ModuleNotFoundError, OSError):\n    pass\n"
        "try:\n    import needed\nexcept KeyError:\n    pass\n"
        "if sys.version_info < (3, 11):\n    import tomli\nelse:\n    import tomllib\n"
        "if sys.platform == 'win32':\n    import winreg_helper\n"
        "if os.name != 'nt':\n    import posix_helper\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pandas\n"
        "def lazy():\n    import matplotlib\n",
    )
    by_name = {i.name: i for i in scan.scan(tmp_path).imports}
    assert by_name["ujson"].optional and by_name["orjson"].optional and by_name["pandas"].optional
    assert not by_name["simplejson"].optional  # the fallback is what runs when ujson is missing
    assert not by_name["needed"].optional  # KeyError does not guard an import
    assert not by_name["matplotlib"].optional  # lazy imports in functions are still needed
    assert by_name["tomli"].marker == 'python_version < "3.11"'
    assert by_name["tomllib"].marker == 'python_version >= "3.11"'
    assert by_name["winreg_helper"].marker == 'sys_platform == "win32"'
    assert by_name["posix_helper"].marker == 'os_name != "nt"'
    assert by_name["ujson"].where == "a.py:3"


def test_syntax_error_file_is_read_line_by_line_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "py2.py", "import numpy\nprint 'hello'\nfrom scipy import io\n  import indented_one\n")
    write(tmp_path, "ok.py", "import pandas\n")
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "scipy", "indented_one", "pandas"}
    assert result.warnings == ["py2.py: syntax error at line 2; imports read line by line"]


def test_null_bytes_and_undecodable_files_do_not_crash(tmp_path: Path) -> None:
    (tmp_path / "bin.py").write_bytes(b"import numpy\n\x00\x00\xff\xfe")
    (tmp_path / "bin2.py").write_bytes(b"import scipy\n\x00\xff\xfe\nif x:\n    import pandas\n")
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "scipy", "pandas"}
    assert result.warnings == ["bin2.py: syntax error; imports read line by line"]


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np, scipy.stats as st\nfrom pandas import DataFrame as DF, Series\nfrom x.y import *\n",
        "from . import a\nfrom ..b import c\nimport os  # comment\n\n\ndef f():\n    return 1\n",
        "import a\ndef f():\n    import lazy\n",  # indented: parsed
        "import a\ntry:\n    import b\nexcept ImportError:\n    b = None\n",
        'import a\nDOC = """\nimport the data first\n"""\n',  # prose: parsed, and not an import
        "from google.cloud import (\n    storage,\n)\n",  # multi-line: parsed
        "import a; import b\n",
        "import importlib\nimportlib.import_module('dyn')\n",
    ],
)
def test_the_unparsed_fast_path_agrees_with_the_parser(tmp_path: Path, source: str) -> None:
    fast = None if "import_module" in source else source_mod._plain_imports(source, "f.py")  # as scan() does
    parsed: list[scan.Import] = []
    source_mod._walk(ast.parse(source).body, source_mod._Context("f.py"), parsed)
    parsed += source_mod._dynamic_imports(ast.parse(source), "f.py")
    assert fast is None or fast == parsed
    write(tmp_path, "f.py", source)
    assert scan.scan(tmp_path).imports == parsed


def test_project_modules_shadow_pypi_names_but_nested_modules_do_not(tmp_path: Path) -> None:
    write(tmp_path, "requests.py", "")  # a local module named like a PyPI package
    write(tmp_path, "mypkg/__init__.py", "")
    write(tmp_path, "mypkg/plotting/__init__.py", "")
    write(tmp_path, "mypkg/plotting/matplotlib.py", "import matplotlib\n")  # shadows nothing top-level
    write(tmp_path, "src/nspkg/mod.py", "")  # namespace package under src/
    write(tmp_path, "examples/tensorflow/train.py", "import tensorflow\nimport helpers\n")
    write(tmp_path, "examples/tensorflow/helpers.py", "")
    result = scan.scan(tmp_path)
    assert {"requests", "mypkg", "nspkg", "helpers", "train"} <= result.local
    assert not {"matplotlib", "tensorflow", "plotting", "examples"} & result.local


def test_hidden_dirs_venvs_caches_setup_py_and_excludes_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".ipynb_checkpoints/a-checkpoint.py", "import hidden\n")
    write(tmp_path, "env/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "env/lib/python3.11/site-packages/x.py", "import installed\n")
    write(tmp_path, "condaenv/conda-meta/history", "")
    write(tmp_path, "condaenv/lib/y.py", "import conda_installed\n")
    write(tmp_path, "__pycache__/z.py", "import cached\n")
    write(tmp_path, "setup.py", "import setuptools\n")
    write(tmp_path, "scratch/tmp.py", "import excluded\n")
    write(tmp_path, "main.py", "import kept\n")
    assert names(scan.scan(tmp_path, exclude=("scratch",))) == {"kept"}


def test_notebook_magics_shell_escapes_and_help_do_not_break_parsing(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.ipynb",
        nb4(
            [
                "%matplotlib inline\n",
                "import numpy as np\n",
                "files = !ls -la\n",
                "np.sum?\n",
                "t = %timeit -o np.sum(1)\n",
            ],
            "%%time\nimport pandas as pd\n",
            "%%bash\nimport notpython\npip install einops\n",
            "%%writefile helper_mod.py\nimport torch\n",
            "import helper_mod\n",
            "for i in range(3):\n    !echo {i}\n    import scipy\n",
            "?np\n",
            "",
        ),
    )
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "pandas", "scipy", "helper_mod"}
    assert "helper_mod" in result.local  # written by %%writefile: the project's own module
    assert list(result.pip) == ["einops"]
    assert result.warnings == []
    assert {i.where for i in result.imports if i.name == "pandas"} == {"a.ipynb cell 2:2"}


def test_notebook_cell_with_syntax_error_is_skipped_with_a_warning_not_the_whole_scan(tmp_path: Path) -> None:
    write(tmp_path, "a.ipynb", nb4("import numpy\n", "def broken(:\n    import seaborn\n", "import pandas\n"))
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "seaborn", "pandas"}
    assert result.warnings == ["a.ipynb cell 2: syntax error at line 1; imports read line by line"]


def test_nbformat_3_worksheets_and_markdown_raw_cells(tmp_path: Path) -> None:
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "markdown", "source": ["import not_code"]},
                    {"cell_type": "code", "input": ["%pylab inline\n", "import sympy\n"], "language": "python"},
                ]
            }
        ],
    }
    write(tmp_path, "old.ipynb", json.dumps(v3))
    write(tmp_path, "md.ipynb", nb4("import raw_cell", cell_type="raw"))
    assert names(scan.scan(tmp_path)) == {"sympy"}


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("{not json", "bad.ipynb: skipped: not valid JSON"),
        (nb4("library(ggplot2)", language="R"), "bad.ipynb: skipped: a r notebook"),
        (json.dumps({"nbformat": 2, "cells": []}), "bad.ipynb: skipped: nbformat 2 is not supported"),
        (json.dumps([1, 2]), "bad.ipynb: skipped: not a notebook"),
    ],
)
def test_unreadable_or_foreign_notebooks_are_skipped_with_a_warning(tmp_path: Path, text: str, warning: str) -> None:
    write(tmp_path, "bad.ipynb", text)
    result = scan.scan(tmp_path)
    assert result.imports == [] and len(result.warnings) == 1 and result.warnings[0].startswith(warning)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pip install numpy", ["numpy"]),
        ("pip install -q 'torch==2.1' transformers>=4.30 -U", ["torch==2.1", "transformers>=4.30"]),
        ("{sys.executable} -m pip install scikit-learn", ["scikit-learn"]),
        ("python3 -m pip install --upgrade pip setuptools", ["pip", "setuptools"]),
        ("uv pip install polars", ["polars"]),
        ("pip install -r requirements.txt -e . -i https://x/simple einops", ["einops"]),
        ("pip install --index-url=https://x/simple rich", ["rich"]),
        ("pip install git+https://github.com/a/b.git ./local.whl dist/x.tar.gz", []),
        ("pip install {pkg} $PKG", []),
        ("pip install 'jax[cpu]' && python run.py", ["jax[cpu]"]),
        ("pip install numpy  # a comment", ["numpy"]),
        ("pip list", []),
        ("conda install -c conda-forge numpy", []),
        ("apt-get install -y python3-pip", []),
        ("pip install 'unterminated", []),  # shlex fails: words split plainly, the quote makes it no name
    ],
)
def test_pip_install_lines(line: str, expected: list[str]) -> None:
    assert notebook.pip_requirements(line) == expected


def test_pip_magics_in_cells_are_recorded(tmp_path: Path) -> None:
    write(tmp_path, "a.ipynb", nb4("%pip install -q torch==2.1\n!pip install rich\nimport rich\n"))
    result = scan.scan(tmp_path)
    assert result.pip == {"torch==2.1": "a.ipynb cell 1", "rich": "a.ipynb cell 1"}


def test_stdlib_is_recognised() -> None:
    assert scan.is_stdlib("os.path") and scan.is_stdlib("__future__") and scan.is_stdlib("tomllib")
    assert not scan.is_stdlib("numpy")


@pytest.mark.parametrize(
    "source",
    [
        "try:\n    import numba\nexcept ImportError:\n    numba = None\n\n\ndef f():\n    return 1\n",
        "try:\n    import a\nexcept KeyError:\n    pass\nexcept ImportError:\n    pass\nx = 1\n",
        "import a\nif b:\n    import c\nX = '''\nno statement here\n'''\ny = 2\n",
        "if x:\n    import a\nDOC = '''\nimport b\n'''\n",  # the last `import` is in a string: whole parse
        "try:\n    import a\nexcept ImportError:\n    pass\nelse:\n    import b\nfinally:\n    pass\nz = 3\n",
        "def f():\n    import lazy\n# a comment at column 0\n    return lazy\n\n\nclass C:\n    pass\n",
        "x = (1,\n2)\nif y:\n    import a\n)\n",  # a stray bracket after the last import: whole parse, an error
    ],
)
def test_parsing_only_up_to_the_last_import_gives_what_the_whole_parse_gives(source: str) -> None:
    try:
        whole: list[scan.Import] | None = []
        source_mod._walk(ast.parse(source).body, source_mod._Context("f.py"), whole)
    except SyntaxError:
        whole = None
    try:
        cut: list[scan.Import] | None = []
        source_mod._walk(source_mod._parse_up_to_the_last_import(source).body, source_mod._Context("f.py"), cut)
    except SyntaxError:
        cut = None
    assert cut == whole


def test_imports_in_the_else_of_a_guarded_try_are_optional_too(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "try:\n    import simplejson\nexcept ImportError:\n    pass\nelse:\n    import ujson\n")
    assert {(i.name, i.optional) for i in scan.scan(tmp_path).imports} == {("simplejson", True), ("ujson", True)}


def test_imports_under_a_flag_set_by_a_guarded_import_are_optional(tmp_path: Path) -> None:
    write(
        tmp_path,
        "compat.py",
        "has_simplejson = False\n"
        "try:\n    import simplejson as json\n    has_simplejson = True\nexcept ImportError:\n    import json\n"
        "if has_simplejson:\n    from simplejson import JSONDecodeError\nelse:\n    from json import JSONDecodeError\n"
        "try:\n    import matplotlib\nexcept ImportError:\n    matplotlib = None\n"
        "if matplotlib is not None:\n    import seaborn\n"
        "if not has_simplejson:\n    import needed_then\n"
        "if unrelated:\n    import required\n",
    )
    by_name = {i.name: i.optional for i in scan.scan(tmp_path).imports}
    assert by_name["simplejson.JSONDecodeError"] and by_name["seaborn"] and by_name["matplotlib"]
    assert not by_name["needed_then"] and not by_name["required"]


def test_source_nested_too_deeply_for_the_parser_is_read_line_by_line(tmp_path: Path) -> None:
    # The indented imports keep the unparsed fast path out: these files must be parsed.
    write(tmp_path, "unary.py", "import numpy\nx = " + "-" * 100_000 + "1\nif y:\n    import scipy\n")  # MemoryError
    write(tmp_path, "calls.py", "import pandas\nx = " + "f(" * 300 + ")" * 300 + "\nif y:\n    import torch\n")
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "scipy", "pandas", "torch"}
    assert sorted(result.warnings) == [
        "calls.py: syntax error at line 2; imports read line by line",  # too many nested parentheses
        "unary.py: nested too deeply to parse; imports read line by line",
    ]


def test_a_file_over_the_parse_bound_is_read_line_by_line(tmp_path: Path) -> None:
    filler = "x = [1, 2, 3]\n" * (source_mod.MAX_PARSED // 14 + 1)
    write(tmp_path, "generated.py", "import numpy\n" + filler + "if x:\n    import scipy\n")
    write(tmp_path, "data.py", "import pandas\n" + filler)  # the unparsed fast path: no bound needed
    result = scan.scan(tmp_path)
    assert names(result) == {"numpy", "scipy", "pandas"}
    assert result.warnings == ["generated.py: over 1 MB; imports read line by line"]
    found = [i for i in result.imports if i.name == "scipy"]
    assert found[0].where == f"generated.py:{filler.count(chr(10)) + 3}"  # line numbers as in the file


def test_line_by_line_reading_numbers_lines_past_blank_ones() -> None:
    found = source_mod._imports_by_line("\n\n  import a\nprint 'x'\n\nfrom b import c\n", "f.py")
    assert [(i.name, i.where) for i in found] == [("a", "f.py:3"), ("b", "f.py:6")]


GOOD_CELL = {"cell_type": "code", "source": ["import good\n"]}
DEEP = 100_000  # json's decoder recurses once a level: RecursionError, not JSONDecodeError


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("[" * DEEP + "]" * DEEP, "skipped: not valid JSON (nested too deeply)"),
        ('{"a": ' * DEEP + "1" + "}" * DEEP, "skipped: not valid JSON (nested too deeply)"),
        ('{"cells": [' + "1" * 5000 + "]}", "skipped: not valid JSON"),  # more digits than int() takes
        ("[1, 2]", "skipped: not a notebook (the top level is a list, not an object)"),
        ("42", "skipped: not a notebook (the top level is a number, not an object)"),
        ('"text"', "skipped: not a notebook (the top level is a string, not an object)"),
        ("null", "skipped: not a notebook (the top level is null, not an object)"),
        ("{}", "skipped: not a notebook (no cells)"),
        ('{"nbformat": 4, "cells": {"0": 1}}', "skipped: not a notebook (cells is an object, not a list)"),
        ('{"cells": "import numpy"}', "skipped: not a notebook (cells is a string, not a list)"),
        ('{"nbformat": 3, "worksheets": "abc"}', "skipped: not a notebook (worksheets is a string, not a list)"),
        ('{"nbformat": 3}', "skipped: not a notebook (no worksheets)"),
        ('{"nbformat": "4", "cells": []}', "skipped: nbformat '4' is not supported"),
        ('{"nbformat": true, "cells": []}', "skipped: nbformat True is not supported"),
    ],
)
def test_json_that_is_not_a_notebook_is_skipped_with_one_line_and_the_scan_goes_on(
    tmp_path: Path, text: str, warning: str
) -> None:
    write(tmp_path, "bad.ipynb", text)
    write(tmp_path, "ok.py", "import kept\n")
    result = scan.scan(tmp_path)
    assert names(result) == {"kept"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith(f"bad.ipynb: {warning}")
    assert "\n" not in result.warnings[0]


@pytest.mark.parametrize(
    ("notebook_json", "left_out"),
    [
        ({"metadata": {"kernelspec": [1, 2]}, "cells": [GOOD_CELL]}, None),
        ({"metadata": [], "cells": [GOOD_CELL]}, None),
        ({"metadata": {"language_info": "python", "kernelspec": {"language": 3}}, "cells": [GOOD_CELL]}, None),
        ({"cells": [GOOD_CELL, {"cell_type": "markdown"}]}, None),  # a markdown cell's source is not read
        ({"cells": ["import not_a_cell", GOOD_CELL]}, "cell 1: a string, not a cell"),
        ({"cells": [GOOD_CELL, 7, None]}, "cell 2: a number, not a cell; cell 3: null, not a cell"),
        ({"cells": [{"cell_type": "code", "source": 5}, GOOD_CELL]}, "cell 1: source is a number, not text"),
        ({"cells": [{"cell_type": "code", "source": {"a": "import x"}}, GOOD_CELL]}, "cell 1: source is an object"),
        ({"cells": [{"cell_type": "code", "source": ["import x\n", 3]}, GOOD_CELL]}, "cell 1: source is a list, not"),
        ({"cells": [{"cell_type": "code"}, GOOD_CELL]}, "cell 1: no source"),
        ({"cells": [{"source": "import x"}, GOOD_CELL]}, "cell 1: no cell_type"),
        ({"cells": [{"cell_type": ["code"], "source": "import x"}, GOOD_CELL]}, "cell 1: cell_type is a list"),
        (
            {"cells": [1, 2, 3, 4, 5, GOOD_CELL]},
            "cell 1: a number, not a cell; cell 2: a number, not a cell; cell 3: a number, not a cell; and 2 more",
        ),
        (
            {
                "nbformat": 3,
                "worksheets": ["ws", {"cells": 3}, {}, {"cells": [{"cell_type": "code", "input": "import good"}]}],
            },
            "worksheet 1: a string, not a worksheet; worksheet 2: cells is a number, not a list; worksheet 3: no cells",
        ),
    ],
)
def test_a_notebook_with_malformed_parts_is_read_as_far_as_it_makes_sense(
    tmp_path: Path, notebook_json: dict[str, object], left_out: str | None
) -> None:
    write(tmp_path, "nb.ipynb", json.dumps(notebook_json))
    result = scan.scan(tmp_path)
    assert names(result) == {"good"}
    if left_out is None:
        assert result.warnings == []
    else:
        assert len(result.warnings) == 1 and result.warnings[0].startswith(
            f"nb.ipynb: read in part; left out {left_out}"
        )


def test_a_file_over_the_size_bound_is_skipped_unread(tmp_path: Path) -> None:
    with (tmp_path / "huge.py").open("wb") as f:
        f.write(b"import numpy\n")
        f.truncate(scan.MAX_BYTES[".py"] + 1)  # sparse: costs no disk
    write(tmp_path, "ok.py", "import kept\n")
    result = scan.scan(tmp_path)
    assert names(result) == {"kept"} and result.files == 1
    assert result.warnings == ["huge.py: skipped: over 10 MB, too big for a source file"]


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc")
def test_the_size_bound_counts_what_is_read_not_what_stat_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "proc.py").symlink_to("/proc/self/maps")  # a regular file whose st_size is 0
    monkeypatch.setitem(scan.MAX_BYTES, ".py", 10)
    assert scan.scan(tmp_path).warnings == ["proc.py: skipped: over 0 MB, too big for a source file"]


@pytest.mark.timeout(20)  # before the fix, opening the FIFO blocked forever
def test_fifos_sockets_devices_and_symlinks_to_them_are_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    os.mkfifo("pipe.py")
    os.symlink("pipe.py", "to_pipe.ipynb")
    os.symlink("/dev/null", "null.py")
    os.symlink("nowhere.py", "broken.py")
    os.symlink("loop.py", "loop.py")
    os.symlink("real.py", "to_real.py")
    write(tmp_path, "real.py", "import kept\n")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock.py")
        result = scan.scan(tmp_path)
    assert {i.where for i in result.imports} == {"real.py:1", "to_real.py:1"}  # a symlinked regular file is read
    assert result.files == 2
    assert result.warnings == [
        "broken.py: skipped: a broken symlink, not a regular file",
        "loop.py: skipped: a broken symlink, not a regular file",
        "null.py: skipped: a symlink to a character device, not a regular file",
        "pipe.py: skipped: a FIFO, not a regular file",
        "sock.py: skipped: a socket, not a regular file",
        "to_pipe.ipynb: skipped: a symlink to a FIFO, not a regular file",
    ]


@pytest.mark.timeout(20)
def test_a_fifo_put_in_place_of_a_file_after_it_was_listed_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "import numpy\n")
    entry = next(e for e in os.scandir(tmp_path) if e.name == "a.py")  # listed as a regular file
    (tmp_path / "a.py").unlink()
    os.mkfifo(tmp_path / "a.py")
    with pytest.raises(scan.Unreadable, match="a FIFO, not a regular file"):
        scan.read_source(tmp_path / "a.py", entry)


def test_a_file_gone_between_listing_and_open_is_skipped_with_the_os_reason(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "import numpy\n")
    entry = next(e for e in os.scandir(tmp_path) if e.name == "a.py")
    (tmp_path / "a.py").unlink()
    with pytest.raises(scan.Unreadable, match=r"^cannot open it \(No such file or directory\)$"):
        scan.read_source(tmp_path / "a.py", entry)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_a_file_that_cannot_be_opened_is_skipped_with_the_os_reason(tmp_path: Path) -> None:
    write(tmp_path, "secret.py", "import numpy\n").chmod(0)
    assert scan.scan(tmp_path).warnings == ["secret.py: skipped: cannot open it (Permission denied)"]


def test_symlinked_dirs_are_not_walked_and_the_order_is_top_down_by_name(tmp_path: Path) -> None:
    write(tmp_path, "b/z.py", "")
    write(tmp_path, "b/c/y.py", "")
    write(tmp_path, "a.py", "")
    write(tmp_path, "d.ipynb", "")
    write(tmp_path, "outside/x.py", "import outside\n")
    (tmp_path / "link").symlink_to(tmp_path / "outside")
    listed = [p.relative_to(tmp_path).as_posix() for p in scan.project_files(tmp_path)]
    assert listed == ["a.py", "d.ipynb", "b/z.py", "b/c/y.py", "outside/x.py"]


def test_load_ext_magics_in_a_cell_are_imports_of_the_extension(tmp_path: Path) -> None:
    write(
        tmp_path,
        "research.ipynb",
        nb4(
            "%load_ext line_profiler\n%load_ext memory_profiler\nimport numpy\n",
            "%reload_ext autoreload\n%load_ext storemagic\n%load_ext IPython.extensions.autoreload\n"
            "%load_ext rpy2.ipython\n"  # kept whole, like `import rpy2.ipython`: resolved by rpy2
            "%load_ext a b\n%load_ext {name}\n%load_ext\n"  # IPython imports the whole argument: none of these
            "load_ext snakeviz\n"  # automagic: no % needed
            "load_ext = print\nload_ext(1)\n"  # plain Python
            "if True:\n    %load_ext Cython\n",
        ),
    )
    result = scan.scan(tmp_path)
    assert [(i.name, i.where) for i in result.imports if i.name != "numpy"] == [
        ("line_profiler", "research.ipynb cell 1:1"),
        ("memory_profiler", "research.ipynb cell 1:2"),
        ("rpy2.ipython", "research.ipynb cell 2:4"),
        ("snakeviz", "research.ipynb cell 2:8"),
        ("Cython", "research.ipynb cell 2:12"),
    ]
    assert result.warnings == []  # every magic line became `pass`: the cell parsed


def test_load_ext_calls_in_scripts_made_from_notebooks_are_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        "exported.py",  # nbconvert --to script; no `import` in the file at all
        "get_ipython().run_line_magic('load_ext', 'line_profiler')\n"
        'get_ipython().run_line_magic("reload_ext", "autoreload")\n'
        "get_ipython().run_line_magic('matplotlib', 'inline')\n"
        "get_ipython().magic('load_ext memory_profiler')\n"
        "get_ipython().magic('%reload_ext snakeviz')\n"
        "ip = get_ipython()\n"
        "def setup():\n    ip.extension_manager.load_extension('watermark')\n"
        "conn.load_extension('mod_spatialite')\n"  # sqlite3's, not IPython's
        "get_ipython().run_line_magic('load_ext', name)\n",
    )
    result = scan.scan(tmp_path)
    assert [(i.name, i.where) for i in result.imports] == [
        ("line_profiler", "exported.py:1"),
        ("memory_profiler", "exported.py:4"),
        ("snakeviz", "exported.py:5"),
        ("watermark", "exported.py:8"),
    ]
