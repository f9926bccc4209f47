"""Runs on a compute node, inside the job (srun --overlap): a TCP port on the node's address that relays to Jupyter's unix socket.

The fallback of `tunnel = "auto"` (with `allow_tcp = true`) when the cluster refuses ssh to
nodes: the login node's sshd forwards to this port. It relays only connections from the
login node's own addresses (the ones it listed when it started this step): another user on
a node cannot use it to reach Jupyter. Users on the login node itself still can, and
Jupyter's token protects it from them; at most MAX_CONNECTIONS are relayed at once. It
lives as long as the job's step: the job's end (walltime, scancel) ends it.

Usage: python3 relay.py ADDRESS SOCKET PORT_FILE ALLOWED-ADDRESSES(comma-separated)
"""

from __future__ import annotations

import asyncio
import os
import sys

CHUNK = 65536
MAX_CONNECTIONS = 64  # a browser opens a handful; more is someone hammering the port


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def peer_allowed(peer: object, allowed: frozenset[str]) -> bool:
    """The connection comes from one of the login node's addresses (an IPv4-mapped IPv6 one counts as IPv4)."""
    host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
    if host.startswith("::ffff:"):  # no str.removeprefix: the job's python may be older than 3.9
        host = host[len("::ffff:") :]
    return host in allowed


async def serve(address: str, sock: str, port_file: str, allowed: frozenset[str]) -> None:
    active = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if active[0] >= MAX_CONNECTIONS or not peer_allowed(writer.get_extra_info("peername"), allowed):
            writer.close()
            return
        active[0] += 1
        try:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(sock)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
        finally:
            active[0] -= 1

    server = await asyncio.start_server(handle, address, 0)
    port = server.sockets[0].getsockname()[1]
    tmp = f"{port_file}.tmp"
    with open(tmp, "w") as f:  # written whole, then renamed: the login node never reads half a number
        f.write(f"{port}\n")
    os.replace(tmp, port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    login = frozenset(part for part in sys.argv[4].split(",") if part)
    if not login:
        sys.exit("relay.py: no login node address to accept connections from")
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3], login))
