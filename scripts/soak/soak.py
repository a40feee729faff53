#!/usr/bin/env python3
"""Soak test of `sluice serve`: thousands of subscribers on every transport, random reconnects,
steady publishers, hub restarts, and a checker that accounts for every event.

Run by scripts/soak.sh (which builds the binary, raises the fd limit, picks the port and kills
what is left on exit); by hand:

    python3 scripts/soak/soak.py --bin target/release/sluice --port 18600 --duration 120

One asyncio process (standard library plus `websockets`) runs everything:

- the hub: `sluice serve --addr 127.0.0.1:PORT`, stopped by PID (SIGTERM, graceful) and started
  again on the same port every --restart-every seconds (for a run shorter than two intervals:
  once, in the middle). Each start is a hub *life*; the default store is memory, so every life
  has new epochs.
- publishers: one per topic, --rate events/s in total, one request at a time per topic on a
  fresh connection (`Connection: close`, so a request is never sent on a keep-alive connection
  the hub has just closed). Data `{"p":N,"t":T}`: N the topic's attempt number (1, 2, ... every
  attempt, refused ones too), T the send time (monotonic clock of this process). Each attempt
  ends as `ok` (the answered id), `refused` (connection refused or 503: the hub checks shutdown
  before reading the body, so nothing was appended) or `unknown` (the connection failed after
  the request was sent: it may or may not have been appended).
- subscribers: --subscribers in total, a third each WebSocket, SSE and long-poll, spread over
  --topics topics. Each starts at `earliest` (before the publishers) and drops its connection
  at random (exponential, mean --drop-mean seconds; half abort the TCP connection, half close
  cleanly), then resumes with its cursor: WS `?cursor=<last id>`, SSE `Last-Event-ID: <last
  id: field>` (the URL keeps `?cursor=earliest`, as an EventSource would), long-poll
  `cursor=<last answer's cursor>`.

The checker (class Checker), per subscriber, strictly:

- within an epoch, sequence numbers strictly increase: a sequence number at or below the last
  one is a *duplicate*, or *out of order* if it had been skipped; a jump is *unexplained
  missing* unless a gap notice announced exactly that many (`gap` with another count is a
  violation). Every event's (epoch, seq) must be the id the publisher was answered for that
  payload's N (checked when the answer is in; a refused N that shows up is a violation, an
  unknown one is counted), and N strictly increases.
- gaps are legitimate only when retention dropped events: the epoch's head exceeds
  --retention-events (never at the default rate and restart interval).
- the epoch may change only after a reset notice, and a reset is legitimate only on a
  connection to a later hub life than the cursor's epoch (i.e. right after a restart). Events
  of the old epoch after the subscriber's last one are *lost at restart* (by design of the
  memory store), as are whole lives the subscriber never got an event of.
- at the end, publishing stops and reconnects stop, and every subscriber must reach the head
  of its topic's last epoch within --drain seconds (what it lacks is unexplained missing); then
  per subscriber: delivered + gap events + lost at restart + missing == every event of every
  life since it first connected (a mismatch is a checker/hub inconsistency and a violation).
- per topic: the publisher's answers of one epoch are the dense sequence 1..head (holes only
  where an `unknown` attempt may have been appended), every attempt has an outcome.

Resources: the hub's VmRSS (/proc/PID/status) and CPU every second to rss.csv; per hub life
with at least --rss-min-life seconds of load, a least-squares line over the second half of
the life (the first half is the warm-up): a slope above the limit fails. Measured at this
load (2,000 subscribers, 20 events/s, 8 topics): a life's RSS climbs ~30 MiB while the
connections come in, then ~5 MiB over the next ~90 s (also without reconnects: a step ~20 s
after connecting, apparently the first keepalive Ping/Pong of each WebSocket, then a slower
rise, with reconnects more of it), then grows only by what retention keeps (~0.8 KiB per
event: data, cached JSON and SSE frames, index; at 20 events/s ~1 MiB/min until 1,000
events per topic are retained, i.e. for the whole of a 3-minute life). Hence two limits:
- lives of at least --rss-long-life (150 s; runs of 6 minutes and more): --rss-slope-max,
  2 MiB/min: above retention growth with margin, and what a leak of ~400 B per reconnect,
  ~20 B per long-poll request or ~7 B per delivery costs at this load;
- shorter lives (a 2-minute run restarts at 60 s, so its second halves are ages 30-60 s,
  still inside the settling above, measured at 2.6-2.8 MiB/min): --rss-slope-max-short,
  5 MiB/min, which still catches a leak of ~1 KiB per reconnect or ~50 B per request.
A hub that stops answering /healthz (probed every 2 s) for 3 probes in a row is a violation
too, reported with the CPU use of each of its threads.

The client's own lag is measured: publish -> receive latency of a sample of live deliveries
(events published after the connection was made; replays after a reconnect are not lag), the
event loop's lateness (a 50 ms ticker) and the client's CPU use.

Exit status: 0 when every check passed, 1 on any violation, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import resource
import signal
import sys
import time
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from procfs import rss_kib  # noqa: E402

try:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidHandshake
except ImportError:  # pragma: no cover
    print("soak: the `websockets` package is missing: pip install -r scripts/interop/requirements.txt",
          file=sys.stderr)
    sys.exit(2)

HOST = "127.0.0.1"
TRANSPORTS = ("ws", "sse", "poll")
MAX_VIOLATION_LINES = 40


def now() -> float:
    return time.monotonic()


def parse_id(s: str) -> tuple[str, int]:
    """A cursor `1.<epoch hex>.<seq>` as (epoch, seq); ValueError otherwise."""
    v, e, q = s.split(".")
    if v != "1" or not e or not q.isdigit():
        raise ValueError(f"bad cursor {s!r}")
    return e, int(q)


def pct(values, q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(math.ceil(q / 100.0 * len(s))) - 1))
    return s[i]


def linear_fit(xs, ys) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx
    return b, my - b * mx


class ConnectFailed(Exception):
    """Could not (re)connect: refused, timeout, 503. Retried with backoff."""


class Violations:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines: list[str] = []

    def add(self, kind: str, detail: str) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        # A few examples of every kind rather than many of the first one.
        if n <= 5 and len(self.lines) < MAX_VIOLATION_LINES:
            self.lines.append(f"{kind}: {detail}")

    def total(self) -> int:
        return sum(self.counts.values())


# --------------------------------------------------------------------------------------------
# What the publishers were answered


class TopicLog:
    def __init__(self, name: str) -> None:
        self.name = name
        self.attempts = 0
        # p -> ("inflight",) | ("ok", epoch, seq) | ("refused", why) | ("unknown", why)
        self.outcome: dict[int, tuple] = {}
        self.seqmap: dict[tuple[str, int], int] = {}  # (epoch, seq) -> p
        self.unknown_seen: dict[tuple[str, int], int] = {}  # filled in from subscribers
        self.epoch_life: dict[str, int] = {}
        self.life_epoch: dict[int, str] = {}
        self.head: dict[str, int] = {}  # epoch -> highest seq known
        self.last_ok_seq: dict[str, int] = {}


class Run:
    """Shared state of one soak run."""

    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.v = Violations()
        self.topics = {f"soak-{i}": TopicLog(f"soak-{i}") for i in range(a.topics)}
        self.pending: list[tuple] = []  # deliveries whose publish answer was not in yet
        self.life = 0
        self.hub_up = False
        self.stopping = False
        self.chaos = True
        self.phase = "ramp"
        self.subs: list[Sub] = []
        self.lat: dict[str, array] = {t: array("d") for t in TRANSPORTS}
        self.loop_lag: array = array("d")
        self.pub = {"ok": 0, "refused_conn": 0, "refused_503": 0, "unknown": 0, "late_ticks": 0,
                    "other_status": 0}
        self.unknown_delivered = 0
        self.status_counts: dict[str, int] = {}
        self.lives: list[dict] = []
        self.rss_rows: list[tuple] = []
        self.health_failures: list[tuple[float, int]] = []
        self.gc_pauses: array = array("d")
        self.t0 = now()
        self.load_start = None
        self.load_end = None

    # ---- epochs and lives

    def note_epoch(self, topic: str, epoch: str, life: int, who: str) -> None:
        tl = self.topics[topic]
        got = tl.epoch_life.get(epoch)
        if got is None:
            tl.epoch_life[epoch] = life
            other = tl.life_epoch.get(life)
            if other is not None and other != epoch:
                self.v.add("two epochs in one hub life",
                           f"{topic} life {life}: {other} and {epoch} (seen by {who})")
            else:
                tl.life_epoch[life] = epoch
        elif got != life:
            self.v.add("epoch in two hub lives", f"{topic} epoch {epoch}: lives {got} and {life} ({who})")

    def bump_head(self, tl: TopicLog, epoch: str, seq: int) -> None:
        if seq > tl.head.get(epoch, 0):
            tl.head[epoch] = seq

    # ---- ids

    def verify_id(self, topic: str, epoch: str, seq: int, p: int, who: str) -> None:
        tl = self.topics[topic]
        q = tl.seqmap.get((epoch, seq))
        if q is not None:
            if q != p:
                self.v.add("id does not match the publisher's answer",
                           f"{who}: {topic} 1.{epoch}.{seq} carries p={p}, the publisher got that id for p={q}")
            return
        o = tl.outcome.get(p)
        if o is None or o[0] == "inflight":
            self.pending.append((topic, epoch, seq, p, who))
            return
        if o[0] == "ok":
            self.v.add("id does not match the publisher's answer",
                       f"{who}: {topic} p={p} arrived as 1.{epoch}.{seq}, the publisher got 1.{o[1]}.{o[2]}")
        elif o[0] == "refused":
            self.v.add("a refused publish was delivered", f"{who}: {topic} p={p} ({o[1]}) as 1.{epoch}.{seq}")
        else:  # unknown outcome: it was appended after all
            tl.seqmap[(epoch, seq)] = p
            tl.unknown_seen[(epoch, seq)] = p
            self.bump_head(tl, epoch, seq)
            self.unknown_delivered += 1

    def sweep_pending(self, final: bool = False) -> None:
        todo, self.pending = self.pending, []
        for topic, epoch, seq, p, who in todo:
            tl = self.topics[topic]
            o = tl.outcome.get(p)
            if final and (o is None or o[0] == "inflight") and (epoch, seq) not in tl.seqmap:
                self.v.add("delivered event the publisher never sent",
                           f"{who}: {topic} p={p} as 1.{epoch}.{seq}")
                continue
            self.verify_id(topic, epoch, seq, p, who)

    def count_status(self, what: str) -> None:
        self.status_counts[what] = self.status_counts.get(what, 0) + 1


# --------------------------------------------------------------------------------------------
# HTTP/1.1 bits (just what the hub's answers need)


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            k, _, val = line.partition(":")
            headers[k.strip().lower()] = val.strip()
    return int(parts[1]), headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        for _ in range(100_000):
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return bytes(out)
            out += (await reader.readexactly(size + 2))[:-2]
        raise ValueError("too many chunks")
    n = headers.get("content-length")
    if n is not None:
        return await reader.readexactly(int(n))
    return await reader.read()


def close_writer(w: asyncio.StreamWriter | None, abort: bool = True) -> None:
    if w is None:
        return
    try:
        if abort:
            w.transport.abort()
        else:
            w.close()
    except Exception:
        pass


# --------------------------------------------------------------------------------------------
# The checker of one subscriber's stream


class Checker:
    SKIPPED_CAP = 10_000

    def __init__(self, run: Run, sid: int, transport: str, topic: str) -> None:
        self.run = run
        self.sid = sid
        self.transport = transport
        self.topic = topic
        self.name = f"{transport}#{sid}"
        self.epoch: str | None = None
        self.last = 0
        self.last_p = 0
        self.pending_reset = False
        self.pending_gap = 0
        self.skipped: set[int] = set()
        self.first_epoch: str | None = None
        self.start_life: int | None = None
        self.conn_life = 0
        self.conn_t = 0.0
        self.transitions: list[tuple[str, int, str]] = []
        self.gap_log: list[tuple[str, int]] = []
        # counters
        self.delivered = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.missing = 0
        self.gaps = 0
        self.gap_events = 0
        self.resets = 0
        self.connects = 0
        self.drops_chaos = 0
        self.drops_server = 0
        self.connect_failures = 0
        self.requests = 0
        self.online = False
        self.sample_every = run.a.latency_sample

    # notices

    def on_reset(self) -> None:
        self.resets += 1
        if self.epoch is None:
            self.run.v.add("reset without a cursor", f"{self.name} got a reset before any position")
        self.pending_reset = True

    def on_gap(self, missed: int) -> None:
        if not isinstance(missed, int) or missed < 1:
            self.run.v.add("bad gap notice", f"{self.name}: missed={missed!r}")
            return
        self.pending_gap += missed

    def _enter(self, epoch: str) -> None:
        run = self.run
        run.note_epoch(self.topic, epoch, self.conn_life, self.name)
        if self.epoch == epoch:
            if self.pending_reset:
                run.v.add("reset without a new epoch", f"{self.name}: epoch {epoch} continues after a reset")
                self.pending_reset = False
            return
        if self.epoch is None:
            if self.first_epoch is None:
                self.first_epoch = epoch
        else:
            if not self.pending_reset:
                run.v.add("epoch change without reset",
                          f"{self.name}: {self.epoch}.{self.last} -> {epoch} with no reset notice")
            old_life = run.topics[self.topic].epoch_life.get(self.epoch)
            if old_life is not None and old_life >= self.conn_life:
                run.v.add("reset not after a hub restart",
                          f"{self.name}: epoch {self.epoch} of life {old_life} reset on a connection to life {self.conn_life}")
            self.transitions.append((self.epoch, self.last, epoch))
        self.epoch = epoch
        self.last = 0
        self.last_p = 0
        self.pending_reset = False
        self.skipped.clear()

    def _advance(self, epoch: str, seq: int, is_event: bool) -> bool:
        """Moves to (epoch, seq); False if seq is not new (duplicate or late)."""
        if epoch != self.epoch or self.pending_reset:
            self._enter(epoch)
        if is_event and seq <= self.last or not is_event and seq < self.last:
            if not is_event:
                self.run.v.add("cursor moved backwards", f"{self.name}: {epoch}.{self.last} -> {seq}")
            elif seq in self.skipped:
                self.skipped.discard(seq)
                self.out_of_order += 1
                self.missing -= 1
                self.delivered += 1
                self.run.v.add("out of order", f"{self.name}: {epoch}.{seq} after {self.last}")
            else:
                self.duplicates += 1
                self.run.v.add("duplicate", f"{self.name}: {epoch}.{seq} again (last {self.last})")
            return False
        expected = self.last + (1 if is_event else 0) + self.pending_gap
        if self.pending_gap:
            self.gaps += 1
            self.gap_events += self.pending_gap
            self.gap_log.append((epoch, self.pending_gap))
        if seq > expected:
            n = seq - expected
            self.missing += n
            self.run.v.add("unexplained missing",
                           f"{self.name}: {epoch} jumped {self.last} -> {seq} ({n} missing, gap notice {self.pending_gap})")
            if len(self.skipped) < self.SKIPPED_CAP:
                self.skipped.update(range(expected, min(seq, expected + self.SKIPPED_CAP)))
        elif seq < expected:
            over = expected - seq
            self.gap_events -= over
            self.run.v.add("gap count wrong",
                           f"{self.name}: gap of {self.pending_gap} announced, {epoch} went {self.last} -> {seq}")
        self.pending_gap = 0
        self.last = seq
        return True

    def on_event(self, eid: str, data: str, t_recv: float) -> None:
        try:
            epoch, seq = parse_id(eid)
            d = json.loads(data)
            p = d["p"]
            t_pub = d["t"]
        except (ValueError, KeyError, TypeError) as e:
            self.run.v.add("malformed event", f"{self.name}: id={eid!r} data={data!r}: {e}")
            return
        if not self._advance(epoch, seq, True):
            return
        self.delivered += 1
        if p <= self.last_p:
            self.run.v.add("payload numbers not increasing", f"{self.name}: p={p} after p={self.last_p}")
        self.last_p = p
        self.run.verify_id(self.topic, epoch, seq, p, self.name)
        if p % self.sample_every == 0 and t_pub >= self.conn_t:
            self.run.lat[self.transport].append(t_recv - t_pub)

    def on_position(self, cursor: str) -> None:
        try:
            epoch, seq = parse_id(cursor)
        except ValueError as e:
            self.run.v.add("malformed cursor", f"{self.name}: {e}")
            return
        self._advance(epoch, seq, False)

    def caught_up(self) -> bool:
        tl = self.run.topics[self.topic]
        final = tl.life_epoch.get(self.run.life)
        if final is None:
            return True
        return self.epoch == final and self.last >= tl.head.get(final, 0)


# --------------------------------------------------------------------------------------------
# Subscribers


class Sub(Checker):
    def __init__(self, run: Run, sid: int, transport: str, topic: str) -> None:
        super().__init__(run, sid, transport, topic)
        self.rng = random.Random(run.a.seed * 100_003 + sid)
        self.timer: asyncio.Timeout | None = None
        self.ever_connected = asyncio.Event()

    def drop_deadline(self) -> float | None:
        if not self.run.chaos:
            return None
        m = self.run.a.drop_mean
        return now() + min(max(self.rng.expovariate(1.0 / m), 1.0), 4 * m)

    def mark_conn(self) -> None:
        """The TCP connection is made: which hub life it talks to (lives never overlap: the
        counter moves on only once the old process has exited)."""
        self.conn_life = self.run.life
        self.conn_t = now()

    def connected(self) -> None:
        """The subscription is accepted (101, 200 head, first 200 answer)."""
        self.connects += 1
        self.online = True
        if self.start_life is None:
            self.start_life = self.conn_life
        self.ever_connected.set()

    async def session(self) -> str:
        raise NotImplementedError

    async def run_loop(self) -> None:
        fails = 0
        for _ in range(self.run.a.max_sessions):
            if self.run.stopping:
                return
            try:
                how = await self.session()
                fails = 0
            except ConnectFailed as e:
                how = None
                self.connect_failures += 1
                self.run.count_status(f"{self.transport} connect: {e}")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - every other failure is a finding
                how = None
                self.run.v.add("client error", f"{self.name}: {type(e).__name__}: {e}")
            finally:
                self.online = False
            if how is None:
                fails += 1
                await asyncio.sleep(min(2.0, 0.1 * 2 ** min(fails, 5)) * self.rng.uniform(0.5, 1.0))
                continue
            if how == "chaos":
                self.drops_chaos += 1
                await asyncio.sleep(self.rng.uniform(0.05, 1.0))
            else:
                self.drops_server += 1
                self.run.count_status(f"{self.transport} closed by the hub: {how}")
                await asyncio.sleep(self.rng.uniform(0.05, 0.5))

    async def open_tcp(self):
        try:
            return await asyncio.wait_for(asyncio.open_connection(HOST, self.run.a.port), 5)
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectFailed(type(e).__name__) from None

    def refuse_status(self, status: int, body: bytes) -> None:
        if status == 503:
            raise ConnectFailed("503")
        self.run.v.add("unexpected HTTP status", f"{self.name}: {status} {body[:200]!r}")
        raise ConnectFailed(str(status))


class WsSub(Sub):
    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.cursor = "earliest"

    async def session(self) -> str:
        url = f"ws://{HOST}:{self.run.a.port}/ws/{self.topic}?cursor={self.cursor}"
        try:
            ws = await ws_connect(url, compression=None, proxy=None, ping_interval=None, open_timeout=5,
                                  close_timeout=1, max_size=2 ** 21, max_queue=64,
                                  user_agent_header=None)
        except InvalidStatus as e:
            self.refuse_status(e.response.status_code, e.response.body or b"")
        except (OSError, asyncio.TimeoutError, InvalidHandshake, EOFError) as e:
            raise ConnectFailed(type(e).__name__) from None
        self.mark_conn()
        self.connected()
        try:
            async with asyncio.timeout_at(self.drop_deadline()) as self.timer:
                async for msg in ws:
                    self.on_ws(msg)
            return f"close {ws.close_code}"
        except TimeoutError:
            if self.timer is not None and self.timer.expired():
                if self.rng.random() < 0.5:
                    ws.transport.abort()
                else:
                    try:
                        await asyncio.wait_for(ws.close(), 2)
                    except Exception:
                        pass
                return "chaos"
            raise
        except ConnectionClosed as e:
            return f"close {e.rcvd.code if e.rcvd else 'abnormal'}"
        finally:
            self.timer = None
            ws.transport.abort()

    def on_ws(self, msg) -> None:
        t = now()
        if not isinstance(msg, str):
            self.run.v.add("binary frame", self.name)
            return
        try:
            o = json.loads(msg)
        except ValueError:
            self.run.v.add("malformed frame", f"{self.name}: {msg[:200]!r}")
            return
        if "id" in o:
            if o.get("event") != "message":
                self.run.v.add("unexpected event type", f"{self.name}: {msg[:200]!r}")
            self.on_event(o["id"], o.get("data", ""), t)
            self.cursor = o["id"]
        elif "gap" in o:
            self.on_gap(o["gap"].get("missed") if isinstance(o["gap"], dict) else None)
        elif o.get("reset") is True:
            self.on_reset()
        else:
            self.run.v.add("unknown frame", f"{self.name}: {msg[:200]!r}")


class SseSub(Sub):
    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.last_event_id = ""

    async def session(self) -> str:
        reader, writer = await self.open_tcp()
        self.mark_conn()
        try:
            lei = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id else ""
            req = (f"GET /sse/{self.topic}?cursor=earliest HTTP/1.1\r\nHost: {HOST}:{self.run.a.port}\r\n"
                   f"Accept: text/event-stream\r\n{lei}\r\n")
            writer.write(req.encode())
            try:
                status, headers = await asyncio.wait_for(read_head(reader), 5)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                raise ConnectFailed(type(e).__name__) from None
            if status != 200:
                body = b""
                try:
                    body = await asyncio.wait_for(read_body(reader, headers), 2)
                except Exception:
                    pass
                self.refuse_status(status, body)
            self.connected()
            chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            buf = b""
            try:
                async with asyncio.timeout_at(self.drop_deadline()) as self.timer:
                    while True:
                        if chunked:
                            line = await reader.readline()
                            if not line:
                                return "eof inside the body"
                            size = int(line.split(b";")[0], 16)
                            if size == 0:
                                await reader.readline()
                                return "end of stream"
                            chunk = (await reader.readexactly(size + 2))[:-2]
                        else:
                            chunk = await reader.read(65536)
                            if not chunk:
                                return "end of stream"
                        t = now()
                        buf += chunk
                        while True:
                            i = buf.find(b"\n\n")
                            if i < 0:
                                break
                            block, buf = buf[:i], buf[i + 2:]
                            self.on_block(block.decode(), t)
            except TimeoutError:
                if self.timer is not None and self.timer.expired():
                    close_writer(writer, abort=self.rng.random() < 0.5)
                    writer = None
                    return "chaos"
                raise
            except (OSError, asyncio.IncompleteReadError) as e:
                return type(e).__name__
        finally:
            self.timer = None
            close_writer(writer)

    def on_block(self, block: str, t: float) -> None:
        eid = None
        etype = "message"
        data = []
        for line in block.split("\n"):
            if not line or line[0] == ":":
                continue
            field, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if field == "id":
                eid = value
            elif field == "event":
                etype = value
            elif field == "data":
                data.append(value)
            elif field != "retry":
                self.run.v.add("unknown SSE field", f"{self.name}: {line[:200]!r}")
        if data:
            d = "\n".join(data)
            if etype == "sluice-reset":
                self.on_reset()
            elif etype == "sluice-gap":
                try:
                    self.on_gap(json.loads(d).get("missed"))
                except ValueError:
                    self.run.v.add("bad gap notice", f"{self.name}: {d!r}")
            elif etype == "message":
                if eid is None:
                    self.run.v.add("SSE event without id", f"{self.name}: {block[:200]!r}")
                else:
                    self.on_event(eid, d, t)
            else:
                self.run.v.add("unexpected event type", f"{self.name}: {block[:200]!r}")
        elif eid is not None and eid:
            self.on_position(eid)
        if eid is not None:
            self.last_event_id = eid


class PollSub(Sub):
    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.cursor = "earliest"

    async def session(self) -> str:
        reader, writer = await self.open_tcp()
        self.mark_conn()
        first = True
        try:
            async with asyncio.timeout_at(self.drop_deadline()) as self.timer:
                for _ in range(1_000_000):
                    req = (f"GET /poll/{self.topic}?cursor={self.cursor}&timeout=25&max=100 HTTP/1.1\r\n"
                           f"Host: {HOST}:{self.run.a.port}\r\n\r\n")
                    self.requests += 1
                    if first and self.start_life is None:
                        # Subscribed from here on (a poll for `earliest` parks until an event).
                        self.start_life = self.conn_life
                        self.ever_connected.set()
                    try:
                        writer.write(req.encode())
                        status, headers = await asyncio.wait_for(read_head(reader), 40)
                        body = await asyncio.wait_for(read_body(reader, headers), 10)
                    except (OSError, asyncio.IncompleteReadError) as e:
                        if first:
                            raise ConnectFailed(type(e).__name__) from None
                        return type(e).__name__
                    t = now()
                    if status == 503:
                        self.run.count_status("poll 503")
                        ra = headers.get("retry-after", "1")
                        close = headers.get("connection", "").lower() == "close"
                        if close:
                            return "503 (connection: close)"
                        await asyncio.sleep(min(5.0, float(ra) if ra.isdigit() else 1.0))
                        continue
                    if status != 200:
                        self.run.v.add("unexpected HTTP status", f"{self.name}: {status} {body[:200]!r}")
                        return f"status {status}"
                    if first:
                        first = False
                        self.connected()
                    self.on_answer(body, t)
                    if headers.get("connection", "").lower() == "close":
                        return "connection: close"
                return "request cap"
        except TimeoutError:
            if self.timer is not None and self.timer.expired():
                close_writer(writer, abort=True)
                writer = None
                return "chaos"
            raise
        finally:
            self.timer = None
            close_writer(writer)

    def on_answer(self, body: bytes, t: float) -> None:
        try:
            o = json.loads(body)
            cursor = o["cursor"]
            events = o["events"]
            epoch, _ = parse_id(cursor)
        except (ValueError, KeyError, TypeError) as e:
            self.run.v.add("malformed poll answer", f"{self.name}: {body[:200]!r}: {e}")
            return
        ids = []
        for ev in events:
            try:
                ids.append(parse_id(ev["id"]))
            except (ValueError, KeyError, TypeError):
                self.run.v.add("malformed poll answer", f"{self.name}: event {ev!r}")
                return
        if ids:
            if any(e != epoch for e, _ in ids) or any(b[1] <= a[1] for a, b in zip(ids, ids[1:])) \
                    or events[-1]["id"] != cursor:
                self.run.v.add("poll answer not consistent",
                               f"{self.name}: cursor {cursor}, ids {[ev['id'] for ev in events][:5]}...")
        if o.get("reset"):
            self.on_reset()
        gap = o.get("gap")
        if gap is not None:
            self.on_gap(gap.get("missed") if isinstance(gap, dict) else None)
        for ev in events:
            if ev.get("event") != "message":
                self.run.v.add("unexpected event type", f"{self.name}: {ev!r}")
            self.on_event(ev["id"], ev.get("data", ""), t)
        self.on_position(cursor)
        self.cursor = cursor


# --------------------------------------------------------------------------------------------
# The hub process


class Hub:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.proc: asyncio.subprocess.Process | None = None
        self.drain_task = None
        self.log = None

    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.returncode is None else None

    async def start(self) -> None:
        run, a = self.run, self.run.a
        run.life += 1
        life = {"life": run.life, "t_start": now() - run.t0}
        self.log = open(os.path.join(a.out, f"hub-{run.life}.log"), "wb")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        args = [a.bin, "serve", "--addr", f"{HOST}:{a.port}", "--retention-events", str(a.retention_events),
                "--max-connections", str(max(16384, a.subscribers * 2 + 1000))]
        self.proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                         stderr=self.log, env=env, stdin=asyncio.subprocess.DEVNULL)
        with open(a.pidfile, "w") as f:
            f.write(f"{self.proc.pid}\n")
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 15)
        except asyncio.TimeoutError:
            line = b""
        if not line.startswith(b"sluice hub on "):
            raise RuntimeError(f"the hub did not start (first line {line!r}; see {self.log.name})")
        self.drain_task = asyncio.create_task(self._drain_stdout())
        life["pid"] = self.proc.pid
        life["t_ready"] = now() - run.t0
        run.lives.append(life)
        run.hub_up = True

    async def _drain_stdout(self) -> None:
        while self.proc and self.proc.stdout:
            line = await self.proc.stdout.readline()
            if not line:
                return
            self.log.write(b"[stdout] " + line)

    async def stop(self) -> None:
        run = self.run
        if self.proc is None or self.proc.returncode is not None:
            return
        life = run.lives[-1]
        life["t_stop"] = now() - run.t0
        run.hub_up = False
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            run.v.add("hub did not stop", f"life {run.life}: no exit 10 s after SIGTERM; killed")
            self.proc.kill()
            rc = await self.proc.wait()
        life["t_exit"] = now() - run.t0
        life["exit"] = rc
        if rc != 0:
            run.v.add("hub exit status", f"life {run.life} exited {rc} after SIGTERM (docs: 0)")
        if self.drain_task:
            await asyncio.gather(self.drain_task, return_exceptions=True)
        self.log.close()
        try:
            os.unlink(run.a.pidfile)
        except OSError:
            pass

    def kill_now(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------------------------
# Publishers, samplers, restarts


async def publish_once(run: Run, tl: TopicLog, p: int) -> None:
    a = run.a
    data = f'{{"p":{p},"t":{now():.6f}}}'.encode()
    tl.outcome[p] = ("inflight",)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, a.port), 2)
    except (OSError, asyncio.TimeoutError) as e:
        tl.outcome[p] = ("refused", f"connect: {type(e).__name__}")
        run.pub["refused_conn"] += 1
        return
    life = run.life  # connected: the life of the process that accepted (see Sub.mark_conn)
    try:
        writer.write(f"POST /publish/{tl.name} HTTP/1.1\r\nHost: {HOST}:{a.port}\r\nConnection: close\r\n"
                     f"Content-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        status, headers = await asyncio.wait_for(read_head(reader), 5)
        body = await asyncio.wait_for(read_body(reader, headers), 5)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
        tl.outcome[p] = ("unknown", type(e).__name__)
        run.pub["unknown"] += 1
        return
    finally:
        close_writer(writer)
    if status == 200:
        try:
            eid = json.loads(body)["id"]
            epoch, seq = parse_id(eid)
        except (ValueError, KeyError, TypeError):
            run.v.add("bad publish answer", f"{tl.name} p={p}: {body[:200]!r}")
            tl.outcome[p] = ("unknown", "bad answer")
            run.pub["unknown"] += 1
            return
        tl.outcome[p] = ("ok", epoch, seq)
        prev = tl.seqmap.get((epoch, seq))
        if prev is not None and prev != p:
            run.v.add("publisher got an id twice", f"{tl.name} 1.{epoch}.{seq} for p={prev} and p={p}")
        tl.seqmap[(epoch, seq)] = p
        run.note_epoch(tl.name, epoch, life, f"publisher {tl.name}")
        last = tl.last_ok_seq.get(epoch, 0)
        if seq <= last:
            run.v.add("publisher ids not increasing", f"{tl.name}: 1.{epoch}.{seq} after seq {last}")
        tl.last_ok_seq[epoch] = max(last, seq)
        run.bump_head(tl, epoch, seq)
        run.pub["ok"] += 1
    elif status == 503:
        tl.outcome[p] = ("refused", "503")
        run.pub["refused_503"] += 1
    else:
        run.v.add("unexpected publish status", f"{tl.name} p={p}: {status} {body[:200]!r}")
        tl.outcome[p] = ("unknown", f"status {status}")
        run.pub["other_status"] += 1


async def publisher(run: Run, tl: TopicLog, k: int, until: float) -> None:
    interval = run.a.topics / run.a.rate
    nxt = now() + interval * k / run.a.topics
    cap = int((until - now()) / interval) + 10
    for _ in range(cap):
        if now() >= until or run.stopping:
            return
        delay = nxt - now()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -interval:  # fell behind (hub down, slow loop): no burst, keep the pace
            run.pub["late_ticks"] += 1
            nxt = now()
        nxt += interval
        tl.attempts += 1
        await publish_once(run, tl, tl.attempts)


def read_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


async def rss_sampler(run: Run, hub: Hub, path: str) -> None:
    with open(path, "w") as f:
        f.write("t_s,life,pid,phase,rss_kib,hub_cpu_s,client_cpu_s,connected_subs,published_ok\n")
        start = now()
        for i in range(10 ** 7):
            pid = hub.pid()
            if pid is not None and run.hub_up:
                rss = rss_kib(pid)
                cpu = read_cpu_s(pid)
                if rss is not None:
                    ru = resource.getrusage(resource.RUSAGE_SELF)
                    conn = sum(1 for s in run.subs if s.online)
                    f.write(f"{now() - run.t0:.2f},{run.life},{pid},{run.phase},{rss},{cpu:.2f},"
                            f"{ru.ru_utime + ru.ru_stime:.2f},{conn},{run.pub['ok']}\n")
                    f.flush()
                    run.rss_rows.append((now() - run.t0, run.life, run.phase, rss, cpu))
            await asyncio.sleep(max(0.0, start + (i + 1) * 1.0 - now()))


async def lag_monitor(run: Run) -> None:
    for _ in range(10 ** 8):
        t = now()
        await asyncio.sleep(0.05)
        run.loop_lag.append(now() - t - 0.05)


async def sweeper(run: Run) -> None:
    for _ in range(10 ** 7):
        await asyncio.sleep(1.0)
        run.sweep_pending()


def thread_cpu(pid: int) -> dict[str, float]:
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            out[f"{tid} {name}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return out


async def health_monitor(run: Run, hub: Hub) -> None:
    """GET /healthz every 2 s (3 s timeout) while the hub is up: a hub that stops answering
    for 3 probes in a row is a violation (once per life), with its threads' CPU use."""
    a = run.a
    bad = 0
    reported = set()
    for _ in range(10 ** 7):
        await asyncio.sleep(2.0)
        life = run.life
        if not run.hub_up:
            bad = 0
            continue
        ok = False
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, a.port), 3)
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{a.port}\r\nConnection: close\r\n\r\n".encode())
            status, _ = await asyncio.wait_for(read_head(reader), 3)
            ok = status == 200
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            ok = False
        finally:
            close_writer(writer)
        if not run.hub_up or run.life != life:
            continue  # a restart began meanwhile
        if ok:
            bad = 0
            continue
        bad += 1
        run.health_failures.append((now() - run.t0, life))
        if bad >= 3 and life not in reported:
            reported.add(life)
            pid = hub.pid()
            busy = ""
            if pid:
                c0 = thread_cpu(pid)
                await asyncio.sleep(1.0)
                c1 = thread_cpu(pid)
                busy = ", ".join(f"{k} {100 * (c1[k] - c0.get(k, 0)):.0f}%" for k in sorted(c1))
            run.v.add("hub unresponsive",
                      f"life {life} (pid {pid}): /healthz unanswered for {bad} probes in a row at "
                      f"+{now() - run.t0:.0f}s; thread CPU over 1 s: {busy}")


