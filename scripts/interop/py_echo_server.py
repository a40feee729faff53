#!/usr/bin/env python3
"""Python `websockets` echo server: the peer OUR WebSocket client is tested against.

    python3 scripts/interop/py_echo_server.py --addr 127.0.0.1:9201

Echoes every message with its own opcode (text or binary), up to 64 MiB, any number of fragments.
Two text commands let a client test what only a server can start:
  "close:CODE:REASON"     the server closes with CODE and REASON (server-initiated close)
  "fragment:N:PAYLOAD"    the server sends PAYLOAD back as a text message in N fragments
Prints one line once listening. Loopback addresses only.
"""
import argparse
import asyncio
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_common  # noqa: E402,F401  (raises websockets' fragment cap before import)

from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


def split(payload, n):
    n = max(1, min(n, len(payload) or 1))
    step = -(-len(payload) // n) or 1
    parts = [payload[i:i + step] for i in range(0, len(payload), step)] or [payload]
    return parts


async def handler(ws):
    try:
        await echo(ws)
    except ConnectionClosed:
        pass  # the peer failed or dropped the connection; websockets already answered on the wire


async def echo(ws):
    async for message in ws:
        if isinstance(message, str) and message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            await ws.close(int(code), reason)
            return
        if isinstance(message, str) and message.startswith("fragment:"):
            _, n, payload = message.split(":", 2)
            await ws.send(split(payload, int(n)))
            continue
        await ws.send(message)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:9201", help="HOST:PORT (loopback only)")
    ap.add_argument("--no-compression", action="store_true", help="do not accept permessage-deflate")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        ap.error(f"{host} is not a loopback address")
    async with serve(handler, host, int(port), max_size=64 << 20, max_queue=None, ping_interval=None,
                     compression=None if args.no_compression else "deflate") as server:
        print(f"py_echo_server (python websockets) listening on ws://{args.addr}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
