"""`python -m tests.harness.demo [--keep]`: remotebook's main job against a throwaway remote, narrated."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness.local import LockTimeout, machine_lock, remotebook_env
from tests.harness.remote_host import HarnessError, HarnessUnavailable, start_remote_host
from tests.integration.jupyter_client_lite import execute, request


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _remotebook(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    print("$ remotebook " + " ".join(args), flush=True)
    out = subprocess.run(
        [sys.executable, "-m", "remotebook", *args],
        env=env,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    sys.stderr.write(out.stderr)  # progress lines first: they happened first
    sys.stderr.flush()
    sys.stdout.write(out.stdout)
    sys.stdout.flush()
    if out.returncode not in (0, 8):
        raise SystemExit(f"demo: remotebook exited {out.returncode}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo.sh")
    parser.add_argument("--keep", action="store_true", help="leave it up until Enter, to try it in a browser")
    args = parser.parse_args(argv)
    # The throwaway remote's unix users are machine-wide: never reset them under a test run or a bench.
    try:
        with machine_lock(on_wait=lambda: _say("a test run or a bench holds the harness; waiting for it")):
            return _demo(args.keep)
    except LockTimeout as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1


def _demo(keep: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="remotebook-demo-"))
    runtime = Path(tempfile.mkdtemp(prefix="rbd-", dir="/tmp"))
    project = work / "my-analysis"
    project.mkdir()
    _say("starting a throwaway remote: sshd in a network namespace, user rbtest with JupyterLab")
    try:
        host = start_remote_host(work / "remote")
    except (HarnessUnavailable, HarnessError) as e:
        print(f"demo: cannot start the throwaway remote: {e}", file=sys.stderr)
        return 1
    env = remotebook_env(host, work / "state", runtime)
    try:
        print(f"ssh config: {host.ssh_config} (host alias `rbremote`, strict host-key checking)")
        _say("remotebook up: one ssh connection, Jupyter started on the remote, a local port forwarded")
        report = json.loads(_remotebook(env, project, "up", "rbremote", "--detach", "--no-browser", "--json").stdout)
        port, token = report["local_port"], report["token"]
        _say("it answers through the tunnel")
        print(f"GET /api/status with the token -> HTTP {request(port, 'GET', '/api/status', token)[0]}")
        print(f"GET /api/status without it    -> HTTP {request(port, 'GET', '/api/status', None)[0]}")
        print(f"a kernel on the remote computes 6*7 -> {execute(port, token, '6*7')}")
        _say("a second `up` reuses the same server")
        _remotebook(env, project, "up", "rbremote", "--detach", "--no-browser")
        _remotebook(env, project, "status", "rbremote")
        if keep:
            input(f"\nOpen {report['url']} in a browser on this machine; press Enter to tear down. ")
        _say("remotebook down --server: tunnel, ssh connection and server gone")
        _remotebook(env, project, "down", "rbremote", "--server")
        _remotebook(env, project, "status", "rbremote")
    finally:
        subprocess.run(
            [sys.executable, "-m", "remotebook", "down", "rbremote"],
            env=env,
            cwd=project,
            capture_output=True,
            timeout=60,
        )
        host.stop()
        shutil.rmtree(runtime, ignore_errors=True)
    _say("done: the throwaway remote is removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
