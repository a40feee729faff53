#!/usr/bin/env python3
"""Reference Autobahn client testee: python `websockets` client driven by `wstest -m fuzzingserver`.

    python3 scripts/autobahn/peer_client_testee.py --url ws://127.0.0.1:9001 --agent websockets

Protocol (the same one Sluice's client testee implements): GET /getCaseCount (one text message
with the count), then /runCase?case=i&agent=NAME for i in 1..=count echoing every message until
the server closes, then /updateReports?agent=NAME. Exits non-zero if the case count cannot be read
or the report update fails; individual case verdicts are Autobahn's to give.
"""
import argparse
import asyncio
import os
import sys
import time
from urllib.parse import quote

# websockets refuses messages of more than 4096 fragments (1009 "too many fragments"); Autobahn 9.3/9.4
# send 4 MiB in 64-byte fragments (65536). Raise the cap before websockets reads it at import.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

OPTS = dict(max_size=64 << 20, max_queue=None, ping_interval=None, close_timeout=5, open_timeout=10)


async def run_case(url: str, compression) -> None:
    try:
        async with connect(url, compression=compression, **OPTS) as ws:
            async for message in ws:
                await ws.send(message)
    except (WebSocketException, OSError):
        # Autobahn fails connections on purpose; the verdict is recorded server-side.
        pass


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="ws://127.0.0.1:9001", help="fuzzingserver base URL")
    ap.add_argument("--agent", default="websockets", help="agent name in the reports")
    ap.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    ap.add_argument("--case-timeout", type=float, default=120.0, help="seconds per case before giving up")
    args = ap.parse_args()
    base, agent = args.url.rstrip("/"), quote(args.agent)
    compression = None if args.no_compression else "deflate"

    async with connect(f"{base}/getCaseCount", **OPTS) as ws:
        count = int(await ws.recv())
    print(f"{count} cases", flush=True)
    t0 = time.monotonic()
    for i in range(1, count + 1):
        try:
            await asyncio.wait_for(run_case(f"{base}/runCase?case={i}&agent={agent}", compression),
                                   args.case_timeout)
        except asyncio.TimeoutError:
            print(f"case {i}: timed out after {args.case_timeout} s", file=sys.stderr, flush=True)
        if i % 50 == 0 or i == count:
            print(f"ran {i}/{count} cases ({time.monotonic() - t0:.1f} s)", flush=True)
    async with connect(f"{base}/updateReports?agent={agent}", **OPTS) as ws:
        async for _ in ws:
            pass
    print("reports updated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
