#!/usr/bin/env bash
# The test command: installs what the tests need (as root: openssh-server, rsync,
# a JupyterLab venv for the throwaway remote, .venv), then runs the whole suite
# against a real sshd in a network namespace and a real Jupyter. Extra arguments
# go to pytest (e.g. `bash scripts/test.sh -k bad_input -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-env.sh
exec .venv/bin/python -m pytest "$@"
