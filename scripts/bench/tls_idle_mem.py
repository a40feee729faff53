#!/usr/bin/env python3
"""Idle-subscriber memory of a running `sluice serve`, one case per run (driven by tls_idle_mem.sh).

    python3 scripts/bench/tls_idle_mem.py --case CASE --port PORT --pid HUB_PID [--cafile CA]
        [--n 1000] [--streams-per-conn 100] [--settle 5] [--open-timeout 60] [--deliver-timeout 20]

CASE is one of
  ws       ws://  WebSocket, plain TCP, HTTP/1.1 upgrade         (one connection per subscriber)
  wss      wss:// WebSocket, TLS (ALPN http/1.1), HTTP/1.1 upgrade (one connection per subscriber)
  sse-h1   SSE over HTTP/1.1 + TLS (ALPN http/1.1)              (one connection per subscriber)
  sse-h2   SSE over HTTP/2 + TLS (ALPN h2)                      (--streams-per-conn streams each)
  ws-h2    WebSocket over HTTP/2 + TLS, RFC 8441 extended CONNECT (--streams-per-conn streams each)

Steps: VmRSS of the hub (baseline, the hub having answered only the launcher's /healthz) ->
open N subscribers on one topic (at most --concurrency handshakes at a time), each counted as
subscribed once the hub answered (101 / 200, and for SSE the stream's first `retry:` line) ->
wait --settle s (RSS sampled every second) -> VmRSS (the figure) -> publish one event over a
fresh HTTP/1.1 connection -> count the subscribers that received it (bounded wait) -> close all.

Prints progress lines and one closing line
  RESULT case=... n=... conns=... subscribed=... rss0_kib=... rss1_kib=... rss2_kib=...
         bytes_per_sub=... delivered=... errors=...
(rss2 = after the delivery). The client is python (asyncio + ssl, `websockets`, hyper-h2): its
own CPU and memory are not measured; only the hub's RSS matters. Exit 0 when every subscriber
subscribed and received the event, 1 otherwise. Loopback only; every wait is bounded.
"""
import argparse
import asyncio
import collections
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from procfs import rss_kib  # noqa: E402

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from websockets.asyncio.client import connect as ws_connect

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
CASES = ("ws", "wss", "sse-h1", "sse-h2", "ws-h2")
RUN = os.urandom(4).hex()


def proc_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split()[1]
    except OSError:
        return None
    return None


class State:
    def __init__(self, n):
        self.n = n
        self.subscribed = 0
        self.delivered = 0
        self.errors = collections.Counter()   # reason -> count
        self.alpn = collections.Counter()
        self.payload = None                   # bytes, set just before the publish
        self.all_subscribed = asyncio.Event()
        self.all_delivered = asyncio.Event()
        self.transports = []                  # writers / websockets to close at the end

    def sub_ok(self):
        self.subscribed += 1
        if self.subscribed >= self.n:
            self.all_subscribed.set()

    def got(self):
        self.delivered += 1
        if self.delivered >= self.subscribed:
            self.all_delivered.set()

    def err(self, why, count=1):
        self.errors[why[:160]] += count
        # a failed subscriber never counts; let the waits end early if nothing else is coming
        if self.subscribed + sum(self.errors.values()) >= self.n:
            self.all_subscribed.set()


def ssl_ctx(cafile, alpn):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def exc_name(e):
    s = f"{type(e).__name__}: {e}".strip()
    return s if not s.endswith(":") else s[:-1]


# ------------------------------------------------------------------------------- WebSocket h1
async def ws_h1_sub(a, st, sem, url, ctx):
    ws = None
    try:
        async with sem:
            ws = await ws_connect(url, ssl=ctx, open_timeout=15, close_timeout=1, ping_interval=None,
                                  compression=None, max_queue=4,
                                  server_hostname=a.host if ctx else None)
        st.transports.append(ws)
        if ctx is not None:
            sslobj = ws.transport.get_extra_info("ssl_object")
            st.alpn[sslobj.selected_alpn_protocol() if sslobj else None] += 1
        st.sub_ok()
        while True:
            msg = await ws.recv()
            if st.payload is not None and isinstance(msg, str) and st.payload.decode() in msg:
                st.got()
                break
        # keep the connection open (idle) until the end
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001
        st.err(f"ws: {exc_name(e)}")