def restart_times(duration: float, every: float) -> list[float]:
    """Offsets from the start of the load phase: every `every` s, leaving 30 s at the end; a
    run shorter than two intervals restarts once, in the middle; `every` 0: never."""
    if every <= 0:
        return []
    if duration < 2 * every:
        return [duration / 2] if duration >= 20 else []
    out = []
    t = every
    while t <= duration - 30:
        out.append(t)
        t += every
    return out


# --------------------------------------------------------------------------------------------
# Main


async def main_async(a: argparse.Namespace) -> int:
    run = Run(a)
    gc.callbacks.append(gc_timer(run))
    hub = Hub(run)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    bg: list[asyncio.Task] = []
    sub_tasks: list[asyncio.Task] = []
    try:
        await hub.start()
        bg.append(asyncio.create_task(rss_sampler(run, hub, os.path.join(a.out, "rss.csv"))))
        bg.append(asyncio.create_task(lag_monitor(run)))
        bg.append(asyncio.create_task(sweeper(run)))
        bg.append(asyncio.create_task(health_monitor(run, hub)))
        # Subscribers: i % 3 picks the transport, (i // 3) % topics the topic, so every topic
        # has all three.
        kinds = {"ws": WsSub, "sse": SseSub, "poll": PollSub}
        topics = list(run.topics)
        for i in range(a.subscribers):
            tr = TRANSPORTS[i % 3]
            s = kinds[tr](run, i, tr, topics[(i // 3) % len(topics)])
            run.subs.append(s)
        ramp_gap = a.ramp / max(1, a.subscribers)
        for s in run.subs:
            sub_tasks.append(asyncio.create_task(s.run_loop()))
            await asyncio.sleep(ramp_gap)
        try:
            await asyncio.wait_for(asyncio.gather(*(s.ever_connected.wait() for s in run.subs)), 30)
        except asyncio.TimeoutError:
            n = sum(1 for s in run.subs if not s.ever_connected.is_set())
            run.v.add("subscribers did not connect", f"{n} of {a.subscribers} after 30 s")
        ramp_s = now() - run.t0
        # The connections' objects live for the whole run: keep them out of the collector's
        # full passes (a full pass over ~2,000 connections stalls the loop for tens of ms).
        gc.collect()
        gc.freeze()
        # Fewer full passes: the heap is mostly long-lived connection state.
        g0, g1, _ = gc.get_threshold()
        gc.set_threshold(g0 * 10, g1, 100)
        print(f"soak: {a.subscribers} subscribers connected in {ramp_s:.1f} s; load for {a.duration:.0f} s, "
              f"restarts at {', '.join(f'+{t:.0f}s' for t in restart_times(a.duration, a.restart_every)) or 'none'}",
              flush=True)

        # Load phase
        run.phase = "load"
        run.load_start = now()
        until = run.load_start + a.duration
        pubs = [asyncio.create_task(publisher(run, tl, k, until)) for k, tl in enumerate(run.topics.values())]
        for off in restart_times(a.duration, a.restart_every):
            await asyncio.sleep(max(0.0, run.load_start + off - now()))
            t = now()
            await hub.stop()
            await hub.start()
            run.lives[-2]["down_s"] = now() - t
            print(f"soak: hub restarted at +{t - run.load_start:.0f}s (down {now() - t:.2f} s, "
                  f"exit {run.lives[-2].get('exit')})", flush=True)
        await asyncio.gather(*pubs)
        run.load_end = now()

        # Drain: no more publishing, no more reconnects; everyone must reach the head.
        run.phase = "drain"
        run.chaos = False
        for s in run.subs:
            if s.timer is not None and not s.timer.expired():
                try:
                    s.timer.reschedule(None)
                except RuntimeError:  # expiring right now: that drop still happens
                    pass
        run.sweep_pending()
        deadline = now() + a.drain
        while now() < deadline:
            if all(s.caught_up() for s in run.subs):
                break
            await asyncio.sleep(0.2)
        drain_s = now() - run.load_end
        behind = sum(1 for s in run.subs if not s.caught_up())
        run.stopping = True
        for t in sub_tasks:
            t.cancel()
        await asyncio.gather(*sub_tasks, return_exceptions=True)
        await hub.stop()
        run.sweep_pending(final=True)
        for t in bg:
            t.cancel()
        await asyncio.gather(*bg, return_exceptions=True)
        return report(run, drain_s, behind)
    finally:
        for t in sub_tasks + bg:
            t.cancel()
        hub.kill_now()


def hub_log_findings(run: Run) -> None:
    for life in run.lives:
        path = os.path.join(run.a.out, f"hub-{life['life']}.log")
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "panicked" in line or " ERROR " in line:
                run.v.add("hub log", f"life {life['life']}: {line[:300]}")


def account(run: Run) -> dict:
    """Per-subscriber accounting against the topics' logs (see the module doc)."""
    v = run.v
    last_life = run.life
    per: dict[str, dict] = {t: {"subscribers": 0, "delivered": 0, "duplicates": 0, "out_of_order": 0,
                                "missing": 0, "gaps": 0, "gap_events": 0, "resets": 0, "reconnects": 0,
                                "drops_chaos": 0, "drops_server": 0, "connect_failures": 0,
                                "lost_at_restart": 0, "undelivered_at_end": 0, "requests": 0}
                            for t in TRANSPORTS}
    for s in run.subs:
        tl = run.topics[s.topic]
        heads = {L: tl.head.get(tl.life_epoch.get(L, ""), 0) for L in range(1, last_life + 1)}
        lost = 0
        undelivered = 0
        expected = 0
        if s.start_life is None:
            v.add("subscriber never connected", s.name)
        else:
            expected = sum(heads[L] for L in range(s.start_life, last_life + 1))
            path = []  # (epoch, life, last seq reached in it)
            if s.first_epoch is not None:
                eps = [s.first_epoch] + [t[2] for t in s.transitions]
                lasts = [t[1] for t in s.transitions] + [s.last]
                for e, l in zip(eps, lasts):
                    life = tl.epoch_life.get(e)
                    if life is None:
                        v.add("epoch of no hub life", f"{s.name}: {e}")
                        life = 0
                    path.append((e, life, l))
            prev_life = s.start_life - 1
            for i, (e, life, l) in enumerate(path):
                # whole lives passed over before reaching this epoch
                lost += sum(heads[L] for L in range(prev_life + 1, life))
                head = tl.head.get(e, 0)
                if l > head:
                    v.add("position beyond the head", f"{s.name}: {e}.{l} > head {head}")
                if i < len(path) - 1:
                    lost += head - l
                else:
                    undelivered += head - l
                prev_life = life
            undelivered += sum(heads[L] for L in range(prev_life + 1, last_life + 1))
            if undelivered:
                v.add("not delivered by the end", f"{s.name} ({s.topic}): {undelivered} events")
            got = s.delivered + s.gap_events + s.missing + lost + undelivered
            if got != expected:
                v.add("accounting mismatch", f"{s.name}: delivered {s.delivered} + gaps {s.gap_events} + missing "
                      f"{s.missing} + lost {lost} + undelivered {undelivered} = {got}, log holds {expected}")
        for e, n in s.gap_log:
            if tl.head.get(e, 0) <= run.a.retention_events:
                v.add("gap without a retention reason",
                      f"{s.name}: gap of {n} in epoch {e} whose head {tl.head.get(e, 0)} <= retention {run.a.retention_events}")
        r = per[s.transport]
        r["subscribers"] += 1
        for k in ("delivered", "duplicates", "out_of_order", "missing", "gaps", "gap_events", "resets",
                  "drops_chaos", "drops_server", "connect_failures", "requests"):
            r[k] += getattr(s, k)
        r["reconnects"] += max(0, s.connects - 1)
        r["lost_at_restart"] += lost
        r["undelivered_at_end"] += undelivered
        r["missing"] += undelivered
    return per


def check_topics(run: Run) -> dict:
    v = run.v
    out = {"epochs": 0, "events": 0, "holes": 0, "unknown_attempts": 0}
    for tl in run.topics.values():
        for p in range(1, tl.attempts + 1):
            o = tl.outcome.get(p)
            if o is None or o[0] == "inflight":
                v.add("publish without an outcome", f"{tl.name} p={p}")
        unknown = [p for p, o in tl.outcome.items() if o[0] == "unknown"]
        out["unknown_attempts"] += len(unknown)
        unseen_unknown = len(unknown) - len(tl.unknown_seen)
        for life in range(1, run.life + 1):
            if life not in tl.life_epoch:
                v.add("topic had no epoch in a hub life", f"{tl.name} life {life}")
        for e, head in tl.head.items():
            out["epochs"] += 1
            out["events"] += head
            holes = [q for q in range(1, head + 1) if (e, q) not in tl.seqmap]
            out["holes"] += len(holes)
            if holes:
                if len(holes) > unseen_unknown:
                    v.add("hole in the log", f"{tl.name} epoch {e}: seqs {holes[:10]} answered to no publisher")
                unseen_unknown -= len(holes)
            ps = [tl.seqmap[(e, q)] for q in range(1, head + 1) if (e, q) in tl.seqmap]
            if any(b <= a for a, b in zip(ps, ps[1:])):
                v.add("log order differs from publish order", f"{tl.name} epoch {e}")
    return out


def rss_verdict(run: Run) -> list[dict]:
    a = run.a
    res = []
    for life in run.lives:
        L = life["life"]
        rows = [(t, rss) for (t, l, phase, rss, _cpu) in run.rss_rows if l == L and phase in ("ramp", "load")]
        if len(rows) < 4:
            continue
        t_first, t_last = rows[0][0], rows[-1][0]
        span = t_last - t_first
        mid = t_first + span / 2
        second = [(t, r) for t, r in rows if t >= mid]
        slope, _ = linear_fit([t / 60 for t, _ in second], [r / 1024 for _, r in second])
        limit = a.rss_slope_max if span >= a.rss_long_life else a.rss_slope_max_short
        d = {"life": L, "pid": life.get("pid"), "span_s": span, "warmup_kib": second[0][1], "end_kib": rows[-1][1],
             "peak_kib": max(r for _, r in rows), "first_kib": rows[0][1], "slope_mib_min": slope,
             "judged": span >= a.rss_min_life, "limit": limit}
        d["fail"] = d["judged"] and slope > limit
        if d["fail"]:
            run.v.add("RSS grows after warm-up",
                      f"life {L}: {slope:.2f} MiB/min over the second half ({second[0][1]} -> {rows[-1][1]} KiB), "
                      f"limit {limit} MiB/min")
        res.append(d)
    return res


def report(run: Run, drain_s: float, behind: int) -> int:
    a = run.a
    hub_log_findings(run)
    per = account(run)
    topo = check_topics(run)
    rss = rss_verdict(run)
    load_s = (run.load_end - run.load_start) if run.load_end else 0
    lines = []
    p = lines.append
    p("")
    p("==== soak summary")
    p(f"duration {a.duration:.0f} s of load, {a.subscribers} subscribers on {a.topics} topics, "
      f"publish rate {a.rate}/s, drops every ~{a.drop_mean:.0f} s per client, "
      f"hub lives {len(run.lives)} (restarts {len(run.lives) - 1}), retention {a.retention_events} events/topic")
    for life in run.lives[:-1]:
        p(f"  restart after life {life['life']} (pid {life.get('pid')}): SIGTERM at +{life['t_stop']:.1f}s, "
          f"exit {life.get('exit')} after {life['t_exit'] - life['t_stop']:.2f} s, "
          f"hub down {life.get('down_s', float('nan')):.2f} s")
    pb = run.pub
    attempts = sum(tl.attempts for tl in run.topics.values())
    p(f"publishes: {attempts} attempts, {pb['ok']} ok, refused {pb['refused_conn']} (connection) + "
      f"{pb['refused_503']} (503 shutting down), unknown outcome {pb['unknown']} (delivered {run.unknown_delivered}), "
      f"late ticks {pb['late_ticks']}, rate {pb['ok'] / max(load_s, 1e-9):.1f}/s")
    p(f"log: {topo['epochs']} epochs, {topo['events']} events, holes {topo['holes']}")
    hdr = ("transport", "subs", "delivered", "dups", "out-of-order", "missing", "gaps", "gap-ev", "resets",
           "reconnects", "(chaos/hub)", "conn-fail", "lost@restart", "p50 ms", "p99 ms")
    p("  ".join(f"{h:>12}" for h in hdr))
    tot = {k: 0 for k in per["ws"]}
    for tr in TRANSPORTS:
        r = per[tr]
        for k in tot:
            tot[k] += r[k]
        lat = run.lat[tr]
        row = (tr, r["subscribers"], r["delivered"], r["duplicates"], r["out_of_order"], r["missing"], r["gaps"],
               r["gap_events"], r["resets"], r["reconnects"], f"{r['drops_chaos']}/{r['drops_server']}",
               r["connect_failures"], r["lost_at_restart"], f"{pct(lat, 50) * 1000:.1f}", f"{pct(lat, 99) * 1000:.1f}")
        p("  ".join(f"{x:>12}" for x in row))
    all_lat = [x for tr in TRANSPORTS for x in run.lat[tr]]
    row = ("all", tot["subscribers"], tot["delivered"], tot["duplicates"], tot["out_of_order"], tot["missing"],
           tot["gaps"], tot["gap_events"], tot["resets"], tot["reconnects"],
           f"{tot['drops_chaos']}/{tot['drops_server']}", tot["connect_failures"], tot["lost_at_restart"],
           f"{pct(all_lat, 50) * 1000:.1f}", f"{pct(all_lat, 99) * 1000:.1f}")
    p("  ".join(f"{x:>12}" for x in row))
    p(f"long-poll requests {per['poll']['requests']}; drain after the load: {drain_s:.1f} s, "
      f"{behind} subscribers behind at its end")
    p(f"latency publish->receive: {len(all_lat)} live deliveries sampled (1 in {a.latency_sample} events), "
      f"max {max(all_lat, default=float('nan')) * 1000:.1f} ms")
    lag = run.loop_lag
    if pct(lag, 99) > a.max_loop_lag:
        run.v.add("client could not keep up",
                  f"event loop p99 lateness {pct(lag, 99) * 1000:.0f} ms > {a.max_loop_lag * 1000:.0f} ms: the figures "
                  f"measure the client, lower SUBSCRIBERS or RATE")
    p(f"client event loop lateness (50 ms ticker): p50 {pct(lag, 50) * 1000:.1f} ms, p99 {pct(lag, 99) * 1000:.1f} ms, "
      f"max {max(lag, default=float('nan')) * 1000:.1f} ms")
    gp = run.gc_pauses
    p(f"client full GC passes: {len(gp)}, max {max(gp, default=0) * 1000:.1f} ms; hub /healthz probe failures "
      f"while up: {len(run.health_failures)}")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    wall = now() - run.t0
    hub_cpu = 0.0
    rows = run.rss_rows
    for life in run.lives:
        cpus = [c for (_t, l, _ph, _r, c) in rows if l == life["life"] and c is not None]
        if cpus:
            hub_cpu += cpus[-1]
    p(f"CPU over {wall:.0f} s: client {ru.ru_utime + ru.ru_stime:.1f} s ({(ru.ru_utime + ru.ru_stime) / wall * 100:.0f}% "
      f"of a core), hub {hub_cpu:.1f} s ({hub_cpu / wall * 100:.0f}%)")
    if run.status_counts:
        p("connection outcomes: " + ", ".join(f"{k} x{n}" for k, n in sorted(run.status_counts.items())))
    # RSS
    exp_growth = pb["ok"] / max(load_s, 1e-9) * 60 * 1024 / 2 ** 20
    rec_per_min = tot["reconnects"] / max(load_s / 60, 1e-9)
    req_per_min = (tot["reconnects"] + per["poll"]["requests"]) / max(load_s / 60, 1e-9)
    dl_per_min = tot["delivered"] / max(load_s / 60, 1e-9)
    p(f"hub RSS (rss.csv): slope over the second half of each hub life: limit {a.rss_slope_max} MiB/min for lives of "
      f">= {a.rss_long_life:.0f} s, {a.rss_slope_max_short} MiB/min for lives of {a.rss_min_life:.0f}-{a.rss_long_life:.0f} s "
      f"(their second half is still in the warm-up); retention growth expected <= {exp_growth:.2f} MiB/min (1 KiB/event); "
      f"{a.rss_slope_max} MiB/min is {a.rss_slope_max * 2 ** 20 / max(rec_per_min, 1):.0f} B per reconnect, "
      f"{a.rss_slope_max * 2 ** 20 / max(req_per_min, 1):.0f} B per request, "
      f"{a.rss_slope_max * 2 ** 20 / max(dl_per_min, 1):.1f} B per delivery")
    for d in rss:
        p(f"  life {d['life']} (pid {d['pid']}, {d['span_s']:.0f} s): start {d['first_kib'] / 1024:.1f} MiB, "
          f"warm-up {d['warmup_kib'] / 1024:.1f} MiB, end {d['end_kib'] / 1024:.1f} MiB, peak {d['peak_kib'] / 1024:.1f} MiB, "
          f"slope {d['slope_mib_min']:+.2f} MiB/min (limit {d['limit']})"
          + ("" if d["judged"] else " (too short to judge)") + ("  FAIL" if d["fail"] else ""))
    if not any(d["judged"] for d in rss):
        p("  (no hub life long enough to judge RSS growth)")
    # Violations
    n = run.v.total()
    if n:
        p(f"VIOLATIONS: {n}")
        for k, c in sorted(run.v.counts.items(), key=lambda kv: -kv[1]):
            p(f"  {c:>7}  {k}")
        p("first ones:")
        for line in run.v.lines:
            p(f"  {line}")
        p("soak: FAILED")
    else:
        p("soak: passed (no violation)")
    text = "\n".join(lines)
    print(text, flush=True)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"per_transport": per, "publish": pb, "attempts": attempts, "log": topo, "rss": rss,
                   "lives": run.lives, "violations": run.v.counts, "violation_lines": run.v.lines,
                   "latency_ms": {tr: {"n": len(run.lat[tr]), "p50": pct(run.lat[tr], 50) * 1000,
                                       "p99": pct(run.lat[tr], 99) * 1000} for tr in TRANSPORTS}},
                  f, indent=1, default=str)
    return 1 if n else 0


def parse_duration(s: str) -> float:
    s = s.strip().lower()
    for suf, mul in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if s.endswith(suf) and s[:-len(suf)].replace(".", "", 1).isdigit():
            return float(s[:-len(suf)]) * mul
    return float(s)


def gc_timer(run: Run):
    started = {}

    def cb(phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            run.gc_pauses.append(time.perf_counter() - started.pop("t"))
    return cb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the sluice binary")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=parse_duration, required=True, help="load phase: 120, 120s, 30m")
    ap.add_argument("--subscribers", type=int, default=2000)
    ap.add_argument("--topics", type=int, default=8)
    ap.add_argument("--rate", type=float, default=20.0, help="events/s published in total")
    ap.add_argument("--drop-mean", type=float, default=30.0, help="mean seconds between a client's drops")
    ap.add_argument("--restart-every", type=parse_duration, default=180.0)
    ap.add_argument("--retention-events", type=int, default=1000, help="passed to the hub (its default)")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which subscribers connect")
    ap.add_argument("--drain", type=float, default=30.0, help="seconds for subscribers to catch up at the end")
    ap.add_argument("--rss-slope-max", type=float, default=2.0,
                    help="MiB/min, for hub lives of at least --rss-long-life seconds")
    ap.add_argument("--rss-slope-max-short", type=float, default=5.0,
                    help="MiB/min, for shorter lives (a 2-minute run: the second half of a 60 s life is still warming up)")
    ap.add_argument("--rss-long-life", type=float, default=150.0)
    ap.add_argument("--max-loop-lag", type=float, default=0.5,
                    help="seconds: p99 lateness of the client's event loop above this fails (the client is the bottleneck)")
    ap.add_argument("--rss-min-life", type=float, default=40.0,
                    help="seconds of load a hub life needs for an RSS verdict")
    ap.add_argument("--latency-sample", type=int, default=4, help="sample events whose p is a multiple of this")
    ap.add_argument("--max-sessions", type=int, default=100_000, help="cap on connections per subscriber")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="target/soak")
    ap.add_argument("--pidfile", default=None)
    a = ap.parse_args()
    if a.subscribers < 3 or a.topics < 1 or a.rate <= 0 or a.duration <= 0:
        ap.error("need at least 3 subscribers, 1 topic, a positive rate and duration")
    os.makedirs(a.out, exist_ok=True)
    a.pidfile = a.pidfile or os.path.join(a.out, "hub.pid")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.subscribers + 256
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            print(f"soak: fd limit {soft} < {need} needed", file=sys.stderr)
            return 2
    marks = [0.0] + restart_times(a.duration, a.restart_every) + [a.duration]
    per_life = a.rate / a.topics * (max(b - x for x, b in zip(marks, marks[1:])) + a.ramp + a.drain)
    if per_life > a.retention_events:
        print(f"soak: note: ~{per_life:.0f} events per topic per hub life exceed the retention of "
              f"{a.retention_events}: subscribers behind by more get (legitimate) gaps", file=sys.stderr)
    budget = a.duration + a.ramp + a.drain + 60 + 25 * (1 + len(restart_times(a.duration, a.restart_every)))
    try:
        return asyncio.run(asyncio.wait_for(main_async(a), budget))
    except asyncio.TimeoutError:
        print(f"soak: run exceeded its time budget of {budget:.0f} s", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("soak: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
