#!/usr/bin/env python3
"""HTTP/2 probe of a running `sluice serve` (hyper-h2 over plain sockets; no asyncio).

    python3 scripts/interop/h2_probe.py --host 127.0.0.1 --port 8443 --tls --cafile ca.pem
    python3 scripts/interop/h2_probe.py --host 127.0.0.1 --port 8080 --h2c   # prior knowledge
    ... [--pid HUB_PID] [--only a,b,d] [--check-timeout 10]

Checks (each prints PASS/FAIL with a reason; exit 1 if any failed; no check runs longer than
--check-timeout seconds, so the whole run is bounded by about 9 x that):
  a. TLS: ALPN negotiates h2 (and http/1.1 when only that is offered); server SETTINGS carry
     ENABLE_CONNECT_PROTOCOL (0x8) = 1.
  b. 12 SSE streams (one topic each) on ONE connection, then one POST /publish per topic on the
     same connection: every stream gets its own event exactly once.
  c. No connection-specific response headers (connection, keep-alive, transfer-encoding,
     upgrade, proxy-connection, te) and no upper-case names on /healthz, a publish answer and
     an SSE head.
  d. RFC 8441 WebSocket: extended CONNECT (:protocol websocket) -> 200; a masked client text
     frame comes back as an event; an event published by POST on the same connection arrives
     as an unmasked text frame; Close 1000 is answered with Close 1000.
  e. `:protocol` on a GET is refused (RST_STREAM PROTOCOL_ERROR or a 4xx), on /ws/ and /healthz.
  f. Rapid reset (CVE-2023-44487): 2000 HEADERS + RST_STREAM(CANCEL) on one connection; a fresh
     connection's /healthz must answer 200 within 2 s. Reports any GOAWAY and its code.
  g. CONTINUATION flood: one HEADERS without END_HEADERS and up to 10,000 CONTINUATION frames
     of 16 KiB (a valid HPACK block that never ends): the server must GOAWAY or close before
     the end, and stay healthy. With --pid, its RSS growth must stay under --max-rss-growth-mib.
  h. A 1 MiB header value is refused (431 / 4xx, RST_STREAM or GOAWAY); the server stays healthy.
  i. SETTINGS_MAX_CONCURRENT_STREAMS is advertised; opening more SSE streams than that at once
     gets the extra ones refused (RST_STREAM REFUSED_STREAM or PROTOCOL_ERROR), none hangs, and
     the connection stays usable.
Topics are named probe-<random>-..., so runs never collide. Loopback addresses only.
"""
import argparse
import functools
import json
import os
import select
import signal
import socket
import ssl
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from interop_common import LOOPBACK, Results  # noqa: E402
from procfs import rss_kib  # noqa: E402

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
from h2.errors import ErrorCodes  # noqa: E402
from h2.settings import SettingCodes  # noqa: E402
from hyperframe.frame import (  # noqa: E402
    Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame,
)
from hyperframe.exceptions import UnknownFrameError  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENABLE_CONNECT_PROTOCOL = 0x8
MAX_CONCURRENT_STREAMS = 0x3
FORBIDDEN_RESPONSE_HEADERS = {"connection", "keep-alive", "transfer-encoding", "upgrade",
                              "proxy-connection", "te"}
RUN = os.urandom(4).hex()


class CheckTimeout(Exception):
    pass


class ProbeError(Exception):
    pass


def err_name(code):
    try:
        return f"{ErrorCodes(code).name}(0x{int(code):x})"
    except ValueError:
        return f"0x{int(code):x}"


def setting_name(code):
    try:
        return SettingCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def fmt_settings(s):
    return ", ".join(f"{setting_name(k)}={v}" for k, v in sorted(s.items())) or "(empty)"


def now():
    return time.monotonic()


