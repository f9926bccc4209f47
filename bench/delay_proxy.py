"""A delaying ssh ProxyCommand that counts round trips: a WAN-like link on one machine.

    ProxyCommand python3 bench/delay_proxy.py --delay-ms 25 [--connect ADDR:PORT] [--log FILE] %h %p

Relays stdin/stdout to a TCP connection and delays every chunk by a fixed time in each direction (read,
stamp, queue, write at stamp + delay; order kept), so that any host behaves like a distant one: with
25 ms each way a round trip costs 50 ms.  This kernel has no netem; this needs nothing but Python.

It also counts the flow's *turns*: the times the data changes direction from client→server to
server→client.  Each turn is one exchange whose answer the client had to wait for (a latency-bound round
trip): the ssh handshake, each channel open, a request through a forward.  Data pipelined in one
direction counts once, however many chunks it takes.  It over-counts only when the server sends
something unasked (a keepalive reply, the output of a long command arriving in pieces between client
window adjustments), so a count is an upper bound on the round trips the client waited for.

`--connect` sets where to connect, so that the ssh alias can keep a HostName of its own (ssh's
ControlPath hash `%C` covers the host name: a delayed alias for the same address would otherwise share
the undelayed alias's master); `%h %p` then only label the log.  With `--log FILE` every connection
appends JSON lines: `open`, one `turn` per turn (with its wall-clock time, so a bench can count the
turns inside one command's window even on a connection that outlives it), and `close` with the totals.

Stdlib only (it runs as the ProxyCommand of every delayed ssh).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

UP = "client→server"
DOWN = "server→client"
CHUNK = 65536
MAX_DELAY_MS = 10_000


@dataclass
class Turns:
    """Counts the turns of a flow from client→server to server→client."""

    count: int = 0
    last: str | None = None

    def feed(self, direction: str) -> bool:
        """One chunk read in `direction`; True if it started a new turn."""
        turned = direction == DOWN and self.last == UP
        self.last = direction
        if turned:
            self.count += 1
        return turned


class Log:
    """JSON lines appended to a file (or nowhere); each line is one write(), so concurrent proxies do not mix."""

    def __init__(self, path: Path | None, conn: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if path else None
        self.conn = conn

    def event(self, event: str, **fields: object) -> None:
        if self.fd is not None:
            line = json.dumps({"event": event, "conn": self.conn, "wall": time.time(), **fields}) + "\n"
            os.write(self.fd, line.encode())

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Relay:
    def __init__(self, delay: float, log: Log) -> None:
        self.delay = delay
        self.log = log
        self.turns = Turns()
        self.bytes = {UP: 0, DOWN: 0}

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        """Copy reader to writer, each chunk `delay` after it was read; EOF is passed on the same way."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer))
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                self.bytes[direction] += len(data)
                if self.turns.feed(direction):
                    self.log.event("turn", n=self.turns.count)
                queue.put_nowait((time.monotonic() + self.delay, data))
        finally:  # EOF, a reset or a cancel: what was read still goes out, then the EOF
            queue.put_nowait((time.monotonic() + self.delay, b""))
            await sender

    async def _send(self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                    else:
                        writer.close()
                return
            writer.write(data)
            await writer.drain()


async def _stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, writer


async def relay(host: str, port: int, delay: float, log: Log) -> int:
    started = time.monotonic()
    try:
        sock_reader, sock_writer = await asyncio.open_connection(host, port)
    except OSError as e:
        print(f"delay_proxy: cannot connect to {host}:{port}: {e}", file=sys.stderr)
        return 1
    stdin, stdout = await _stdio()
    r = Relay(delay, log)
    up = asyncio.create_task(r.pump(stdin, sock_writer, UP))
    down = asyncio.create_task(r.pump(sock_reader, stdout, DOWN))
    # The server closing ends the connection (ssh then sees EOF); the client closing only half-closes it.
    with contextlib.suppress(ConnectionError):
        await down
    up.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await up
    sock_writer.close()
    log.event("close", turns=r.turns.count, up_bytes=r.bytes[UP], down_bytes=r.bytes[DOWN],
              seconds=round(time.monotonic() - started, 3))  # fmt: skip
    return 0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="delay_proxy.py", description=__doc__.splitlines()[0])
    p.add_argument("--delay-ms", type=float, default=25.0, help="delay each way, milliseconds (default 25)")
    p.add_argument("--connect", type=_address, help="connect here (ADDR:PORT) instead of HOST PORT")
    p.add_argument("--log", type=Path, help="append JSON lines (open, turn, close) to this file")
    p.add_argument("host")
    p.add_argument("port", type=int)
    args = p.parse_args(argv)
    if not 0 <= args.delay_ms <= MAX_DELAY_MS:
        p.error(f"--delay-ms must be between 0 and {MAX_DELAY_MS}")
    host, port = args.connect or (args.host, args.port)
    log = Log(args.log, f"{os.getpid()}")
    log.event("open", label=f"{args.host}:{args.port}", target=f"{host}:{port}", delay_ms=args.delay_ms)
    try:
        return asyncio.run(relay(host, port, args.delay_ms / 1000, log))
    except KeyboardInterrupt:
        return 130
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
