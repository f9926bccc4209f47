#!/usr/bin/env bash
# Prepare this machine for remotebook's integration-test harness (run as root).
#
# Idempotent and cheap when warm: it only calls apt-get when a needed command is
# missing, and only rebuilds the Jupyter venv when the sha256 of
# remote-requirements.txt differs from the stamp written by the last good install;
# likewise the wheelhouses of the `env` tests (wheelhouse-requirements.txt, ~50 MB), of the
# durable-outputs tests (durable-requirements.txt, ~100 MB) and uv.
# Nothing here is needed at test time: tests/harness/remote_host.py never
# downloads or installs anything, it raises HarnessUnavailable pointing here.
set -eu

PREFIX=/opt/remotebook-harness
VENV="$PREFIX/jupyter-venv"
HERE=$(cd "$(dirname "$0")" && pwd)
REQS="$HERE/remote-requirements.txt"

# Files the remote test users must read come from this script: keep them 0644/0755.
umask 022

say() { printf 'setup.sh: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "error: must run as root (creates users' prerequisites under $PREFIX)" >&2
    exit 1
fi

# --- 1. system packages -----------------------------------------------------
# A file/command check per package is ~free; apt-get update is not.
missing=""
need() { # need PACKAGE PATH_OR_COMMAND
    if ! command -v "$2" >/dev/null 2>&1 && [ ! -x "$2" ]; then
        missing="$missing $1"
    fi
}
need openssh-server /usr/sbin/sshd
need openssh-client ssh
need openssh-client ssh-keygen
need rsync rsync
need iproute2 ip
need procps ps
need procps pkill
# `remotebook completion zsh|fish` is sourced in the shells it is for (tests/unit/test_completion.py).
need zsh zsh
need fish fish
# Lmod, as clusters have it: /etc/profile.d/lmod.sh defines `module` in every user's login
# shell (and costs it ~50 ms). The tests' modulefiles live in the test users' homes.
need lmod /usr/share/lmod/lmod/libexec/lmod
# The Slurm fixture (tests/harness/slurm.py): a controller, a compute node's daemon, the
# client commands (sbatch, squeue, scontrol, scancel) and munge for their credentials.
need slurmctld /usr/sbin/slurmctld
need slurmd /usr/sbin/slurmd
need slurm-client sbatch
need munge /usr/sbin/munged
# The browser tests (tests/harness/browser.py): Playwright (pyproject's test extra) drives
# Debian's chromium; no `playwright install`, no browser download.
need chromium /usr/bin/chromium
# The venv is made from Debian's python3 (root's pyenv python lives in a 0700
# home that remote users cannot execute); `-m venv` needs ensurepip from python3-venv.
need python3 /usr/bin/python3
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1; then
    missing="$missing python3-venv"
fi

if [ -n "$missing" ]; then
    # Deduplicate (openssh-client/procps can be listed twice).
    # shellcheck disable=SC2086 # splitting the word list is the point
    pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
    say "packages: installing $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    apt-get install -y -q --no-install-recommends $pkgs >/dev/null
    say "packages: installed"
else
    say "packages: all present"
fi

# --- 2. the remote side's Jupyter venvs ----------------------------------------
# make_venv DIR REQUIREMENTS: (re)install only when the requirements' sha256 changed.
make_venv() {
    venv=$1 reqs=$2
    stamp="$venv/.remotebook-requirements.sha256"
    want=$(sha256sum "$reqs" | cut -d' ' -f1)
    have=""
    [ -f "$stamp" ] && have=$(cat "$stamp")
    if [ "$want" = "$have" ] && [ -x "$venv/bin/jupyter" ]; then
        say "venv: up to date ($venv, requirements sha256 $(printf %.12s "$want"))"
        return
    fi
    mkdir -p "$PREFIX"
    if [ ! -x "$venv/bin/python" ]; then
        say "venv: creating $venv from /usr/bin/python3"
        /usr/bin/python3 -m venv "$venv"
    fi
    say "venv: installing $reqs"
    "$venv/bin/python" -m pip install -q -r "$reqs" 2>&1 | grep -v '^WARNING: Location' || true
    "$venv/bin/python" -c 'import jupyter_server' # fail here if the install failed
    # Stamp last, so an interrupted install is retried on the next run.
    printf '%s\n' "$want" >"$stamp"
    say "venv: installed"
}
make_venv "$VENV" "$REQS"
# A Jupyter too old for --sock, to test the TCP fallback for real.
make_venv "$PREFIX/old-jupyter-venv" "$HERE/old-jupyter-requirements.txt"
# Notebook 7 (`app = "notebook"`), apart from the shared venv so that venv never changes.
make_venv "$PREFIX/notebook-venv" "$HERE/notebook-requirements.txt"

# --- 3. what the `remotebook env` tests install on the remote ---------------------
# A wheelhouse for /usr/bin/python3 (the tests serve it as a local index: the remote has
# no internet), and uv as a bare binary (its wheel ships one) for the uv code path.
# Stamped like the venvs: downloaded again only when the requirements file changes.
# make_wheelhouse DIR REQUIREMENTS WHEEL...: download again only when the requirements changed;
# the named wheels must be there afterwards.
make_wheelhouse() {
    dir=$1 wreqs=$2
    shift 2
    want=$(sha256sum "$wreqs" | cut -d' ' -f1)
    if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then
        say "wheelhouse: up to date ($dir)"
        return
    fi
    say "wheelhouse: downloading $wreqs"
    rm -rf "$dir"
    "$VENV/bin/python" -m pip download -q --only-binary :all: -d "$dir" -r "$wreqs" 2>&1 | grep -v '^WARNING' || true
    for wheel in "$@"; do
        ls "$dir"/"$wheel"-*.whl >/dev/null # fail here if the download failed
    done
    printf '%s\n' "$want" >"$dir/.stamp"
    say "wheelhouse: $(find "$dir" -name '*.whl' | wc -l) wheels in $dir"
}
make_wheelhouse "$PREFIX/wheelhouse" "$HERE/wheelhouse-requirements.txt" ipykernel jupyterlab
# Durable outputs (tests/integration/test_durable.py): the server extensions, pinned as in
# src/remotebook/remote/values.py, with the JupyterLab they serve; `remotebook env` installs them from it.
make_wheelhouse "$PREFIX/durable-wheelhouse" "$HERE/durable-requirements.txt" \
    jupyter_collaboration jupyter_server_nbmodel jupyterlab ipykernel
if [ -x "$PREFIX/uv/bin/uv" ]; then
    say "uv: present ($PREFIX/uv/bin/uv)"
else
    say "uv: installing into $PREFIX/uv"
    rm -rf "$PREFIX/uv"
    "$VENV/bin/python" -m pip install -q --target "$PREFIX/uv" uv 2>&1 | grep -v '^WARNING' || true
    "$PREFIX/uv/bin/uv" --version
fi

# --- 4. permissions ---------------------------------------------------------------
# rbtest (not root) runs $VENV/bin/jupyter; a recursive chmod on the whole venv
# is only needed after an install, the top dirs are checked every time.
if [ -n "$(find "$PREFIX" \( ! -perm -a+r -o \( -type d ! -perm -a+x \) \) -print -quit)" ]; then
    chmod -R a+rX "$PREFIX"
    say "permissions: fixed (a+rX on $PREFIX)"
else
    say "permissions: ok ($PREFIX is world-readable)"
fi