def open_socket(args, timeout=3.0, alpn=("h2", "http/1.1")):
    """TCP (and TLS) connection to the hub; returns (socket, negotiated ALPN or None)."""
    raw = socket.create_connection((args.host, args.port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not args.tls:
        return raw, None
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.set_alpn_protocols(list(alpn))
    try:
        s = ctx.wrap_socket(raw, server_hostname=args.host)
    except BaseException:
        raw.close()
        raise
    return s, s.selected_alpn_protocol()


# ------------------------------------------------------------------------------------ h2 client
class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.status = None        # int :status of the final response
        self.headers = None       # [(name, value)] of the final response
        self.data = bytearray()
        self.ended = False        # END_STREAM received
        self.reset = None         # RST_STREAM error code received
        self.ws = None            # WsReader, for extended CONNECT streams

    @property
    def done(self):
        return self.ended or self.reset is not None

    def header(self, name):
        for k, v in self.headers or ():
            if k == name:
                return v
        return None

    def outcome(self):
        parts = []
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.reset is not None:
            parts.append(f"RST_STREAM {err_name(self.reset)}")
        if self.ended:
            parts.append("ended")
        return ", ".join(parts) or "no answer"


class UncappedH2Connection(h2.connection.H2Connection):
    """Lets the client open more streams than the server's MAX_CONCURRENT_STREAMS (check i)."""

    @property
    def open_outbound_streams(self):
        return 0


OPEN = []  # every client of the current check, closed by the runner


class H2Client:
    def __init__(self, args, validate_inbound=True, validate_outbound=True, uncapped=False,
                 huffman=True, alpn=("h2", "http/1.1")):
        self.args = args
        self.sock, self.alpn = open_socket(args, alpn=alpn)
        OPEN.append(self)
        self.closed = False
        self.close_reason = None
        self.goaway = None            # (error_code, last_stream_id, additional_data)
        self.server_settings = None   # {code: value} of the server's first SETTINGS frame
        self.protocol_error = None
        self.streams = {}
        self.authority = f"{args.host}:{args.port}"
        self.scheme = "https" if args.tls else "http"
        if args.tls and self.alpn != "h2":
            raise ProbeError(f"ALPN selected {self.alpn!r}, not h2")
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_inbound_headers=validate_inbound,
                                        validate_outbound_headers=validate_outbound,
                                        normalize_outbound_headers=validate_outbound)
        cls = UncappedH2Connection if uncapped else h2.connection.H2Connection
        self.conn = cls(config=cfg)
        if not huffman:  # pure-python Huffman coding of a 1 MiB value takes minutes
            self.conn.encoder.encode = functools.partial(type(self.conn.encoder).encode,
                                                         self.conn.encoder, huffman=False)
        self.conn.initiate_connection()
        self.flush()

    # -- I/O
    def flush(self):
        data = self.conn.data_to_send()
        if not data or self.closed:
            return not self.closed
        try:
            self.sock.settimeout(5)
            self.sock.sendall(data)
        except (OSError, ValueError) as e:
            self._closed(f"send: {type(e).__name__}: {e}")
        return not self.closed

    def _closed(self, why):
        if not self.closed:
            self.closed, self.close_reason = True, why

    def pump(self, timeout):
        """Reads once (waiting up to timeout s) and handles the events. False once closed."""
        if self.closed:
            return False
        try:
            self.sock.settimeout(max(timeout, 0.001))
            data = self.sock.recv(1 << 16)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (OSError, ValueError) as e:
            self._closed(f"recv: {type(e).__name__}: {e}")
            return False
        if not data:
            self._closed("EOF")
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.protocol_error = f"{type(e).__name__}: {e}"
            self._closed(f"client-side protocol error: {e}")
            self.flush()
            return False
        for ev in events:
            self._on(ev)
        self.flush()
        return not self.closed

    def wait(self, cond, timeout):
        """Pumps until cond() is true, the connection closes, or timeout s pass; returns cond()."""
        deadline = now() + timeout
        while not cond():
            left = deadline - now()
            if left <= 0 or not self.pump(min(left, 0.25)):
                break
        return cond()

    def linger(self, seconds):
        self.wait(lambda: False, seconds)

    def st(self, sid):
        if sid not in self.streams:
            self.streams[sid] = Stream(sid)
        return self.streams[sid]

    def _on(self, ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            if self.server_settings is None:
                self.server_settings = {int(k): v.new_value for k, v in ev.changed_settings.items()}
        elif isinstance(ev, h2.events.ResponseReceived):
            s = self.st(ev.stream_id)
            s.headers = list(ev.headers)
            try:
                s.status = int(s.header(":status"))
            except (TypeError, ValueError):
                s.status = -1
        elif isinstance(ev, h2.events.DataReceived):
            s = self.st(ev.stream_id)
            s.data += ev.data
            if s.ws is not None:
                s.ws.feed(ev.data)
            try:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
        elif isinstance(ev, h2.events.StreamEnded):
            self.st(ev.stream_id).ended = True
        elif isinstance(ev, h2.events.StreamReset):
            self.st(ev.stream_id).reset = int(ev.error_code)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (int(ev.error_code), ev.last_stream_id, ev.additional_data)

    def wait_settings(self, timeout=3.0):
        if not self.wait(lambda: self.server_settings is not None, timeout):
            raise ProbeError(f"no SETTINGS from the server in {timeout} s ({self.state()})")
        return self.server_settings

    def state(self):
        parts = []
        if self.goaway:
            parts.append(f"GOAWAY {err_name(self.goaway[0])} last_stream={self.goaway[1]}"
                         + (f" {bytes(self.goaway[2] or b'')[:80]!r}" if self.goaway[2] else ""))
        if self.closed:
            parts.append(f"closed ({self.close_reason})")
        return ", ".join(parts) or "connection open"

    # -- requests
    def request(self, method, path, headers=(), body=None, protocol=None, end_stream=True,
                flush=True):
        self._wait_for_slot()
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method)]
        if protocol is not None:
            hdrs.append((":protocol", protocol))
        hdrs += [(":scheme", self.scheme), (":authority", self.authority), (":path", path)]
        hdrs += list(headers)
        if body is not None:
            hdrs.append(("content-length", str(len(body))))
        self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end_stream)
        if flush:
            self.flush()
        return sid

    def _wait_for_slot(self, timeout=3.0):
        """Waits (bounded) until the server's MAX_CONCURRENT_STREAMS lets one more stream open."""
        if isinstance(self.conn, UncappedH2Connection):
            return
        limit = self.conn.remote_settings.max_concurrent_streams
        if self.conn.open_outbound_streams + 1 <= limit:
            return
        self.flush()
        if not self.wait(lambda: self.conn.open_outbound_streams + 1 <= limit, timeout):
            raise ProbeError(f"no stream slot within {timeout} s: {self.conn.open_outbound_streams} open, "
                             f"server MAX_CONCURRENT_STREAMS={limit} ({self.state()})")

    def publish(self, topic, data, flush=True):
        return self.request("POST", f"/publish/{topic}",
                            [("content-type", "text/plain; charset=utf-8")],
                            body=data.encode(), flush=flush)

    def close(self):
        if not self.closed:
            try:
                self.conn.close_connection()
                self.flush()
            except Exception:  # noqa: BLE001 - best effort
                pass
        self._closed("closed by the probe")
        try:
            self.sock.close()
        except OSError:
            pass