# ------------------------------------------------------------------------------- SSE h1
class Dechunker:
    """Incremental HTTP/1.1 chunked transfer decoding (chunk extensions and trailers ignored)."""

    def __init__(self):
        self.buf = bytearray()
        self.state = "size"   # size line | data (self.left bytes) | crlf after the data
        self.left = 0

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while self.buf:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(self.buf[:i]).split(b";")[0].strip()
                del self.buf[:i + 2]
                self.left = int(line or b"0", 16)
                self.state = "data" if self.left else "crlf"
            elif self.state == "data":
                take = min(self.left, len(self.buf))
                out += self.buf[:take]
                del self.buf[:take]
                self.left -= take
                if self.left == 0:
                    self.state = "crlf"
            else:
                if len(self.buf) < 2:
                    break
                del self.buf[:2]
                self.state = "size"
        return bytes(out)


async def sse_h1_sub(a, st, sem, ctx):
    writer = None
    try:
        async with sem:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.host), 15)
            st.transports.append(writer)
            sslobj = writer.get_extra_info("ssl_object")
            st.alpn[sslobj.selected_alpn_protocol() if sslobj else None] += 1
            writer.write((f"GET /sse/{a.topic} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
                          "Accept: text/event-stream\r\nUser-Agent: tls_idle_mem.py\r\n\r\n").encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
            lines = head.decode("latin-1").split("\r\n")
            if not lines[0].startswith("HTTP/1.1 200"):
                raise RuntimeError(f"status line {lines[0]!r}")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
            dec = Dechunker() if chunked else None
            body = bytearray()
            while b"retry:" not in body:
                data = await asyncio.wait_for(reader.read(4096), 15)
                if not data:
                    raise RuntimeError("EOF before the stream's first bytes")
                body += dec.feed(data) if dec else data
        st.sub_ok()
        body = body[-256:]
        while True:
            data = await reader.read(4096)
            if not data:
                raise RuntimeError("EOF (the hub ended the stream)")
            body += dec.feed(data) if dec else data
            if st.payload is not None and b"data: " + st.payload in body:
                st.got()
                break
            body = body[-1024:]
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001
        st.err(f"sse-h1: {exc_name(e)}")


# ------------------------------------------------------------------------------- HTTP/2
def ws_frame(opcode, payload):
    """A masked client frame (small payloads only)."""
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode, 0x80 | n]) if n < 126 else bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def ws_parse(buf):
    """Complete frames off the front of buf (bytearray, consumed): [(opcode, payload)]."""
    out = []
    while len(buf) >= 2:
        op, masked, n, i = buf[0] & 0xF, buf[1] >> 7, buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, i = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, i = int.from_bytes(buf[2:10], "big"), 10
        key = None
        if masked:
            if len(buf) < i + 4:
                break
            key, i = bytes(buf[i:i + 4]), i + 4
        if len(buf) < i + n:
            break
        payload = bytes(buf[i:i + n])
        if key:
            payload = bytes(b ^ key[j & 3] for j, b in enumerate(payload))
        del buf[:i + n]
        out.append((op, payload))
    return out


class H2Stream:
    __slots__ = ("sid", "status", "subscribed", "delivered", "buf", "failed")

    def __init__(self, sid):
        self.sid, self.status, self.subscribed, self.delivered = sid, None, False, False
        self.buf, self.failed = bytearray(), False


