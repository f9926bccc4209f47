"""Import -> distribution resolution against a real interpreter, the table, pins, rendering and --check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remotebook.deps import reqs, resolve


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def fake_dist(venv: Path, name: str, version: str, files: list[str], top_level: str | None = None) -> None:
    """A distribution as installers leave it: a .dist-info with METADATA, RECORD (and top_level.txt)."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)
    for f in files:
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_text("")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, empty interpreter environment with a few hand-made distributions in it."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    fake_dist(path, "opencv-python-headless", "4.9.0.80", ["cv2/__init__.py"], "cv2\n")
    fake_dist(path, "protobuf", "4.25.3", ["google/protobuf/__init__.py"])
    fake_dist(path, "google-cloud-storage", "2.14.0", ["google/cloud/storage/__init__.py"])
    fake_dist(path, "torch", "2.1.0+cpu", ["torch/__init__.py"], "torch\n")
    fake_dist(path, "PyYAML", "6.0.1", ["yaml/__init__.py", "_yaml/__init__.py"], "_yaml\nyaml\n")
    fake_dist(path, "single-module", "1.0", ["single_module.py"])
    return path


def python(venv: Path) -> str:
    return str(venv / "bin" / "python")


def test_the_project_interpreter_is_asked_and_namespaces_resolve_to_the_deepest_owner(venv: Path) -> None:
    modules = ["cv2", "google.protobuf.message", "google.cloud.storage", "yaml", "single_module", "absent"]
    found = resolve.ask_installed(python(venv), modules, ["torch", "no-such-dist"])
    assert found.modules == {
        "cv2": ("opencv-python-headless", "4.9.0.80"),
        "google.protobuf.message": ("protobuf", "4.25.3"),
        "google.cloud.storage": ("google-cloud-storage", "2.14.0"),
        "yaml": ("PyYAML", "6.0.1"),
        "single_module": ("single-module", "1.0"),
        "absent": None,
    }
    assert found.versions == {"torch": "2.1.0+cpu", "no-such-dist": None}


def test_an_interpreter_that_fails_means_table_only(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert resolve.ask_installed(str(broken), ["numpy"], []).modules == {}


def test_table_longest_prefix() -> None:
    assert resolve.from_table("sklearn.linear_model") == "scikit-learn"
    assert resolve.from_table("PIL.Image") == "Pillow"
    assert resolve.from_table("surely_not_a_known_module_xyz") is None


def test_table_file_is_sorted_unique_and_well_formed() -> None:
    lines = [line for line in resolve.TABLE.read_text().splitlines() if line and not line.startswith("#")]
    modules = [line.split(" ")[0] for line in lines]
    assert all(len(line.split(" ")) == 2 for line in lines)
    assert modules == sorted(modules) and len(set(modules)) == len(modules)


def test_build_local_wins_then_table_then_unresolved_and_pins(tmp_path: Path, venv: Path) -> None:
    write(
        tmp_path,
        "analysis.py",
        "import cv2, yaml, sklearn, torch\nimport google.protobuf\nimport mylab_tools\n"
        "try:\n    import zzz_optional_unknown\nexcept ImportError:\n    pass\n",
    )
    report = reqs.build(tmp_path, python=python(venv))
    assert [r.line() for r in report.requirements] == [
        "opencv-python-headless==4.9.0.80",  # what this laptop really has, not the table's opencv-python
        "protobuf==4.25.3",
        "PyYAML==6.0.1",
        "scikit-learn  # not installed here: not pinned",  # the table knows it; the laptop lacks it
        "torch==2.1.0",  # the local label (+cpu) names a build the index does not have
    ]
    assert report.unresolved == [("mylab_tools", "analysis.py:3"), ("zzz_optional_unknown", "analysis.py:5, optional")]
    compatible = reqs.build(tmp_path, python=python(venv), pin="compatible")
    assert [r.spec for r in compatible.requirements][:3] == ["~=4.9.0.80", "~=4.25.3", "~=6.0.1"]
    assert [r.line() for r in reqs.build(tmp_path, python=python(venv), pin="none").requirements][0] == (
        "opencv-python-headless"
    )


def test_build_merges_optional_markers_pip_lines_and_skips_the_project_itself(tmp_path: Path, venv: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "My.Project"\n')
    write(tmp_path, "a.py", "import sys\nif sys.version_info < (3, 11):\n    import yaml\nimport my_project\n")
    write(tmp_path, "b.py", "try:\n    import cv2\nexcept ImportError:\n    pass\n")
    write(tmp_path, "c.py", "import cv2\n")  # required somewhere: no longer optional
    write(
        tmp_path,
        "d.ipynb",
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "%pip install torch>=2 rich\\n"}]}',
    )
    report = reqs.build(tmp_path, python=python(venv))
    assert [r.line() for r in report.requirements] == [
        "opencv-python-headless==4.9.0.80",
        'PyYAML==6.0.1; python_version < "3.11"',
        "rich  # not installed here: not pinned",
        "torch>=2",  # the notebook's own specifier wins over the local pin
    ]
    assert report.optional == [] and report.unresolved == [("my_project", "a.py:4")]


def test_text_is_deterministic_and_sorted(tmp_path: Path, venv: Path) -> None:
    write(tmp_path, "z.py", "import yaml\ntry:\n    import cv2\nexcept ImportError:\n    pass\nimport zzz_unknown\n")
    first = reqs.build(tmp_path, python=python(venv)).text
    assert first == reqs.build(tmp_path, python=python(venv)).text
    assert first.splitlines()[2:] == [
        "PyYAML==6.0.1",
        "",
        "# Optional: imported only inside try/except ImportError or under TYPE_CHECKING.",
        "# opencv-python-headless==4.9.0.80",
        "",
        "# Unresolved: no installed or known distribution provides these imports; add them by hand.",
        "# import zzz_unknown  (z.py:6)",
    ]


