"""Durable outputs' pure parts: which installed versions count, the check's answer, the pins kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remotebook.core.errors import ConfigError
from remotebook.env import durable
from remotebook.env.remote_env import env_hash
from remotebook.launch import base as launch
from remotebook.local.config import Config, resolve
from remotebook.remote.values import DURABLE_PINS, durable_requirements

HARNESS_REQS = Path(__file__).parents[1] / "harness" / "durable-requirements.txt"

# What the bootstrap's `durable` action answered on the harness (a Jupyter without the extensions).
ANSWER_WITHOUT = {
    "ok": True,
    "action": "durable",
    "jupyter": "/opt/remotebook-harness/jupyter-venv/bin/jupyter",
    "python": "/opt/remotebook-harness/jupyter-venv/bin/python3",
    "source": "path",
    "check": {
        "versions": {
            "jupyter-collaboration": "",
            "jupyter-server-nbmodel": "",
            "jupyter-server-ydoc": "",
            "jupyter-server-fileid": "",
        },
        "lacks": ["jupyter-collaboration", "jupyter-server-nbmodel"],
    },
}


def test_a_patch_release_counts_and_another_minor_does_not() -> None:
    assert durable.compatible("5.0.7", "5.0.4")
    assert not durable.compatible("5.1.0", "5.0.4")
    assert not durable.compatible("4.0.2", "5.0.4")
    assert durable.missing({"jupyter-collaboration": "5.0.4", "jupyter-server-nbmodel": "0.2.10"}) == []
    assert durable.missing({"jupyter-collaboration": "4.1.0"}) == [
        "jupyter-collaboration 4.1.0 (tested: 5.0.4)",
        "jupyter-server-nbmodel",
    ]


def test_the_check_answer_names_what_the_servers_jupyter_lacks() -> None:
    found = durable.Check.from_answer(ANSWER_WITHOUT)
    assert (found.source, found.jupyter) == ("path", ANSWER_WITHOUT["jupyter"])
    assert found.lacks == ["jupyter-collaboration", "jupyter-server-nbmodel"]
    assert durable.Check.from_answer({"source": "none", "check": {}}).lacks == list(DURABLE_PINS)


def test_the_harness_wheelhouse_holds_the_versions_remotebook_pins() -> None:
    lines = HARNESS_REQS.read_text().splitlines()
    for requirement in durable_requirements():
        assert requirement in lines


def test_durable_outputs_is_a_boolean_profile_key(tmp_path: Path) -> None:
    cfg = Config({"gpu": {"host": "gpu-box", "durable_outputs": True}}, {}, "", tmp_path, ())
    assert resolve(cfg, "gpu").durable_outputs is True
    assert resolve(Config({"gpu": {"host": "gpu-box"}}, {}, "", tmp_path, ()), "gpu").durable_outputs is False


def test_durable_outputs_must_be_true_or_false(tmp_path: Path) -> None:
    from remotebook.local import config

    path = tmp_path / "remotebook.toml"
    path.write_text('[profiles.gpu]\nhost = "gpu-box"\ndurable_outputs = "yes"\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=re.escape("`profiles.gpu.durable_outputs` must be true or false")):
        config.load(tmp_path, tmp_path / "none.toml")


def test_the_server_says_whether_its_outputs_are_durable_and_the_saved_record_keeps_it() -> None:
    answer = {"pid": 7, "host": "h", "action": "started", "durable": True, "info": {"sock": "/s", "token": "t"}}
    server = launch.Server.from_answer(answer)
    assert server.durable and server.as_json()["durable_outputs"] is True
    saved = launch.Server.from_saved(server.as_json(), "t")
    assert saved is not None and saved.durable
    assert not launch.Server.from_answer({**answer, "durable": False}).durable  # an older bootstrap: not durable


def test_an_env_with_the_extensions_has_another_hash_and_one_without_keeps_its_own() -> None:
    plain = env_hash("rbtiny==1.0\n", True, "/usr/bin/python3", (3, 11, 2))
    assert env_hash("rbtiny==1.0\n", True, "/usr/bin/python3", (3, 11, 2), ()) == plain
    assert env_hash("rbtiny==1.0\n", True, "/usr/bin/python3", (3, 11, 2), tuple(durable_requirements())) != plain


def test_status_says_in_words_whether_outputs_are_durable() -> None:
    from remotebook.ui.commands.status import outputs_text

    assert outputs_text(True).startswith("durable (cells run on the server")
    assert outputs_text(False).startswith("not durable") and "up --durable" in outputs_text(False)
