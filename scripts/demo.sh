#!/usr/bin/env bash
# The main job with no server of your own: starts a throwaway "remote" on this
# machine (an sshd with throwaway keys in a network namespace, a unix user with
# JupyterLab), runs `remotebook up` against it, shows Jupyter answering and a
# kernel computing through the tunnel, then removes it all.
# `bash scripts/demo.sh --keep` leaves it up until you press Enter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-env.sh
exec .venv/bin/python -m tests.harness.demo "$@"
