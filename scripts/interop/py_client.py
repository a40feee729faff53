#!/usr/bin/env python3
"""Python `websockets` client against a WebSocket echo server (ours or a peer).

    python3 scripts/interop/py_client.py ws://127.0.0.1:9201/ [--server-commands]
    python3 scripts/interop/py_client.py ws://127.0.0.1:9201/ --cmd "target --addr 127.0.0.1:{port}"

Checks: text echo, binary echo, empty messages, a fragmented text and a fragmented binary message
sent by the client (one frame per fragment), a 1 MiB binary and a 1 MiB text message, a
client-initiated close (1000 + reason: the server's Close must echo the code), and a
server-initiated close: invalid UTF-8 in a text message must draw a Close with 1007 (RFC 6455
8.1). With --server-commands (the target understands "close:CODE:REASON" and "fragment:N:PAYLOAD",
as py_echo_server.py and node_echo_server.mjs do), also a server close with 4001 + reason and a
text message the server sends in 3 fragments. Prints PASS/FAIL lines; exits 1 on any failure.
"""
import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import Results, Target, loopback_port  # noqa: E402

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

OPTS = dict(max_size=64 << 20, max_queue=None, ping_interval=None, open_timeout=10, close_timeout=10)
T = 20  # seconds for any one step


def peer_close(ws):
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


async def echo(ws, r, label, message, expect=None):
    try:
        await asyncio.wait_for(ws.send(message), T)
        got = await asyncio.wait_for(ws.recv(), T)
    except (ConnectionClosed, asyncio.TimeoutError) as e:
        return r.check(label, False, f"{type(e).__name__}: {e}")
    want = message if expect is None else expect
    same = type(got) is type(want) and got == want
    return r.check(label, same, "" if same else f"sent {type(want).__name__}[{len(want)}], got {type(got).__name__}[{len(got)}]")


async def run(url, r, server_commands, expect_deflate=False):
    async with connect(url, **OPTS) as ws:
        exts = ws.response.headers.get("Sec-WebSocket-Extensions")
        print(f"connected to {url} (extensions: {exts or 'none'})", flush=True)
        if expect_deflate:
            r.check("permessage-deflate negotiated", "permessage-deflate" in (exts or ""),
                    f"extensions: {exts or 'none'}")
        await echo(ws, r, "text echo", "hello sluice \u2713 \u00fcn\u00efc\u00f6d\u00e9")
        await echo(ws, r, "binary echo", bytes(range(256)) * 4)
        await echo(ws, r, "empty text echo", "")
        await echo(ws, r, "empty binary echo", b"")
        await echo(ws, r, "fragmented text (3 frames) echoed as one message",
                   ["frag-1 ", "frag-2 ", "frag-3 \u2713"], "frag-1 frag-2 frag-3 \u2713")
        await echo(ws, r, "fragmented binary (3 frames) echoed as one message",
                   [b"\x00\x01", b"\x02", b"\x03\xff"], b"\x00\x01\x02\x03\xff")
        await echo(ws, r, "1 MiB binary echo", os.urandom(1 << 20))
        await echo(ws, r, "1 MiB text echo", "x" * (1 << 20))
        if server_commands:
            try:
                await ws.send("fragment:3:abcdefghi")
                frags = []
                async for frag in ws.recv_streaming():
                    frags.append(frag)
                # websockets delivers each frame; a sender may end with an empty final frame.
                ok = "".join(frags) == "abcdefghi" and len([f for f in frags if f]) >= 2
                r.check("server-fragmented text message", ok, f"frames {frags!r}")
            except ConnectionClosed as e:
                r.check("server-fragmented text message", False, str(e))

    # Client-initiated close.
    async with connect(url, **OPTS) as ws:
        await asyncio.wait_for(ws.close(1000, "bye from python"), T)
        code, reason = peer_close(ws)
        r.check("client close 1000 + reason: server echoes 1000", code == 1000, f"server sent {code} {reason!r}")

    # Server-initiated close on invalid UTF-8 (RFC 6455 8.1: fail the connection, 1007).
    async with connect(url, **OPTS) as ws:
        await ws.send(b"invalid \xff\xfe utf-8", text=True)
        try:
            await asyncio.wait_for(ws.recv(), T)
            r.check("invalid UTF-8 text: server closes with 1007", False, "got a message back")
        except ConnectionClosed:
            code, reason = peer_close(ws)
            r.check("invalid UTF-8 text: server closes with 1007", code == 1007, f"server sent {code} {reason!r}")
        except asyncio.TimeoutError:
            r.check("invalid UTF-8 text: server closes with 1007", False, "no close within timeout")

    if server_commands:
        async with connect(url, **OPTS) as ws:
            await ws.send("close:4001:bye from server")
            try:
                await asyncio.wait_for(ws.recv(), T)
                r.check("server close 4001 + reason", False, "got a message instead")
            except ConnectionClosed:
                code, reason = peer_close(ws)
                r.check("server close 4001 + reason", (code, reason) == (4001, "bye from server"),
                        f"server sent {code} {reason!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws://127.0.0.1:PORT/ of an echo server")
    ap.add_argument("--cmd", help="command that starts the target ({port} is filled in); stopped at the end")
    ap.add_argument("--expect-deflate", action="store_true",
                    help="fail unless permessage-deflate is negotiated")
    ap.add_argument("--server-commands", action="store_true",
                    help="target understands close:CODE:REASON and fragment:N:PAYLOAD")
    args = ap.parse_args()
    loopback_port(args.url)
    r = Results("py_client")
    target = Target(args.cmd, args.url)
    try:
        asyncio.run(asyncio.wait_for(run(args.url, r, args.server_commands, args.expect_deflate), 120))
    except Exception as e:  # connection refused, handshake rejected, overall timeout
        r.check("session", False, f"{type(e).__name__}: {e}")
    finally:
        target.stop()
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