async def h2_conn(a, st, sem, ctx, nstreams, kind):
    streams = {}
    writer = None

    def fail_all(why):
        pending = [s for s in streams.values() if not s.failed and not s.subscribed]
        for s in pending:
            s.failed = True
        left = nstreams - len(streams)  # never opened
        if pending or left:
            st.err(f"{kind}: {why}", len(pending) + left)
        lost = [s for s in streams.values() if s.subscribed and not s.delivered and not s.failed]
        for s in lost:
            s.failed = True
        if lost:
            st.err(f"{kind}: subscribed stream lost: {why}", len(lost))

    try:
        async with sem:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.host), 15)
        st.transports.append(writer)
        alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        st.alpn[alpn] += 1
        if alpn != "h2":
            raise RuntimeError(f"ALPN selected {alpn!r}, not h2")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.increment_flow_control_window(1 << 20)  # connection window: never the bottleneck
        writer.write(conn.data_to_send())
        authority = f"{a.host}:{a.port}"
        opened = False
        while True:
            data = await reader.read(65536)
            if not data:
                fail_all("connection closed by the hub (EOF)")
                return
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                fail_all(f"client-side h2 protocol error: {e}")
                return
            for ev in events:
                if isinstance(ev, h2.events.RemoteSettingsChanged) and not opened:
                    opened = True
                    mcs = conn.remote_settings.max_concurrent_streams
                    if mcs < nstreams:
                        st.err(f"{kind}: server MAX_CONCURRENT_STREAMS {mcs} < {nstreams}", 0)
                    for _ in range(nstreams):
                        sid = conn.get_next_available_stream_id()
                        streams[sid] = H2Stream(sid)
                        if kind == "sse-h2":
                            conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                                    (":authority", authority), (":path", f"/sse/{a.topic}"),
                                                    ("accept", "text/event-stream")], end_stream=True)
                        else:
                            conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                                    (":scheme", "https"), (":authority", authority),
                                                    (":path", f"/ws/{a.topic}"),
                                                    ("sec-websocket-version", "13")], end_stream=False)
                elif isinstance(ev, h2.events.ResponseReceived):
                    s = streams.get(ev.stream_id)
                    if s is None:
                        continue
                    s.status = dict(ev.headers).get(":status")
                    if s.status != "200":
                        s.failed = True
                        st.err(f"{kind}: :status {s.status}")
                    elif kind == "ws-h2":
                        s.subscribed = True
                        st.sub_ok()
                elif isinstance(ev, h2.events.DataReceived):
                    try:
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                        pass
                    s = streams.get(ev.stream_id)
                    if s is None or s.failed:
                        continue
                    s.buf += ev.data
                    if kind == "sse-h2":
                        if not s.subscribed and b"retry:" in s.buf:
                            s.subscribed = True
                            st.sub_ok()
                        if (s.subscribed and not s.delivered and st.payload is not None
                                and b"data: " + st.payload in s.buf):
                            s.delivered = True
                            st.got()
                        s.buf = s.buf[-1024:]
                    else:
                        for op, payload in ws_parse(s.buf):
                            if op == 0x9:  # Ping -> Pong
                                conn.send_data(s.sid, ws_frame(0xA, payload))
                            elif op == 0x8:
                                s.failed = True
                                st.err(f"ws-h2: Close {payload[:2].hex()} {payload[2:60]!r} from the hub")
                            elif op == 0x1 and st.payload is not None and st.payload in payload \
                                    and not s.delivered:
                                s.delivered = True
                                st.got()
                elif isinstance(ev, (h2.events.StreamReset, h2.events.StreamEnded)):
                    s = streams.get(ev.stream_id)
                    if s is None or s.failed:
                        continue
                    s.failed = True
                    what = (f"RST_STREAM {ev.error_code!r}" if isinstance(ev, h2.events.StreamReset)
                            else "END_STREAM")
                    st.err(f"{kind}: {what} on a {'subscribed' if s.subscribed else 'new'} stream")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    fail_all(f"GOAWAY {ev.error_code!r} last_stream={ev.last_stream_id}")
                    return
            out = conn.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001
        fail_all(exc_name(e))


# ------------------------------------------------------------------------------- publish
async def publish(a, ctx, topic, payload):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.host if ctx else None), 5)
    try:
        writer.write((f"POST /publish/{topic} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
                      f"Content-Type: text/plain\r\nContent-Length: {len(payload)}\r\n"
                      "Connection: close\r\n\r\n").encode() + payload)
        resp = bytearray()
        while True:
            data = await asyncio.wait_for(reader.read(4096), 5)
            if not data:
                break
            resp += data
        return bytes(resp)
    finally:
        writer.close()


