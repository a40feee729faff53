// sluice.js: browser client for the Sluice hub (docs/hub.md). An ES module, no build step, no
// dependency; types in sluice.d.ts beside it. Served by the hub at {BASE}sluice.js.
//
//   import { SluiceHub } from './sluice.js';
//   const hub = new SluiceHub({ transport: 'auto' });
//   const sub = hub.subscribe('chat', { cursor: 'earliest', onEvent: (e) => show(e.data) });
//   await hub.publish('chat', 'hello');
//
// One cursor per subscription, whatever the transport and however often it reconnects: the
// hub's cursors are valid on WebSocket, SSE and long-poll alike, and every event reaches
// onEvent exactly once, in order (events at or before the last delivered one are dropped;
// a jump is reported as a gap, never skipped silently).
//
// Transport 'auto': WebSocket first. A WebSocket that does not open (refused, or no open within
// timeouts.wsOpen) while the hub answers over plain HTTP means something in between blocks
// upgrades: fall back to SSE. An SSE response whose body does not start within
// timeouts.sseFirstByte (the hub writes `retry:` at once, so a buffering proxy is in between):
// fall back to long-poll. After timeouts.upgradeRetry on a fallback, the better transports are
// tried again (switching is safe: the cursor moves with the subscription).
//
// Presence and live-only traffic (never in the topic's log, no cursor): every subscription
// names itself with a client id (`client`, default a random one kept across its reconnects);
// with `presence: true` it gets join/leave notices (WebSocket, SSE) and keeps the list of who
// is there (`sub.members`, `onPresence`); every WebSocket/SSE subscription gets the topic's
// ephemeral events (`onEphemeral`), sent with `hub.publish(topic, data, { ephemeral: true })`.
//
// Topics that end (`POST /close/{topic}`, docs/hub.md): after the last event the hub sends the
// end (WebSocket `{"end":true,"id"}`, SSE `event: sluice-end`, long-poll `"end": true`; an SSE
// request resuming at the end gets 204). The subscription then delivers `onEnd({ id })` once,
// takes the status 'ended' and stops for good: no reconnect, no fallback, no upgrade. The end's
// id is its last position (kept under persistKey), so a reload resumes at the end and gets it
// again at once.

const SEQ_RE = /^1\.([0-9a-f]{1,16})\.(0|[1-9][0-9]{0,19})$/;
const CLIENT_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TERMINAL = new Set([400, 401, 403, 404]);
const LABELS = { 400: 'bad request', 401: 'token needed', 403: 'not allowed', 404: 'not found' };

/** An error from the hub (status, code from its JSON body) or from this client (status 0). */
export class SluiceError extends Error {
  constructor(message, status = 0, code = '') {
    super(message);
    this.name = 'SluiceError';
    this.status = status;
    this.code = code;
  }
}

function parseCursor(c) {
  const m = typeof c === 'string' && SEQ_RE.exec(c);
  return m ? { e: m[1], s: BigInt(m[2]) } : null;
}

function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function sessionStore() {
  try { return globalThis.sessionStorage || null; } catch { return null; }
}

// An error answer's text: `HTTP 403 (not allowed): <the hub's message>`.
async function describe(r) {
  let msg = `HTTP ${r.status}${LABELS[r.status] ? ` (${LABELS[r.status]})` : ''}`;
  let code = '';
  try {
    const b = await r.json();
    code = b.error || '';
    if (b.message || b.error) msg += `: ${b.message || b.error}`;
  } catch { /* not JSON */ }
  return new SluiceError(msg, r.status, code);
}

function retryAfterMs(r) {
  const v = Number(r.headers.get('retry-after'));
  return Number.isFinite(v) && v > 0 ? Math.min(v, 3600) * 1000 : 0;
}