def test_compare_reports_missing_changed_and_with_strict_unused(tmp_path: Path, venv: Path) -> None:
    write(tmp_path, "a.py", "import yaml, cv2\nimport zzz_unknown\n")
    report = reqs.build(tmp_path, python=python(venv))
    existing = (
        "# hand-written\n-i https://example.invalid/simple\n"
        "pyyaml == 6.0.1  # same pin, other spelling\n"
        "requests>=2\n"
        "zzz-unknown\n"  # added by hand for the unresolved import: not unused
    )
    diffs = reqs.compare(report, existing, versions=True)
    assert [(d.kind, d.name) for d in diffs] == [("missing", "opencv-python-headless")]
    strict = reqs.compare(report, existing, versions=True, strict=True)
    assert [(d.kind, d.name) for d in strict] == [("missing", "opencv-python-headless"), ("unused", "requests")]
    changed = reqs.compare(report, "PyYAML==5.4\nopencv-python-headless\n", versions=True)
    assert [(d.kind, d.name) for d in changed] == [("changed", "opencv-python-headless"), ("changed", "PyYAML")]
    assert reqs.compare(report, "PyYAML==5.4\nopencv-python-headless\n", versions=False) == []
    assert reqs.compare(report, report.text, versions=True) == []


def test_last_resort_is_a_popular_pypi_project_of_the_same_name_and_says_so(tmp_path: Path, venv: Path) -> None:
    assert resolve.by_name("pandas_flavor") == "pandas-flavor"  # most-downloaded, not in the table
    assert resolve.by_name("utils") is None  # generic names a project gives its own modules are left out
    assert resolve.by_name("zzz_surely_not_on_pypi") is None
    assert resolve.by_name("azure") is None  # a namespace: azure.foo unknown to the table is not the `azure` project
    write(tmp_path, "a.py", "import pandas_flavor\nimport zzz_surely_not_on_pypi\n")
    report = reqs.build(tmp_path, python=python(venv))
    assert [r.line() for r in report.requirements] == [
        "pandas-flavor  # a PyPI project of the import's name; not installed here: not pinned"
    ]
    assert report.unresolved == [("zzz_surely_not_on_pypi", "a.py:2")]


def test_imports_only_in_tests_docs_conf_and_tooling_are_listed_apart(tmp_path: Path, venv: Path) -> None:
    write(tmp_path, "analysis.py", "import yaml\n")
    write(tmp_path, "tests/test_analysis.py", "import pytest, yaml, cv2\n")
    write(tmp_path, "test_top.py", "import hypothesis\n")
    write(tmp_path, "conftest.py", "import pytest\n")
    write(tmp_path, "docs/source/conf.py", "import sphinx_rtd_theme\n")
    write(
        tmp_path, "docs/tutorial.ipynb", '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "import torch"}]}'
    )
    report = reqs.build(tmp_path, python=python(venv), pin="none")
    assert [r.name for r in report.requirements] == ["PyYAML", "torch"]  # docs notebooks are the project's
    assert [r.name for r in report.dev] == ["hypothesis", "opencv-python-headless", "pytest", "sphinx-rtd-theme"]
    assert "# Imported only by tests, docs or dev tooling" in report.text and "\n# pytest\n" in report.text
    assert reqs.compare(report, "PyYAML\ntorch\n", versions=False) == []  # dev lines are not required
    # ...and a file that lists them is not listing something "not imported anywhere"
    assert reqs.compare(report, "PyYAML\ntorch\npytest\n", versions=False, strict=True) == []


def test_load_ext_extensions_are_requirements_and_ipythons_own_are_not(tmp_path: Path, venv: Path) -> None:
    cell = "%load_ext line_profiler\n%load_ext memory_profiler\n%load_ext autoreload\n%autoreload 2\n"
    write(tmp_path, "research.ipynb", json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": cell}]}))
    write(tmp_path, "exported.py", "get_ipython().run_line_magic('load_ext', 'rpy2.ipython')\n")
    report = reqs.build(tmp_path, python=python(venv), pin="none")
    assert [r.name for r in report.requirements] == ["line-profiler", "memory-profiler", "rpy2"]
    assert report.unresolved == [] and report.warnings == []


@pytest.mark.timeout(30)
def test_reqs_command_warns_one_line_per_unreadable_file_and_writes_the_rest(
    tmp_path: Path, venv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from remotebook.ui import cli

    monkeypatch.setenv("REMOTEBOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REMOTEBOOK_CONFIG_DIR", str(tmp_path / "config"))
    project = tmp_path / "proj"
    write(project, "a.py", "import yaml\n")
    write(project, "deep.ipynb", "[" * 100_000 + "]" * 100_000)
    write(project, "cells.ipynb", '{"cells": [3, {"cell_type": "code", "source": ["import cv2", 1]}]}')
    os.mkfifo(project / "pipe.py")
    (project / "null.ipynb").symlink_to("/dev/null")
    with pytest.raises(SystemExit) as info:
        cli.main(["reqs", str(project), "--python", python(venv), "-o", "-", "--pin", "none"])
    out, err = capsys.readouterr()
    assert info.value.code in (0, None) and "Traceback" not in err
    assert out.splitlines()[2:] == ["PyYAML"]
    assert err.splitlines() == [
        "warning: cells.ipynb: read in part; left out cell 1: a number, not a cell; cell 2: source is a list, not text",
        "warning: deep.ipynb: skipped: not valid JSON (nested too deeply)",
        "warning: null.ipynb: skipped: a symlink to a character device, not a regular file",
        "warning: pipe.py: skipped: a FIFO, not a regular file",
    ]
