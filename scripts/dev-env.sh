#!/usr/bin/env bash
# Shared by scripts/demo.sh and scripts/test.sh: prepare the throwaway remote
# (apt packages, a JupyterLab venv for the remote users) and a local .venv with
# remotebook installed. Idempotent; fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/harness/setup.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "dev-env: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.remotebook-deps.sha256
want=$(sha256sum pyproject.toml | cut -d ' ' -f 1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "dev-env: installing remotebook and its test tools into .venv"
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING' || true
    .venv/bin/python -m pip install -q -e '.[test,dev]' 2>&1 | grep -v '^WARNING' || true
    .venv/bin/python -c 'import remotebook, pytest, websocket' # fail here, not in the tests
    echo "$want" >"$stamp"
fi