// Incremental text/event-stream parser (the WHATWG rules): feed bytes, get one callback per
// block `{ id, event, data }` where id is null when the block had no `id:` field and data is
// null when it had no `data:` field (an `id:`-only block still moves the position).
class SseParser {
  constructor(onBlock) {
    this.onBlock = onBlock;
    this.dec = new TextDecoder();
    this.buf = '';
    this.reset();
  }
  reset() { this.id = null; this.event = ''; this.data = null; }
  push(bytes) {
    this.buf += this.dec.decode(bytes, { stream: true });
    let start = 0;
    for (;;) {
      let i = start;
      while (i < this.buf.length && this.buf[i] !== '\n' && this.buf[i] !== '\r') i++;
      if (i >= this.buf.length) break;
      // A CR at the very end may be the first half of CRLF: wait for the next byte.
      if (this.buf[i] === '\r' && i + 1 >= this.buf.length) break;
      this.line(this.buf.slice(start, i));
      start = i + (this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? 2 : 1);
    }
    this.buf = this.buf.slice(start);
  }
  line(l) {
    if (l === '') {
      if (this.id !== null || this.data !== null) this.onBlock({ id: this.id, event: this.event || 'message', data: this.data });
      this.reset();
      return;
    }
    if (l[0] === ':') return;
    const c = l.indexOf(':');
    const field = c < 0 ? l : l.slice(0, c);
    let value = c < 0 ? '' : l.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') this.data = this.data === null ? value : `${this.data}\n${value}`;
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry:` is ignored: reconnection follows this client's own backoff.
  }
}

/** A connection to a hub: subscriptions and publishes share its base URL, token and options. */
export class SluiceHub {
  constructor(opts = {}) {
    const here = globalThis.location ? globalThis.location.href : 'http://127.0.0.1/';
    const base = new URL(opts.base ?? '.', here);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = ''; base.hash = '';
    this.base = base.href;
    this.token = opts.token ?? null;
    this.transport = opts.transport ?? 'auto';
    this.backoff = { min: 500, max: 15000, factor: 2, maxAttempts: Infinity, ...opts.backoff };
    this.timeouts = { wsOpen: 4000, sseFirstByte: 3000, upgradeRetry: 30000, pollWait: 25, request: 10000, ...opts.timeouts };
    this.storage = opts.storage === undefined ? sessionStore() : opts.storage;
    this.maxQueue = opts.maxQueue ?? 1000;
    this.online = !(globalThis.navigator && navigator.onLine === false);
    this._subs = new Set();
    this._queue = [];
    this._pumping = false;
    this._wake = null; // resolves the publish pump's wait (backoff or offline) early
    this._ephemeral = Promise.resolve(); // ephemeral publishes go one at a time, in order
    this._closed = false;
    this._onOnline = () => {
      this.online = true;
      for (const s of this._subs) s._online();
      this._kick();
    };
    this._onOffline = () => {
      this.online = false;
      for (const s of this._subs) s._offline();
    };
    if (globalThis.addEventListener) {
      addEventListener('online', this._onOnline);
      addEventListener('offline', this._onOffline);
    }
  }

  /** URL of a hub route for a topic, with the token: 'ws', 'sse', 'poll', 'publish' or 'presence'. */
  url(kind, topic, params = {}) {
    const u = new URL(`${kind}/${encodeURIComponent(topic)}`, this.base);
    if (kind === 'ws') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    for (const [k, v] of Object.entries(params)) if (v != null) u.searchParams.set(k, String(v));
    if (this.token) u.searchParams.set('token', this.token);
    return u.href;
  }

  /** Full-jitter backoff: a delay in [0, min(max, min * factor^(attempt-1))]. */
  delay(attempt, b = this.backoff) {
    const cap = Math.min(b.max, b.min * b.factor ** Math.max(0, attempt - 1));
    return Math.round(Math.random() * cap);
  }

  subscribe(topic, opts = {}) {
    if (this._closed) throw new SluiceError('hub closed');
    const s = new Subscription(this, topic, opts);
    this._subs.add(s);
    s._connect();
    return s;
  }

  /** Publishes queued or in flight. */
  get queued() { return this._queue.length; }

  /**
   * POST data to a topic. Resolves with the hub's answer ({id}). Queued while offline or while
   * the hub is unreachable, sent in order; network errors, 408, 429 and 5xx are retried with
   * backoff and the same Idempotency-Key (the hub appends a retried publish once); other 4xx
   * reject. A full queue (maxQueue) rejects at once. With `ephemeral: true`: see
   * _publishEphemeral (live subscribers only, never queued).
   */
  publish(topic, data, opts = {}) {
    if (opts.ephemeral) return this._publishEphemeral(topic, data, opts.event || null);
    if (this._closed) return Promise.reject(new SluiceError('hub closed'));
    if (this._queue.length >= this.maxQueue) {
      return Promise.reject(new SluiceError(`publish queue full (${this.maxQueue} waiting)`, 0, 'queue_full'));
    }
    return new Promise((resolve, reject) => {
      this._queue.push({ topic, data: String(data), event: opts.event || null, key: randomKey(), resolve, reject });
      this._pump();
    });
  }

  /**
   * An ephemeral publish (`POST /publish/{topic}?ephemeral=1`): to the live WebSocket/SSE
   * subscribers of the topic on that hub process, never stored. Resolves with the hub's answer
   * ({ephemeral: true, receivers}). Never queued and never retried: stale live traffic (a typing
   * indicator, a WebRTC offer) is worse than none, and the hub keeps no Idempotency-Key for it,
   * so a retry could deliver it twice. Rejected at once while offline (code 'offline'); a network
   * error or no answer rejects with code 'unreachable', a refusal with the hub's status. Sent
   * one at a time, in call order (so a receiver gets them in that order).
   */
  _publishEphemeral(topic, data, event) {
    if (this._closed) return Promise.reject(new SluiceError('hub closed'));
    if (!this.online) return Promise.reject(new SluiceError('offline: ephemeral events are not queued', 0, 'offline'));
    const send = async () => {
      if (this._closed) throw new SluiceError('hub closed');
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), this.timeouts.request);
      try {
        let r;
        try {
          r = await fetch(this.url('publish', topic, { ephemeral: 1, event }), {
            method: 'POST', body: String(data), cache: 'no-store', signal: ac.signal,
            headers: { 'content-type': 'text/plain; charset=utf-8' },
          });
        } catch {
          throw new SluiceError(`ephemeral publish: ${ac.signal.aborted ? 'no answer in time' : 'hub unreachable'}`, 0, 'unreachable');
        }
        if (r.status !== 200) throw await describe(r);
        return await r.json();
      } finally {
        clearTimeout(t);
      }
    };
    const p = this._ephemeral.then(send);
    this._ephemeral = p.catch(() => {});
    return p;
  }

  /**
   * Who is subscribed to `topic` right now (`GET /presence/{topic}`, subscribe permission):
   * {count, clients: [{client, sub, transport, since}]}, oldest first. Rejects with the hub's
   * refusal (401, 403) or code 'unreachable'.
   */
  async presence(topic) {
    if (this._closed) throw new SluiceError('hub closed');
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), this.timeouts.request);
    try {
      let r;
      try {
        r = await fetch(this.url('presence', topic), { cache: 'no-store', signal: ac.signal });
      } catch {
        throw new SluiceError(`presence: ${ac.signal.aborted ? 'no answer in time' : 'hub unreachable'}`, 0, 'unreachable');
      }
      if (r.status !== 200) throw await describe(r);
      return await r.json();
    } finally {
      clearTimeout(t);
    }
  }

  _kick() { if (this._wake) this._wake(); }

  _sleep(ms) {
    return new Promise((res) => {
      const t = setTimeout(() => { this._wake = null; res(); }, ms);
      this._wake = () => { clearTimeout(t); this._wake = null; res(); };
    });
  }

  async _pump() {
    if (this._pumping) return;
    this._pumping = true;
    let failures = 0;
    try {
      while (this._queue.length && !this._closed) {
        if (!this.online) { await this._sleep(3600e3); continue; }
        const item = this._queue[0];
        const res = await this._post(item);
        if (this._closed) break;
        if (res.ok || res.error) {
          this._queue.shift();
          failures = 0;
          if (res.ok) item.resolve(res.body); else item.reject(res.error);
          continue;
        }
        failures++;
        if (failures > this.backoff.maxAttempts) {
          const err = new SluiceError(`publish failed after ${this.backoff.maxAttempts} retries: ${res.why}`, res.status || 0, 'unreachable');
          for (const q of this._queue.splice(0)) q.reject(err);
          failures = 0;
          break;
        }
        await this._sleep(Math.max(res.after || 0, this.delay(failures)));
      }
    } finally {
      this._pumping = false;
    }
    if (this._closed) for (const q of this._queue.splice(0)) q.reject(new SluiceError('hub closed'));
  }

  // One attempt: {ok, body} | {error} (final) | {why, after} (retry).
  async _post(item) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), this.timeouts.request);
    try {
      const r = await fetch(this.url('publish', item.topic, { event: item.event }), {
        method: 'POST', body: item.data, cache: 'no-store', signal: ac.signal,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'idempotency-key': item.key },
      });
      if (r.status === 200) return { ok: true, body: await r.json() };
      if (r.status === 409) {
        // 409 `ended`: the topic has ended, nothing is appended after its end (final).
        const e = await describe(r);
        if (e.code === 'ended') return { error: e };
        // 409 `conflict`: the first publish with this key has left the store's retention: it
        // was published.
        return { ok: true, body: { id: null } };
      }
      if (r.status === 408 || r.status === 429 || r.status >= 500) {
        return { why: `HTTP ${r.status}`, status: r.status, after: retryAfterMs(r) };
      }
      return { error: await describe(r) };
    } catch {
      return { why: ac.signal.aborted ? 'no answer in time' : 'hub unreachable' };
    } finally {
      clearTimeout(t);
    }
  }

  /** Closes every subscription and rejects queued publishes. */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const s of [...this._subs]) s.close();
    for (const q of this._queue.splice(0)) q.reject(new SluiceError('hub closed'));
    this._kick();
    if (globalThis.removeEventListener) {
      removeEventListener('online', this._onOnline);
      removeEventListener('offline', this._onOffline);
    }
  }
}

const RANK = { ws: 0, sse: 1, poll: 2 };

/** One topic's event stream: created by SluiceHub.subscribe. */
export class Subscription {
  constructor(hub, topic, o) {
    this.hub = hub;
    this.topic = topic;
    this.mode = o.transport || hub.transport;
    if (!['auto', 'ws', 'sse', 'poll'].includes(this.mode)) throw new SluiceError(`unknown transport ${this.mode}`);
    this.transport = this.mode === 'auto' ? 'ws' : this.mode;
    this.backoff = { ...hub.backoff, ...o.backoff };
    this.cb = o;
    // The id this subscription is present under, on every connection it makes (a reconnect is
    // not a new member).
    this.client = o.client ?? randomKey().slice(0, 16);
    if (typeof this.client !== 'string' || !CLIENT_RE.test(this.client)) {
      throw new SluiceError(`client ids are 1-64 of A-Z a-z 0-9 _ -, not ${JSON.stringify(this.client)}`, 0, 'bad_client_id');
    }
    this.presence = !!o.presence;
    this._members = new Map(); // client -> member: who is there (with presence)
    this._reported = null; // the list last given to onPresence, as a string
    this._pres = null; // {gen, log, asked}: notices of this connection until the list is read
    this._presTimer = null;
    this.persistKey = o.persistKey ? `sluice:${o.persistKey}` : null;
    let start = o.cursor ?? 'now';
    if (this.persistKey && hub.storage) {
      try { start = hub.storage.getItem(this.persistKey) || start; } catch { /* storage refused */ }
    }
    this.start = start === 'earliest' || start === 'now' ? start : 'id';
    this.cursor = this.start === 'id' ? start : null; // the last position, sent on every reconnect
    this._pos = parseCursor(this.cursor); // {e, s}: epoch and sequence number of this.cursor
    this._opaque = this.cursor != null && !this._pos;
    this._afterReset = false;
    this._hint = 0; // the hub's last gap notice, used only for cursors that do not parse
    this.status = { state: 'idle' };
    this._gen = 0; // connection generation: callbacks of an older connection are ignored
    this._conn = null;
    this._timer = null;
    this._upgradeTimer = null;
    this._failures = 0;
    this._wsRefused = 0;
    this._done = false;
    this.ended = false; // the topic ended (onEnd was called)
  }

  /** Stops the subscription (status 'closed'). */
  close() {
    if (this._done) return;
    this._stop();
    this._done = true;
    this.hub._subs.delete(this);
    this._status({ state: 'closed' });
  }

  _stop() {
    this._gen++;
    clearTimeout(this._timer);
    clearTimeout(this._upgradeTimer);
    clearTimeout(this._presTimer);
    this._pres = null;
    const c = this._conn;
    this._conn = null;
    if (c) c.close();
  }

  _status(st) {
    this.status = st;
    this._call('onStatus', st);
  }

  _call(name, arg) {
    const f = this.cb[name];
    if (!f) return;
    try { f(arg); } catch (e) { setTimeout(() => { throw e; }); }
  }

  _persist() {
    if (!this.persistKey || !this.hub.storage || this.cursor == null) return;
    try { this.hub.storage.setItem(this.persistKey, this.cursor); } catch { /* full or refused */ }
  }

  // ---- positions: every event, cursor notice and id-only block goes through here ----

  // Moves to `id`; for an event, delivers it unless it is at or before the last position.
  // Returns false for a duplicate.
  _advance(id, ev) {
    const p = parseCursor(id);
    if (!p || this._opaque) {
      // A cursor that does not parse: opaque, no dedupe possible; pass the hub's notices on.
      this._opaque = true;
      if (this._hint) { this._call('onGap', this._hint); this._hint = 0; }
      this.cursor = id;
      if (ev) this._call('onEvent', ev);
      this._persist();
      return true;
    }
    let prev = null; // sequence number this epoch is known up to (null: unknown, take anything)
    if (this._pos && this._pos.e === p.e) prev = this._pos.s;
    else if (this._pos) {
      // Another epoch without a reset notice first: history was lost all the same.
      if (this._pos.s > 0n) this._call('onReset');
      prev = 0n;
    } else if (this._afterReset) prev = 0n;
    if (prev !== null) {
      if (p.s <= prev) return false;
      const missed = p.s - prev - (ev ? 1n : 0n);
      if (missed > 0n) this._call('onGap', Number(missed));
    }
    this._hint = 0;
    this._pos = p;
    this._afterReset = false;
    this.cursor = id;
    if (ev) this._call('onEvent', ev);
    this._persist();
    return true;
  }

  _reset() {
    // Told already (no event of the new epoch yet), or nothing of the old epoch was seen (its
    // head was 0): nothing lost, nothing to tell.
    if (this._afterReset) return;
    if (this._pos ? this._pos.s > 0n : this._opaque) this._call('onReset');
    this._pos = null;
    this._afterReset = true;
  }

  // The topic ended at `id` (the end's cursor; null: at the current position, an SSE 204).
  // Moves the position there (reporting a gap or reset before it as _advance does; the end
  // takes one sequence number), keeps it, tells the page once and stops for good.
  _end(id) {
    if (this._done) return;
    const p = typeof id === 'string' ? parseCursor(id) : null;
    if (p && !this._opaque) {
      let prev = null;
      if (this._pos && this._pos.e === p.e) prev = this._pos.s;
      else if (this._pos) {
        if (this._pos.s > 0n) this._call('onReset');
        prev = 0n;
      } else if (this._afterReset) prev = 0n;
      if (prev !== null && p.s > prev + 1n) this._call('onGap', Number(p.s - prev - 1n));
      if (prev === null || p.s >= prev) { this._pos = p; this.cursor = id; }
      this._afterReset = false;
    } else if (typeof id === 'string' && id) {
      if (this._hint) this._call('onGap', this._hint);
      this._opaque = true;
      this.cursor = id;
    }
    this._hint = 0;
    this._persist();
    this._stop();
    this._done = true;
    this.ended = true;
    this.hub._subs.delete(this);
    this._status({ state: 'ended', id: this.cursor });
    this._call('onEnd', { id: this.cursor });
  }

  _frame(m) {
    if (m === null || typeof m !== 'object') return;
    if (m.end === true) this._end(typeof m.id === 'string' ? m.id : null);
    else if (typeof m.id === 'string' && typeof m.data === 'string') {
      this._advance(m.id, { id: m.id, event: m.event || 'message', data: m.data });
    } else if (m.ephemeral) this._live('ephemeral', m.ephemeral);
    else if (m.join) this._live('join', m.join);
    else if (m.leave) this._live('leave', m.leave);
    else if (m.reset === true) this._reset();
    else if (m.gap && typeof m.gap.missed === 'number') this._hint = m.gap.missed;
    else if (typeof m.cursor === 'string') this._advance(m.cursor, null);
  }

  _params(p) {
    return { ...p, presence: this.presence ? 1 : null, client: this.client };
  }

  _requestCursor() {
    return this.cursor ?? (this.start === 'earliest' ? 'earliest' : null);
  }

  // ---- live traffic: ephemeral events, join/leave notices (no cursor, never stored) ----

  /** Who is there (with presence: true): [{client, sub, transport, since}], oldest first. */
  get members() {
    return [...this._members.values()].sort((a, b) => a.since - b.since || (a.client < b.client ? -1 : 1));
  }

  _live(kind, m) {
    if (m === null || typeof m !== 'object') return;
    if (kind === 'ephemeral') {
      if (typeof m.data === 'string') this._call('onEphemeral', { event: typeof m.event === 'string' ? m.event : 'message', data: m.data });
      return;
    }
    if (typeof m.client !== 'string') return;
    const member = { client: m.client, sub: m.sub ?? null, transport: m.transport, since: Date.now() };
    this._call(kind === 'join' ? 'onJoin' : 'onLeave', member);
    if (!this.presence) return;
    const st = this._pres;
    if (st) st.log.push([kind, member]);
    if (Subscription._apply(this._members, kind, member)) this._presenceChanged();
    // The hub announces a subscriber to itself once it is in the table and listening: the list
    // read from now on misses nobody (notices since are in st.log).
    if (st && kind === 'join' && member.client === this.client) this._readPresence(st.gen);
  }

  static _apply(members, kind, m) {
    if (kind === 'join') {
      if (members.has(m.client)) return false;
      members.set(m.client, m);
      return true;
    }
    return members.delete(m.client);
  }

  _presenceChanged() {
    const list = this.members;
    const sig = JSON.stringify(list.map((m) => [m.client, m.transport]));
    if (sig === this._reported) return;
    this._reported = sig;
    this._call('onPresence', list);
  }

  // A connection opened: read the list once this subscriber is in it (its own join notice; a
  // second connection of the same id gets none, hence the 1 s timer), then keep it with the
  // notices. Long-poll gets no notices: the list is read again every 15 s.
  _presenceOpened(gen) {
    if (!this.presence) return;
    this._pres = { gen, log: [], asked: false };
    clearTimeout(this._presTimer);
    this._presTimer = setTimeout(() => this._readPresence(gen), this.transport === 'poll' ? 0 : 1000);
  }

  async _readPresence(gen) {
    const st = this._pres;
    if (!st || st.gen !== gen || st.asked || gen !== this._gen) return;
    st.asked = true;
    clearTimeout(this._presTimer);
    let list = null;
    try { list = await this.hub.presence(this.topic); } catch { /* keep the list the notices made */ }
    if (gen !== this._gen || this._done) return;
    if (list && Array.isArray(list.clients)) {
      const m = new Map();
      for (const c of list.clients) {
        if (c && typeof c.client === 'string') m.set(c.client, { client: c.client, sub: c.sub ?? null, transport: c.transport, since: c.since });
      }
      // Notices that came since this connection opened are newer than, or as new as, the list.
      for (const [kind, member] of st.log) Subscription._apply(m, kind, member);
      this._members = m;
      this._presenceChanged();
    }
    if (this._pres === st) this._pres = null;
    if (this.transport === 'poll') {
      this._presTimer = setTimeout(() => {
        if (gen !== this._gen) return;
        this._pres = { gen, log: [], asked: false };
        this._readPresence(gen);
      }, 15000);
    }
  }

  // ---- connection lifecycle ----

  _connect() {
    if (this._done) return;
    this._stop();
    if (!this.hub.online) { this._status({ state: 'offline' }); return; }
    const gen = this._gen;
    this._status({ state: 'connecting', transport: this.transport, attempt: this._failures });
    if (this.transport === 'ws') this._ws(gen);
    else if (this.transport === 'sse') this._sse(gen);
    else this._poll(gen);
  }

  _opened(gen) {
    if (gen !== this._gen) return;
    this._failures = 0;
    if (this.transport === 'ws') this._wsRefused = 0;
    this._status({ state: 'open', transport: this.transport });
    if (gen === this._gen) this._presenceOpened(gen);
    if (this.mode === 'auto' && this.transport !== 'ws' && this.hub.timeouts.upgradeRetry > 0) {
      clearTimeout(this._upgradeTimer);
      this._upgradeTimer = setTimeout(() => {
        if (gen !== this._gen) return;
        this._switch('ws', 'retrying the better transport');
      }, this.hub.timeouts.upgradeRetry);
    }
  }

  _switch(to, why) {
    const from = this.transport;
    this.transport = to;
    this._status({ state: 'fallback', from, to, why });
    this._connect();
  }

  _fail(why) {
    this._stop();
    this._done = true;
    this.hub._subs.delete(this);
    this._status({ state: 'failed', why });
  }

  // The connection `gen` ended or could not be made. `probe`: ask the long-poll endpoint
  // (timeout=0, answered at once) whether the hub refuses us (a browser hides the status of a
  // refused WebSocket) or answers over plain HTTP (then something blocks the upgrade).
  async _lost(gen, why, { probe = false, fallback = null } = {}) {
    if (gen !== this._gen || this._done) return;
    this._stop();
    const mine = this._gen;
    if (!this.hub.online) { this._status({ state: 'offline' }); return; }
    if (probe) {
      let r = null;
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), this.hub.timeouts.request);
      this._conn = { close: () => ac.abort() };
      try {
        r = await fetch(this.hub.url('poll', this.topic, { timeout: 0 }), { cache: 'no-store', signal: ac.signal });
      } catch { /* unreachable */ }
      clearTimeout(t);
      if (mine !== this._gen || this._done) return;
      this._conn = null;
      if (r && TERMINAL.has(r.status)) { this._fail((await describe(r)).message); return; }
      if (r && r.status === 200 && fallback) {
        if (this.transport === 'ws' && fallback.retryFirst && ++this._wsRefused < 2) { this._connect(); return; }
        this._switch(fallback.to, why);
        return;
      }
    }
    this._retry(why);
  }

  _retry(why, after = 0) {
    this._failures++;
    const max = this.backoff.maxAttempts;
    if (this._failures > max) { this._fail(`gave up after ${max} attempt${max === 1 ? '' : 's'}: ${why}`); return; }
    const delay = Math.max(after, this.hub.delay(this._failures, this.backoff));
    this._status({ state: 'reconnecting', attempt: this._failures, delay, why, transport: this.transport });
    this._timer = setTimeout(() => this._connect(), delay);
  }

  _offline() {
    if (this._done) return;
    this._stop();
    this._status({ state: 'offline' });
  }

  _online() {
    if (this._done) return;
    if (this.status.state === 'offline' || this.status.state === 'reconnecting') this._connect();
  }

  _ws(gen) {
    const t = this.hub.timeouts;
    const ws = new WebSocket(this.hub.url('ws', this.topic, this._params({ cursor: this._requestCursor() })));
    let opened = false;
    const fallback = this.mode === 'auto' ? { to: 'sse' } : null;
    const timer = setTimeout(() => {
      if (!opened) this._lost(gen, `no WebSocket open within ${t.wsOpen / 1000} s`, { probe: true, fallback });
    }, t.wsOpen);
    ws.onopen = () => { opened = true; clearTimeout(timer); this._opened(gen); };
    ws.onmessage = (e) => {
      if (gen !== this._gen || typeof e.data !== 'string') return;
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      this._frame(m);
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (opened) this._lost(gen, `WebSocket closed (${e.code}${e.reason ? ' ' + e.reason : ''})`);
      else this._lost(gen, 'WebSocket refused', { probe: true, fallback: fallback && { ...fallback, retryFirst: true } });
    };
    this._conn = {
      close: () => {
        clearTimeout(timer);
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try { ws.close(1000); } catch { /* not open yet */ }
      },
    };
  }

  // SSE read with fetch (not EventSource): the first body byte says the stream really flows.
  _sse(gen) {
    const t = this.hub.timeouts;
    const ac = new AbortController();
    let started = false;
    const timer = setTimeout(() => {
      if (started || gen !== this._gen) return;
      const why = `no SSE bytes within ${t.sseFirstByte / 1000} s`;
      if (this.mode === 'auto') { this._stop(); this._switch('poll', why); } else this._lost(gen, why);
    }, t.sseFirstByte);
    this._conn = { close: () => { clearTimeout(timer); ac.abort(); } };
    const parser = new SseParser((b) => {
      if (gen !== this._gen) return;
      if (b.event === 'sluice-ephemeral' || b.event === 'sluice-join' || b.event === 'sluice-leave') {
        // Live items carry no id and never move the position.
        let m = null;
        try { m = JSON.parse(b.data); } catch { /* ignore */ }
        this._live(b.event.slice(7), m);
      } else if (b.event === 'sluice-reset') this._reset();
      else if (b.event === 'sluice-gap') {
        try { this._frame({ gap: JSON.parse(b.data) }); } catch { /* ignore */ }
        if (b.id !== null) this._advance(b.id, null);
      } else if (b.event === 'sluice-end') this._end(b.id);
      else if (b.event === 'sluice-expired') this._lost(gen, 'token expired', { probe: true });
      else if (b.data !== null && b.id !== null) this._advance(b.id, { id: b.id, event: b.event, data: b.data });
      else if (b.id !== null) this._advance(b.id, null);
    });
    (async () => {
      let r;
      try {
        r = await fetch(this.hub.url('sse', this.topic, this._params({ cursor: this._requestCursor() })), {
          cache: 'no-store', signal: ac.signal, headers: { accept: 'text/event-stream' },
        });
      } catch {
        clearTimeout(timer);
        this._lost(gen, 'SSE request failed');
        return;
      }
      if (gen !== this._gen) return;
      if (r.status === 204) {
        // The hub's answer to a request resuming at the end of an ended topic.
        clearTimeout(timer);
        this._end(null);
        return;
      }
      if (r.status !== 200) {
        clearTimeout(timer);
        if (TERMINAL.has(r.status)) { const e = await describe(r); if (gen === this._gen) this._fail(e.message); return; }
        this._stop();
        this._retry(`SSE: HTTP ${r.status}`, r.status === 503 ? retryAfterMs(r) : 0);
        return;
      }
      const reader = r.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (gen !== this._gen) return;
          if (done) break;
          if (!started && value.length) { started = true; clearTimeout(timer); this._opened(gen); }
          parser.push(value);
        }
      } catch { /* cut */ }
      clearTimeout(timer);
      this._lost(gen, 'SSE stream ended');
    })();
  }

  _poll(gen) {
    const t = this.hub.timeouts;
    let ac = null;
    this._conn = { close: () => { if (ac) ac.abort(); } };
    (async () => {
      let wait = 0; // the first request answers at once: it says the hub is there
      let opened = false;
      while (gen === this._gen) {
        ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), t.request + wait * 1000);
        let r;
        let body = null;
        try {
          r = await fetch(this.hub.url('poll', this.topic, { cursor: this._requestCursor(), timeout: wait, client: this.client }), {
            cache: 'no-store', signal: ac.signal,
          });
          if (r.status === 200) body = await r.json();
        } catch {
          clearTimeout(timer);
          this._lost(gen, ac.signal.aborted ? 'long-poll: no answer in time' : 'long-poll request failed');
          return;
        }
        clearTimeout(timer);
        if (gen !== this._gen) return;
        if (TERMINAL.has(r.status)) { const e = await describe(r); if (gen === this._gen) this._fail(e.message); return; }
        if (!body || !Array.isArray(body.events) || typeof body.cursor !== 'string') {
          this._stop();
          this._retry(`long-poll: HTTP ${r.status}`, r.status === 503 ? retryAfterMs(r) : 0);
          return;
        }
        if (!opened) { opened = true; this._opened(gen); }
        if (body.reset) this._reset();
        if (body.gap && typeof body.gap.missed === 'number') this._hint = body.gap.missed;
        for (const ev of body.events) {
          if (gen !== this._gen) return;
          this._advance(ev.id, { id: ev.id, event: ev.event || 'message', data: ev.data });
        }
        if (gen !== this._gen) return;
        // `end`: the end is not in `events`; `cursor` is its id.
        if (body.end === true) { this._end(body.cursor); return; }
        this._advance(body.cursor, null);
        wait = body.more ? 0 : t.pollWait;
      }
    })();
  }
}