# ------------------------------------------------------------------------------- main
async def run(a):
    st = State(a.n)
    sem = asyncio.Semaphore(a.concurrency)
    tls = a.case != "ws"
    h1ctx = ssl_ctx(a.cafile, ["http/1.1"]) if tls else None
    h2ctx = ssl_ctx(a.cafile, ["h2"]) if tls else None
    a.topic = f"idle-mem-{RUN}-{a.case}"
    t_start = time.monotonic()

    samples = []
    for _ in range(3):
        samples.append(rss_kib(a.pid))
        await asyncio.sleep(0.2)
    if None in samples:
        print(f"tls_idle_mem.py: hub pid {a.pid} is gone before the start", flush=True)
        return 1
    rss0 = min(samples)
    print(f"[{a.case}] baseline VmRSS {rss0} KiB ({rss0 / 1024:.1f} MiB), threads "
          f"{proc_field(a.pid, 'Threads')}; topic {a.topic}", flush=True)

    tasks = []
    if a.case in ("ws", "wss"):
        url = f"{'wss' if tls else 'ws'}://{a.host}:{a.port}/ws/{a.topic}"
        conns = a.n
        for _ in range(a.n):
            tasks.append(asyncio.create_task(ws_h1_sub(a, st, sem, url, h1ctx)))
    elif a.case == "sse-h1":
        conns = a.n
        for _ in range(a.n):
            tasks.append(asyncio.create_task(sse_h1_sub(a, st, sem, h1ctx)))
    else:
        per = a.streams_per_conn
        conns = (a.n + per - 1) // per
        for j in range(conns):
            k = min(per, a.n - j * per)
            tasks.append(asyncio.create_task(h2_conn(a, st, sem, h2ctx, k, a.case)))

    t0 = time.monotonic()
    try:
        await asyncio.wait_for(st.all_subscribed.wait(), a.open_timeout)
    except asyncio.TimeoutError:
        pass
    t_open = time.monotonic() - t0
    print(f"[{a.case}] {st.subscribed}/{a.n} subscribed over {conns} connection(s) in {t_open:.1f} s"
          + (f"; errors {dict(st.errors)}" if st.errors else "")
          + (f"; ALPN {dict(st.alpn)}" if st.alpn else ""), flush=True)

    traj = []
    end = time.monotonic() + a.settle
    while time.monotonic() < end:
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        traj.append(rss_kib(a.pid))
    rss1 = rss_kib(a.pid)
    alive = rss1 is not None
    print(f"[{a.case}] after {a.settle:.0f} s settle: VmRSS {rss1} KiB; samples (KiB) {traj}; threads "
          f"{proc_field(a.pid, 'Threads')}", flush=True)

    st.payload = f"idle-mem-{RUN}-{a.case}-event".encode()
    if st.subscribed == 0:
        st.all_delivered.set()
    pub = b""
    t1 = time.monotonic()
    if alive:
        try:
            pub = await publish(a, h1ctx, a.topic, st.payload)
        except Exception as e:  # noqa: BLE001
            pub = f"publish failed: {exc_name(e)}".encode()
    first = pub.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if not first.startswith("HTTP/1.1 200"):
        print(f"[{a.case}] publish answer: {pub[:300]!r}", flush=True)
    try:
        await asyncio.wait_for(st.all_delivered.wait(), a.deliver_timeout)
    except asyncio.TimeoutError:
        pass
    t_del = time.monotonic() - t1
    await asyncio.sleep(0.5)
    rss2 = rss_kib(a.pid)
    print(f"[{a.case}] publish -> '{first}'; delivered to {st.delivered}/{st.subscribed} subscribed "
          f"(of {a.n}) in {t_del:.2f} s; VmRSS after delivery {rss2} KiB"
          + (f"; errors {dict(st.errors)}" if st.errors else ""), flush=True)

    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for tr in st.transports:
        try:
            if hasattr(tr, "transport") and hasattr(tr.transport, "abort"):
                tr.transport.abort()
            elif hasattr(tr, "close"):
                tr.close()
        except Exception:  # noqa: BLE001
            pass
    await asyncio.sleep(0.2)

    bps = (rss1 - rss0) * 1024 / a.n if (rss1 is not None and a.n) else -1
    errs = ";".join(f"{k}x{v}" for k, v in st.errors.items()).replace(" ", "_") or "none"
    print(f"RESULT case={a.case} n={a.n} conns={conns} subscribed={st.subscribed} rss0_kib={rss0} "
          f"rss1_kib={rss1 if rss1 is not None else -1} rss2_kib={rss2 if rss2 is not None else -1} "
          f"bytes_per_sub={bps:.0f} delivered={st.delivered} hub_alive={int(rss_kib(a.pid) is not None)} "
          f"open_s={t_open:.1f} deliver_s={t_del:.2f} total_s={time.monotonic() - t_start:.1f} "
          f"errors={errs}", flush=True)
    ok = st.subscribed == a.n and st.delivered == a.n and rss_kib(a.pid) is not None
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--case", choices=CASES, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the hub's pid (VmRSS from /proc/PID/status)")
    ap.add_argument("--cafile", help="CA (PEM) of the hub's certificate; needed for every case but ws")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--streams-per-conn", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=64, help="handshakes in flight at once")
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--open-timeout", type=float, default=60.0)
    ap.add_argument("--deliver-timeout", type=float, default=20.0)
    a = ap.parse_args()
    if a.host not in LOOPBACK:
        ap.error("loopback only")
    if a.case != "ws" and not a.cafile:
        ap.error(f"--case {a.case} needs --cafile")
    bound = a.open_timeout + a.settle + a.deliver_timeout + 30
    try:
        return asyncio.run(asyncio.wait_for(run(a), bound))
    except asyncio.TimeoutError:
        print(f"tls_idle_mem.py: overall bound of {bound:.0f} s hit", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
