#!/usr/bin/env python3
"""Reference Autobahn server testee: a python `websockets` echo server.

Same command-line interface as Sluice's `ws_echo_server` example, so scripts/autobahn/run.sh can
point at either one:

    python3 scripts/autobahn/peer_echo_server.py --addr 127.0.0.1:9002

Prints one line once listening. Messages up to 64 MiB, no fragment limit (Autobahn 9.x sends
16 MiB messages). Loopback addresses only.
"""
import argparse
import asyncio
import os
import ipaddress

# websockets refuses messages of more than 4096 fragments (1009 "too many fragments"); Autobahn 9.3/9.4
# send 4 MiB in 64-byte fragments (65536). Raise the cap before websockets reads it at import.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:  # text arrives as str, binary as bytes: echoed with the same opcode
            await ws.send(message)
    except ConnectionClosed:
        pass  # failed or closed by the peer; websockets already answered on the wire


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:9002", help="HOST:PORT to listen on (loopback only)")
    ap.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        ap.error(f"{host} is not a loopback address")
    async with serve(echo, host, int(port), max_size=64 << 20, max_queue=None,
                     compression=None if args.no_compression else "deflate",
                     ping_interval=None) as server:
        print(f"peer_echo_server (python websockets) listening on ws://{args.addr}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