def healthz(args, within=2.0):
    """A fresh connection's GET /healthz: (ok, detail)."""
    t0 = now()
    try:
        c = H2Client(args)
        sid = c.request("GET", "/healthz")
        c.wait(lambda: c.streams[sid].done, within - (now() - t0))
        s = c.streams[sid]
        took = now() - t0
        ok = s.status == 200 and s.ended and took <= within
        c.close()
        return ok, f"fresh /healthz: {s.outcome()} body {bytes(s.data[:40])!r} in {took:.2f} s"
    except (OSError, ProbeError, h2.exceptions.ProtocolError) as e:
        return False, f"fresh /healthz: {type(e).__name__}: {e} after {now() - t0:.2f} s"


def sse_data_lines(data):
    out = []
    for line in bytes(data).decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line.startswith("data:"):
            v = line[5:]
            out.append(v[1:] if v.startswith(" ") else v)
    return out


# ------------------------------------------------------------------------------------ WebSocket
def ws_frame(opcode, payload, mask=True, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    m = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 1 << 16:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


class WsReader:
    """RFC 6455 frames out of the DATA of an extended CONNECT stream."""

    def __init__(self):
        self.buf = bytearray()
        self.frames = []      # (fin, opcode, payload, masked)
        self.messages = []    # (opcode, payload) of complete data messages
        self.closes = []      # close payloads
        self.masked = 0
        self.error = None
        self._frag = None

    def feed(self, data):
        self.buf += data
        while self.error is None:
            b = self.buf
            if len(b) < 2:
                return
            fin, rsv, op = b[0] >> 7, (b[0] >> 4) & 7, b[0] & 0xF
            masked, n, i = b[1] >> 7, b[1] & 0x7F, 2
            if n == 126:
                if len(b) < 4:
                    return
                n, i = int.from_bytes(b[2:4], "big"), 4
            elif n == 127:
                if len(b) < 10:
                    return
                n, i = int.from_bytes(b[2:10], "big"), 10
            key = b""
            if masked:
                if len(b) < i + 4:
                    return
                key, i = bytes(b[i:i + 4]), i + 4
            if len(b) < i + n:
                return
            payload = bytes(b[i:i + n])
            del self.buf[:i + n]
            if masked:
                self.masked += 1
                payload = bytes(x ^ key[j & 3] for j, x in enumerate(payload))
            if rsv:
                self.error = f"RSV bits {rsv} set (no extension negotiated)"
            self.frames.append((fin, op, payload, bool(masked)))
            if op == 0x8:
                self.closes.append(payload)
            elif op in (0x9, 0xA):
                pass
            elif op in (0x1, 0x2):
                if fin:
                    self.messages.append((op, payload))
                else:
                    self._frag = (op, bytearray(payload))
            elif op == 0x0 and self._frag is not None:
                self._frag[1].extend(payload)
                if fin:
                    self.messages.append((self._frag[0], bytes(self._frag[1])))
                    self._frag = None
            else:
                self.error = f"unexpected opcode 0x{op:x}"

    def events(self):
        out = []
        for op, payload in self.messages:
            if op != 0x1:
                continue
            try:
                out.append(json.loads(payload.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                out.append({"unparsed": payload[:80]})
        return out

    def has_data(self, data):
        return any(isinstance(e, dict) and e.get("data") == data for e in self.events())


# ------------------------------------------------------------------------------------ raw frames
def raw_frame(ftype, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def hpack_int(value, prefix_bits, first=0):
    cap = (1 << prefix_bits) - 1
    if value < cap:
        return bytes([first | value])
    out = bytearray([first | cap])
    value -= cap
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


class RawConn:
    """Frames written by hand (check g); frames from the server parsed with hyperframe."""

    def __init__(self, args):
        self.sock, self.alpn = open_socket(args)
        OPEN.append(self)
        if args.tls and self.alpn != "h2":
            raise ProbeError(f"ALPN selected {self.alpn!r}, not h2")
        self.tls = args.tls
        self.buf = bytearray()
        self.closed = False
        self.close_reason = None
        self.goaway = None
        self.rst = []
        self.headers_frames = 0
        self.server_settings = None

    def send(self, data, timeout):
        if self.closed:
            return False
        try:
            self.sock.settimeout(max(timeout, 0.01))
            self.sock.sendall(data)
        except socket.timeout:
            raise ProbeError(f"the server stopped reading for {timeout:.1f} s without closing")
        except (OSError, ValueError) as e:
            self.closed, self.close_reason = True, f"send: {type(e).__name__}: {e}"
        return not self.closed

    def poll(self, timeout):
        if self.closed:
            return False
        if not (self.tls and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
            if not r:
                return True
        try:
            self.sock.settimeout(1.0)
            data = self.sock.recv(1 << 16)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (OSError, ValueError) as e:
            self.closed, self.close_reason = True, f"recv: {type(e).__name__}: {e}"
            return False
        if not data:
            self.closed, self.close_reason = True, "EOF"
            return False
        self.buf += data
        self._parse()
        return not self.closed

    def _parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            head, body = bytes(self.buf[:9]), bytes(self.buf[9:9 + length])
            del self.buf[:9 + length]
            try:
                f, _ = Frame.parse_frame_header(memoryview(head))
                f.parse_body(memoryview(body))
            except UnknownFrameError:
                continue
            except Exception:  # noqa: BLE001 - a malformed frame from the server: note, go on
                continue
            if isinstance(f, SettingsFrame):
                if "ACK" not in f.flags:
                    if self.server_settings is None:
                        self.server_settings = dict(f.settings)
                    self.send(SettingsFrame(0, flags=["ACK"]).serialize(), 2)
            elif isinstance(f, PingFrame):
                if "ACK" not in f.flags:
                    self.send(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize(), 2)
            elif isinstance(f, GoAwayFrame):
                self.goaway = (f.error_code, f.last_stream_id, f.additional_data)
            elif isinstance(f, RstStreamFrame):
                self.rst.append((f.stream_id, f.error_code))
            elif isinstance(f, HeadersFrame):
                self.headers_frames += 1

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------ the checks
class Probe:
    def __init__(self, args):
        self.args = args
        self.r = Results(f"h2_probe[{'tls' if args.tls else 'h2c'}]")
        self.server_settings = None

    def check(self, label, ok, detail=""):
        return self.r.check(label, ok, detail)

    def run(self, key, title, fn):
        before = self.r.passed + self.r.failed
        limit = self.args.check_timeout

        def on_alarm(_sig, _frm):
            raise CheckTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        t0 = now()
        try:
            fn()
        except CheckTimeout:
            self.check(f"{key}. {title}", False, f"check did not finish within {limit} s")
        except Exception as e:  # noqa: BLE001 - any failure of a check is a FAIL line, not a crash
            if self.args.verbose:
                traceback.print_exc()
            self.check(f"{key}. {title}", False, f"{type(e).__name__}: {e}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            for c in OPEN:
                c.close()
            OPEN.clear()
        if self.r.passed + self.r.failed == before:
            self.check(f"{key}. {title}", False, "check reported nothing")
        if self.args.verbose:
            print(f"     ({key} took {now() - t0:.2f} s)", flush=True)

    # a ------------------------------------------------------------------------------------------
    def a_alpn_settings(self):
        a = self.args
        c = H2Client(a) if not a.tls else None
        if a.tls:
            sock, alpn = open_socket(a)
            sock.close()
            self.check("a. TLS ALPN offering h2, http/1.1 selects h2", alpn == "h2", f"selected {alpn!r}")
            sock, alpn = open_socket(a, alpn=("http/1.1",))
            sock.close()
            self.check("a. TLS ALPN offering only http/1.1 selects http/1.1", alpn == "http/1.1",
                       f"selected {alpn!r}")
            c = H2Client(a)
        s = c.wait_settings()
        self.server_settings = s
        self.check("a. server SETTINGS carry ENABLE_CONNECT_PROTOCOL (0x8) = 1",
                   s.get(ENABLE_CONNECT_PROTOCOL) == 1, f"server SETTINGS: {fmt_settings(s)}")

    # b ------------------------------------------------------------------------------------------
    def b_sse_multiplex(self):
        n = 12
        c = H2Client(self.args)
        c.wait_settings()
        topics = [f"probe-{RUN}-sse-{i}" for i in range(n)]
        sids = [c.request("GET", f"/sse/{t}", [("accept", "text/event-stream")]) for t in topics]
        heads = lambda: all(c.streams[s].status is not None or c.streams[s].done for s in sids)  # noqa: E731
        opened = lambda: all(c.streams[s].data or c.streams[s].done for s in sids)  # noqa: E731
        c.wait(lambda: heads() and opened(), 3.0)
        bad = [f"{topics[i]}: {c.streams[s].outcome()}" for i, s in enumerate(sids)
               if c.streams[s].status != 200 or c.streams[s].done]
        if bad:
            self.check(f"b. {n} SSE streams open on one connection", False,
                       f"{len(bad)} not open: {'; '.join(bad[:4])} ({c.state()})")
            return
        ctypes = {c.streams[s].header("content-type") for s in sids}
        silent = sum(1 for s in sids if not c.streams[s].data)
        self.check(f"b. {n} SSE streams open on one connection (200 text/event-stream)",
                   all((t or "").startswith("text/event-stream") for t in ctypes),
                   f"content-type {sorted(map(str, ctypes))}"
                   + (f"; {silent} sent nothing before the first event" if silent else ""))
        mark = {s: len(c.streams[s].data) for s in sids}
        want = {s: f"probe-{RUN}-event-{i}" for i, s in enumerate(sids)}
        pubs = [c.publish(t, want[s], flush=False) for t, s in zip(topics, sids)]
        c.flush()

        def counts():
            return {s: sse_data_lines(c.streams[s].data[mark[s]:]).count(want[s]) for s in sids}

        c.wait(lambda: all(c.streams[p].done for p in pubs) and all(v >= 1 for v in counts().values()), 5.0)
        c.linger(0.5)  # a duplicate would show up now
        pub_bad = []
        for p in pubs:
            s = c.streams[p]
            try:
                okjson = "id" in json.loads(bytes(s.data))
            except ValueError:
                okjson = False
            if s.status != 200 or not s.ended or not okjson:
                pub_bad.append(f"{s.outcome()} body {bytes(s.data[:60])!r}")
        self.check(f"b. {n} POST /publish on the same connection answer 200 with an id", not pub_bad,
                   "; ".join(pub_bad[:3]) or "all 200")
        got = counts()
        prefix = f"probe-{RUN}-event-"
        cross = sum(1 for s in sids for d in sse_data_lines(c.streams[s].data[mark[s]:])
                    if d.startswith(prefix) and d != want[s])
        wrong = {topics[i]: got[s] for i, s in enumerate(sids) if got[s] != 1}
        self.check(f"b. each of the {n} SSE streams receives its event exactly once",
                   not wrong and not cross,
                   f"counts off: {wrong}; foreign events: {cross} ({c.state()})" if wrong or cross
                   else f"{n} x 1 event")

    # c ------------------------------------------------------------------------------------------
    def c_no_connection_headers(self):
        c = H2Client(self.args, validate_inbound=False)
        c.wait_settings()
        topic = f"probe-{RUN}-hdr"
        reqs = {"/healthz": c.request("GET", "/healthz"),
                "publish": c.publish(topic, "header check"),
                "SSE head": c.request("GET", f"/sse/{topic}", [("accept", "text/event-stream")])}
        c.wait(lambda: all(c.streams[s].status is not None or c.streams[s].done for s in reqs.values())
               and c.streams[reqs["/healthz"]].done and c.streams[reqs["publish"]].done, 4.0)
        problems, seen = [], []
        for what, sid in reqs.items():
            s = c.streams[sid]
            if s.status is None:
                problems.append(f"{what}: {s.outcome()}")
                continue
            names = [k for k, _ in s.headers]
            bad = sorted({k.lower() for k in names} & FORBIDDEN_RESPONSE_HEADERS)
            upper = sorted({k for k in names if k != k.lower()})
            if bad:
                problems.append(f"{what} has {bad}")
            if upper:
                problems.append(f"{what} has upper-case names {upper}")
            seen.append(f"{what} {s.status}")
        h = c.streams[reqs["/healthz"]]
        self.check("c. GET /healthz over h2 answers 200 ok", h.status == 200 and bytes(h.data).strip() == b"ok",
                   f"{h.outcome()} body {bytes(h.data[:40])!r}")
        self.check("c. no connection-specific headers in h2 responses (/healthz, publish, SSE head)",
                   not problems, "; ".join(problems) if problems else ", ".join(seen))

    # d ------------------------------------------------------------------------------------------
    def d_websocket_rfc8441(self):
        c = H2Client(self.args)
        s = c.wait_settings()
        if s.get(ENABLE_CONNECT_PROTOCOL) != 1:
            self.check("d. RFC 8441 extended CONNECT", False,
                       "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1; not trying")
            return
        topic = f"probe-{RUN}-ws"
        sid = c.request("CONNECT", f"/ws/{topic}", [("sec-websocket-version", "13")],
                        protocol="websocket", end_stream=False)
        st = c.streams[sid]
        st.ws = ws = WsReader()
        c.wait(lambda: st.status is not None or st.done, 2.0)
        if not self.check("d. extended CONNECT :protocol websocket -> :status 200",
                          st.status == 200 and not st.done, f"{st.outcome()} ({c.state()})"):
            return
        client_text = f"probe-{RUN}-from-ws-client"
        c.conn.send_data(sid, ws_frame(0x1, client_text.encode()))
        c.flush()
        c.wait(lambda: ws.has_data(client_text) or st.done or ws.error, 2.5)
        self.check("d. masked client text frame (h2 DATA) is published back to the sender",
                   ws.has_data(client_text),
                   f"events {ws.events()[:3]} ({st.outcome()}; {c.state()})" if not ws.has_data(client_text)
                   else "")
        posted = f"probe-{RUN}-via-post"
        pid = c.publish(topic, posted)
        c.wait(lambda: (ws.has_data(posted) and c.streams[pid].done) or st.done or ws.error, 2.5)
        p = c.streams[pid]
        self.check("d. event POSTed on the same connection arrives as an unmasked text frame",
                   ws.has_data(posted) and ws.masked == 0 and not ws.error and p.status == 200,
                   f"publish {p.outcome()}; frames {len(ws.frames)}, masked {ws.masked}, error {ws.error}; "
                   f"events {[e.get('data') if isinstance(e, dict) else e for e in ws.events()][-3:]}")
        ncloses = len(ws.closes)
        c.conn.send_data(sid, ws_frame(0x8, (1000).to_bytes(2, "big") + b"probe done"))
        c.flush()
        c.wait(lambda: len(ws.closes) > ncloses or st.done, 2.5)
        code = int.from_bytes(ws.closes[-1][:2], "big") if ws.closes and len(ws.closes[-1]) >= 2 else None
        self.check("d. Close 1000 is answered with Close 1000", code == 1000,
                   f"server close code {code} ({st.outcome()})")
        try:
            c.conn.end_stream(sid)
            c.flush()
        except h2.exceptions.H2Error:
            pass

    # e ------------------------------------------------------------------------------------------
    def e_protocol_on_get(self):
        for path in (f"/ws/probe-{RUN}-proto", "/healthz"):
            c = H2Client(self.args, validate_outbound=False)
            c.wait_settings()
            sid = c.request("GET", path, [("sec-websocket-version", "13")], protocol="websocket")
            st = c.streams[sid]
            c.wait(lambda: st.status is not None or st.done or c.goaway is not None, 3.0)
            if st.reset == ErrorCodes.PROTOCOL_ERROR:
                ok, how = True, "RST_STREAM PROTOCOL_ERROR"
            elif st.status is not None and 400 <= st.status < 500:
                ok, how = True, f"status {st.status}"
            elif st.status is None and c.goaway is not None and c.goaway[0] == ErrorCodes.PROTOCOL_ERROR:
                ok, how = True, "GOAWAY PROTOCOL_ERROR (a connection error; RFC 9113 8.1.1 wants a stream error)"
            else:
                ok, how = False, f"{st.outcome()} ({c.state()})"
            self.check(f"e. GET {path.split('/probe')[0] or path} with :protocol websocket is refused", ok, how)
            c.close()

    # f ------------------------------------------------------------------------------------------
    def f_rapid_reset(self):
        a = self.args
        rss0 = rss_kib(a.pid) if a.pid else None
        c = H2Client(a)
        c.wait_settings()
        n, sent, t0 = 2000, 0, now()
        hdrs = [(":method", "GET"), (":scheme", c.scheme), (":authority", c.authority), (":path", "/healthz")]
        stopped = None
        for i in range(n):
            if now() - t0 > 4.0:
                stopped = "4 s budget used"
                break
            try:
                sid = c.conn.get_next_available_stream_id()
                c.conn.send_headers(sid, hdrs, end_stream=True)
                c.conn.reset_stream(sid, ErrorCodes.CANCEL)
            except h2.exceptions.ProtocolError as e:  # connection closed by a GOAWAY
                stopped = f"h2 refused to send more: {e}"
                break
            sent += 1
            if i % 50 == 49:
                if not c.flush():
                    break
                c.pump(0.001)
                if c.goaway or c.closed:
                    break
        c.flush()
        took = now() - t0
        c.wait(lambda: c.closed or c.goaway is not None, 1.5)
        answered = sum(1 for s in c.streams.values() if s.status is not None)
        usable = None
        if not c.closed and c.goaway is None:
            try:
                hs = c.request("GET", "/healthz")
                usable = c.wait(lambda: c.streams[hs].done, 1.0) and c.streams[hs].status == 200
            except h2.exceptions.H2Error:
                usable = False
        ok, health = healthz(a, 2.0)
        rss1 = rss_kib(a.pid) if a.pid else None
        detail = (f"{sent}/{n} HEADERS+RST_STREAM in {took:.2f} s"
                  + (f" (stopped: {stopped})" if stopped else "")
                  + f"; server: {c.state() if (c.goaway or c.closed) else 'no GOAWAY, connection kept open'}"
                  + f"; {answered} responses seen"
                  + (f"; same connection {'still serves' if usable else 'no longer serves'} /healthz"
                     if usable is not None else "")
                  + (f"; RSS {rss0 // 1024} -> {rss1 // 1024} MiB" if rss0 and rss1 else "")
                  + f"; {health}")
        self.check("f. rapid reset flood (2000 HEADERS+RST_STREAM): server stays healthy", ok, detail)

    # g ------------------------------------------------------------------------------------------
    def g_continuation_flood(self):
        a = self.args
        frames, size = 10_000, 16_384
        rss0 = rss_kib(a.pid) if a.pid else None
        peak = rss0
        c = RawConn(a)
        c.send(PREFACE + SettingsFrame(0).serialize(), 2)
        deadline = now() + 2
        while c.server_settings is None and not c.closed and now() < deadline:
            c.poll(0.1)
        if c.server_settings is None:
            raise ProbeError(f"no SETTINGS from the server ({c.close_reason or 'timeout'})")
        max_frame = c.server_settings.get(SettingsFrame.MAX_FRAME_SIZE, 16_384)
        size = min(size, max_frame)
        authority = f"{a.host}:{a.port}".encode()
        # :method GET, :scheme, :path /, :authority (literal, indexed name 1); then literal
        # headers x-flood-N: aaaa... one after the other, split across frames at any byte.
        block = (bytes([0x82, 0x87 if a.tls else 0x86, 0x84]) + hpack_int(1, 4)
                 + hpack_int(len(authority), 7) + authority)
        entry = hpack_literal(b"x-flood", b"a" * 4000)
        stream = bytearray()
        need = size * 2
        while len(stream) < need:
            stream += entry
        period = len(entry)  # the block's bytes repeat with this period; frames cut it anywhere
        c.send(raw_frame(0x1, 0x1, 1, block), 2)  # HEADERS, END_STREAM, no END_HEADERS
        sent, t0, stop = 0, now(), None
        offset = 0
        while sent < frames:
            if now() - t0 > 5.0:
                stop = "5 s budget used"
                break
            off = offset % period
            payload = bytes(stream[off:off + size])
            offset += size
            if not c.send(raw_frame(0x9, 0x0, 1, payload), max(0.1, 5.0 - (now() - t0))):
                break
            sent += 1
            if sent % 64 == 0:
                c.poll(0)
                if c.goaway or c.closed:
                    break
                if a.pid and sent % 512 == 0:
                    r = rss_kib(a.pid)
                    if r and peak:
                        peak = max(peak, r)
        took = now() - t0
        drain = now() + 1.0
        while not c.closed and now() < drain:
            c.poll(0.1)
        rss1 = rss_kib(a.pid) if a.pid else None
        if rss1 and peak:
            peak = max(peak, rss1)
        refused = c.goaway is not None or c.closed
        how = []
        if c.goaway:
            how.append(f"GOAWAY {err_name(c.goaway[0])}")
        if c.closed:
            how.append(f"closed ({c.close_reason})")
        if c.rst:
            how.append(f"RST_STREAM {[(s, err_name(e)) for s, e in c.rst[:3]]}")
        if c.headers_frames:
            how.append(f"{c.headers_frames} HEADERS frames back")
        detail = (f"{sent} CONTINUATION x {size} B ({sent * size / 1048576:.1f} MiB) in {took:.2f} s, then "
                  f"{', '.join(how) or 'nothing (connection open)'}" + (f"; stopped: {stop}" if stop else ""))
        grew = None
        if rss0 and peak:
            grew = (peak - rss0) / 1024
            detail += f"; RSS {rss0 // 1024} MiB, peak +{grew:.1f} MiB"
        self.check("g. CONTINUATION flood: server sends GOAWAY / closes before the end",
                   refused and sent < frames, detail)
        if grew is not None:
            self.check(f"g. CONTINUATION flood: server RSS grows < {a.max_rss_growth_mib} MiB",
                       grew < a.max_rss_growth_mib, f"peak growth {grew:.1f} MiB")
        ok, health = healthz(a, 2.0)
        self.check("g. after the CONTINUATION flood the server stays healthy", ok, health)

    # h ------------------------------------------------------------------------------------------
    def h_large_header(self):
        c = H2Client(self.args, huffman=False)
        c.wait_settings()
        limit = c.server_settings.get(SettingCodes.MAX_HEADER_LIST_SIZE)
        sid = c.request("GET", "/healthz", [("x-probe-big", "a" * (1 << 20))])
        st = c.streams[sid]
        c.wait(lambda: st.status is not None or st.done or c.goaway is not None or c.closed, 4.0)
        if st.status is not None and 400 <= st.status < 500:
            ok, how = True, f"status {st.status}" + ("" if st.status == 431 else " (431 expected)")
        elif st.status is None and (st.reset is not None or c.goaway is not None or c.closed):
            ok, how = True, f"{st.outcome()}; {c.state()}"
        else:
            ok, how = False, f"{st.outcome()} ({c.state()})"
        adv = f"server MAX_HEADER_LIST_SIZE {limit if limit is not None else 'not advertised'}"
        self.check("h. 1 MiB header value is refused (431 / RST_STREAM / GOAWAY)", ok, f"{how}; {adv}")
        c.close()
        ok, health = healthz(self.args, 2.0)
        self.check("h. after the 1 MiB header the server stays healthy", ok, health)

    # i ------------------------------------------------------------------------------------------
    def i_max_concurrent_streams(self):
        c = H2Client(self.args, uncapped=True)
        s = c.wait_settings()
        limit = s.get(MAX_CONCURRENT_STREAMS)
        if limit is None:
            self.check("i. server advertises SETTINGS_MAX_CONCURRENT_STREAMS", False,
                       "not in the server's SETTINGS: streams per connection are unbounded")
            return
        if limit > 1024:
            self.check("i. server advertises SETTINGS_MAX_CONCURRENT_STREAMS <= 1024", False,
                       f"MAX_CONCURRENT_STREAMS={limit}: too many to probe (and a large budget per connection)")
            return
        self.check("i. server advertises SETTINGS_MAX_CONCURRENT_STREAMS", True, f"MAX_CONCURRENT_STREAMS={limit}")
        extra = 5
        topic = f"probe-{RUN}-cap"
        sids = []
        for k in range(limit + extra):
            sids.append(c.request("GET", f"/sse/{topic}", [("accept", "text/event-stream")], flush=False))
            if k % 32 == 31:
                c.flush()
        c.flush()
        resolved = lambda: all(c.streams[x].status is not None or c.streams[x].done for x in sids)  # noqa: E731
        c.wait(lambda: resolved() or c.goaway is not None, 5.0)
        accepted = [x for x in sids if c.streams[x].status == 200 and not c.streams[x].done]
        refused = [x for x in sids if c.streams[x].status is None
                   and c.streams[x].reset in (ErrorCodes.REFUSED_STREAM, ErrorCodes.PROTOCOL_ERROR)]
        pending = [x for x in sids if c.streams[x].status is None and not c.streams[x].done]
        other = len(sids) - len(accepted) - len(refused) - len(pending)
        codes = sorted({err_name(c.streams[x].reset) for x in refused})
        detail = (f"opened {len(sids)} (limit {limit}): {len(accepted)} open, {len(refused)} refused {codes}, "
                  f"{len(pending)} unanswered, {other} other; {c.state()}")
        self.check(f"i. streams over MAX_CONCURRENT_STREAMS ({limit}) are refused, none hangs",
                   refused and not pending and len(accepted) <= limit and c.goaway is None, detail)
        if c.goaway is not None or c.closed or not accepted:
            return
        # Free a slot; the connection must go on serving.
        c.conn.reset_stream(accepted[0], ErrorCodes.CANCEL)
        c.flush()
        c.linger(0.2)
        try:
            hs = c.request("GET", "/healthz")
        except h2.exceptions.H2Error as e:
            self.check("i. after the refusals the connection still serves /healthz", False, str(e))
            return
        c.wait(lambda: c.streams[hs].done, 2.0)
        h = c.streams[hs]
        self.check("i. after the refusals the connection still serves /healthz", h.status == 200,
                   f"{h.outcome()} ({c.state()})")


CHECKS = [
    ("a", "ALPN h2 and SETTINGS_ENABLE_CONNECT_PROTOCOL", "a_alpn_settings"),
    ("b", "12 SSE streams + publishes on one connection", "b_sse_multiplex"),
    ("c", "no connection-specific response headers", "c_no_connection_headers"),
    ("d", "RFC 8441 WebSocket over h2", "d_websocket_rfc8441"),
    ("e", ":protocol on a non-CONNECT request refused", "e_protocol_on_get"),
    ("f", "rapid reset flood", "f_rapid_reset"),
    ("g", "CONTINUATION flood", "g_continuation_flood"),
    ("h", "1 MiB header refused", "h_large_header"),
    ("i", "SETTINGS_MAX_CONCURRENT_STREAMS enforced", "i_max_concurrent_streams"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--tls", action="store_true", help="HTTPS with ALPN h2 (needs --cafile)")
    mode.add_argument("--h2c", action="store_true", help="cleartext HTTP/2 with prior knowledge")
    ap.add_argument("--cafile", help="CA certificate (PEM) that signed the hub's certificate")
    ap.add_argument("--pid", type=int, help="the hub's PID: report (and bound) its RSS during floods")
    ap.add_argument("--max-rss-growth-mib", type=float, default=64.0)
    ap.add_argument("--only", help="comma-separated check letters, e.g. a,d,g")
    ap.add_argument("--check-timeout", type=float, default=10.0, help="hard bound per check (s)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.host not in LOOPBACK:
        ap.error(f"refusing {a.host}: this probe floods its target, loopback only")
    if a.tls and not a.cafile:
        ap.error("--tls needs --cafile")
    only = set(a.only.split(",")) if a.only else None
    p = Probe(a)
    print(f"h2_probe: {'https' if a.tls else 'h2c'}://{a.host}:{a.port}/ run {RUN}", flush=True)
    for key, title, meth in CHECKS:
        if only and key not in only:
            continue
        p.run(key, title, getattr(p, meth))
    return p.r.finish()


if __name__ == "__main__":
    sys.exit(main())
