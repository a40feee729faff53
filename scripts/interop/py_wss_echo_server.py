#!/usr/bin/env python3
"""Python `websockets` echo server over TLS, for OUR client (`sluice ws wss://…`) to talk to.

    python3 scripts/interop/py_wss_echo_server.py PORT CERT.pem KEY.pem

Loopback only; prints "listening" once ready; exits after 60 s.
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


async def echo(ws):
    async for m in ws:
        await ws.send(m)


async def main():
    async with serve(echo, "127.0.0.1", port, ssl=ctx):
        print("listening", flush=True)
        await asyncio.sleep(60)


asyncio.run(main())
