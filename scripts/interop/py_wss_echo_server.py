#!/usr/bin/env python3
"""Python `websockets` echo server over TLS, for OUR client (`sluice ws wss://…`) to talk to.

    python3 scripts/interop/py_wss_echo_server.py PORT CERT.pem KEY.pem

Loopback only; prints "listening" once ready; exits after 60 s. Each connection gets its first
message echoed and then a Close 1000 from this side, so the client can wait for the server's
close (`--keep-open`) instead of racing its own Close against the echo: after a peer's Close,
RFC 6455 §5.5.1 lets an endpoint answer with Close without sending the data it still had queued.
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


async def echo(ws):
    m = await ws.recv()
    await ws.send(m)
    await ws.close(1000)


async def main():
    async with serve(echo, "127.0.0.1", port, ssl=ctx):
        print("listening", flush=True)
        await asyncio.sleep(60)


asyncio.run(main())
