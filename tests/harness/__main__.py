"""`python -m tests.harness up [--no-netns] DIR`: run a throwaway remote until Ctrl-C.

Prints one JSON object (ssh config path, aliases, address...) on stdout, also
written to DIR/harness.json, then waits for SIGINT/SIGTERM and stops the host.
For manual trials (`ssh -F <ssh_config> rbremote`) and the demo script.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from tests.harness.remote_host import HarnessError, HarnessUnavailable, start_remote_host


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.harness")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a remote host and keep it up until SIGINT/SIGTERM")
    up.add_argument(
        "--no-netns", action="store_true", help="sshd on 127.0.0.1:<free port> instead of a network namespace"
    )
    up.add_argument("dir", type=Path, help="work directory for keys, configs and logs")
    return parser.parse_args(argv)


def _up(workdir: Path, netns: bool) -> int:
    # Block the signals before starting so one arriving during start-up is not
    # lost: sigwait() below then picks it up and we still stop cleanly.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        host = start_remote_host(workdir, netns=netns)
    except HarnessUnavailable as exc:
        print(f"harness unavailable: {exc.reason}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"harness failed to start: {exc}", file=sys.stderr)
        return 1
    with host:
        print(json.dumps(host.describe()), flush=True)
        print(f"remote host up; try: ssh -F {host.ssh_config} rbremote; Ctrl-C stops it", file=sys.stderr, flush=True)
        received = signal.sigwait(stop_signals)
        print(f"{signal.Signals(received).name}: stopping remote host", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "up":
        return _up(args.dir, netns=not args.no_netns)
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
