"""Runs on a compute node, inside the job (srun --overlap): a TCP port on the node's address that relays to Jupyter's unix socket.

The fallback of `tunnel = "auto"` (with `allow_tcp = true`) when the cluster refuses ssh to
nodes: the login node's sshd forwards to this port. Any cluster user can connect to it;
Jupyter's token is what protects it. It lives as long as the job's step: the job's end
(walltime, scancel) ends it.

Usage: python3 relay.py ADDRESS SOCKET PORT_FILE
"""

from __future__ import annotations

import asyncio
import os
import sys

CHUNK = 65536


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


async def serve(address: str, sock: str, port_file: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(sock)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(handle, address, 0)
    port = server.sockets[0].getsockname()[1]
    tmp = f"{port_file}.tmp"
    with open(tmp, "w") as f:  # written whole, then renamed: the login node never reads half a number
        f.write(f"{port}\n")
    os.replace(tmp, port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3]))
