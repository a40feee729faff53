#!/usr/bin/env node
// HTTP/2 in a real browser: headless Chromium (Debian /usr/bin/chromium, driven by playwright-core)
// against a TLS hub (`sluice serve --tls-cert/--tls-key`) that is already running on loopback.
//
//   node scripts/interop/chromium_h2.mjs https://127.0.0.1:PORT [--no-control]
//
// (scripts/interop/chromium_h2_ci.sh makes the certificate, starts the hub and runs this.)
//   - the hub page (GET /) loads over h2 (PerformanceNavigationTiming.nextHopProtocol);
//   - the page opens 12 concurrent EventSource streams (/sse/c12-1 .. /sse/c12-12): all 12 open,
//     which over HTTP/1.1 cannot happen (6 connections per origin: the 7th stream waits), the hub
//     counts 12 SSE subscribers, and DevTools reports protocol h2 for every stream;
//   - the page POSTs one event per topic (fetch, over h2): every stream gets its own event exactly
//     once, and nothing else;
//   - the page opens a WebSocket (wss:// same origin), an event published by fetch arrives
//     exactly once; whether Chromium carried it over the h2 connection (RFC 8441 extended
//     CONNECT: sluice_http2_websockets_total + 1) or over a new HTTP/1.1 connection is reported,
//     not judged;
//   - control (skip with --no-control): the same 12 streams in a Chromium with --disable-http2
//     open only 6 within 3 s, proving the 12-stream check can tell h2 from HTTP/1.1.
// The page is opened with ?transport=poll so that its own live view uses long-poll (fetch) and
// opens no EventSource or WebSocket of its own that would blur the counts.
// Every wait is bounded; a watchdog ends the run after 75 s. Exit 1 on any failure.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Results } from './lib.mjs';

const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--ignore-certificate-errors'];
const USAGE = 'usage: chromium_h2.mjs https://127.0.0.1:PORT [--no-control]';
const STREAMS = 12;
const WATCHDOG_MS = 75000;

let base = null; let control = true;
for (const a of process.argv.slice(2)) {
  if (a === '--no-control') control = false;
  else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
  else if (!base && !a.startsWith('--')) base = a.replace(/\/+$/, '');
  else { console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2); }
}
if (!base) { console.error(USAGE); process.exit(2); }
{
  const u = new URL(base);
  if (u.protocol !== 'https:' || !['127.0.0.1', 'localhost'].includes(u.hostname) || !u.port) {
    console.error(`refusing ${base}: only https://127.0.0.1:PORT (or localhost) with an explicit port`);
    process.exit(2);
  }
}
const wssBase = base.replace(/^https:/, 'wss:');

const r = new Results('chromium_h2');
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const RUN = Math.random().toString(16).slice(2, 10);
const topics = Array.from({ length: STREAMS }, (_, i) => `c12-${i + 1}`);
const payloadOf = (t) => `${t} payload ${RUN}`;

const browsers = [];
const watchdog = setTimeout(async () => {
  r.check(`whole run within ${WATCHDOG_MS / 1000} s`, false, 'watchdog fired');
  for (const b of browsers) await b.close().catch(() => {});
  process.exit(1);
}, WATCHDOG_MS);

// Launches Chromium with a throwaway profile; returns { context, page, cdp, net, close }.
// net collects DevTools Network events (protocol of every response, WebSocket handshakes).
async function launch(extraFlags = []) {
  const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-h2-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXE, headless: true, args: [...FLAGS, ...extraFlags], timeout: 20000,
  });
  const b = {
    context,
    async close() { await context.close().catch(() => {}); rmSync(profile, { recursive: true, force: true }); },
  };
  browsers.push(b);
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const cdp = await context.newCDPSession(page);
  const net = { responses: [], wsHandshakes: [], wsCreated: [] };
  cdp.on('Network.responseReceived', (e) => net.responses.push({
    type: e.type, url: e.response.url, protocol: e.response.protocol, status: e.response.status,
  }));
  cdp.on('Network.webSocketCreated', (e) => net.wsCreated.push(e.url));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => net.wsHandshakes.push({
    status: e.response.status, statusText: e.response.statusText, headers: e.response.headers,
  }));
  await cdp.send('Network.enable');
  return Object.assign(b, { page, cdp, net, errors });
}

// Waits (bounded) for fn(arg) in the page to be truthy; true/false, never throws.
async function until(page, fn, arg, ms) {
  try { await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 }); return true; } catch { return false; }
}

// /metrics fetched by the page (same origin, over its own connection): { name: value }.
async function metrics(page) {
  const text = await page.evaluate(async () => {
    const res = await fetch('/metrics', { cache: 'no-store' });
    return res.ok ? res.text() : `status ${res.status}`;
  });
  const m = {};
  for (const line of text.split('\n')) {
    const mm = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line.trim());
    if (mm) m[mm[1]] = Number(mm[2]);
  }
  return m;
}
const SSE_SUBS = 'sluice_subscribers{transport="sse"}';
const H2_WS = 'sluice_http2_websockets_total';
const H2_REQ = 'sluice_http2_requests_total';
const CONNS = 'sluice_connections';

// In the page: open one EventSource per topic; window.__c12 tracks opens, errors and messages.
const openStreams = (page, list) => page.evaluate((list) => {
  window.__c12 = list.map((topic) => {
    const s = { topic, opened: false, openedAt: null, errors: 0, msgs: [] };
    const t0 = performance.now();
    s.es = new EventSource(`/sse/${topic}`);
    s.es.onopen = () => { s.opened = true; s.openedAt = Math.round(performance.now() - t0); };
    s.es.onerror = () => { s.errors++; };
    s.es.onmessage = (e) => s.msgs.push({ data: e.data, id: e.lastEventId });
    return s;
  });
}, list);
const streamState = (page) => page.evaluate(() => window.__c12.map(({ topic, opened, openedAt, errors, msgs }) =>
  ({ topic, opened, openedAt, errors, msgs })));
const closeStreams = (page) => page.evaluate(() => { for (const s of window.__c12 || []) s.es.close(); });

let main;
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  main = await launch();
  const { page, net } = main;

  // ------------------------------------------------------------------ the page over h2
  const resp = await page.goto(`${base}/?transport=poll&topic=c12-page`, { waitUntil: 'load', timeout: 15000 });
  r.check('hub page GET / loads over https', resp && resp.status() === 200, `status ${resp && resp.status()}`);
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { proto: n && n.nextHopProtocol, origin: location.origin };
  });
  r.check("page navigation's nextHopProtocol is h2", nav.proto === 'h2', `nextHopProtocol '${nav.proto}', origin ${nav.origin}`);
  const m0 = await metrics(page);
  r.check('/metrics readable from the page', Number.isFinite(m0[H2_WS]) && Number.isFinite(m0[SSE_SUBS]),
    `${H2_WS}=${m0[H2_WS]} ${SSE_SUBS}=${m0[SSE_SUBS]} ${H2_REQ}=${m0[H2_REQ]} ${CONNS}=${m0[CONNS]}`);

  // ------------------------------------------------------------------ 12 concurrent EventSources
  const tOpen = Date.now();
  await openStreams(page, topics);
  const allOpen = await until(page, (n) => window.__c12.filter((s) => s.opened).length === n, STREAMS, 10000);
  let st = await streamState(page);
  const nOpen = st.filter((s) => s.opened).length;
  r.check(`all ${STREAMS} EventSource streams open at once (onopen)`, allOpen,
    `${nOpen}/${STREAMS} open after ${Date.now() - tOpen} ms; onopen at ${st.map((s) => s.openedAt ?? '-').join(',')} ms; errors ${st.reduce((a, s) => a + s.errors, 0)}`
    + (allOpen ? '' : (nOpen === 6 ? ' (6 = the HTTP/1.1 per-origin connection cap: no h2 multiplexing)' : '')));

  // The hub's side: 12 SSE subscribers; how many TCP connections carry them.
  let m1 = await metrics(page);
  for (let i = 0; i < 30 && m1[SSE_SUBS] - m0[SSE_SUBS] < STREAMS; i++) { await sleep(100); m1 = await metrics(page); }
  r.check(`hub counts ${STREAMS} more SSE subscribers`, m1[SSE_SUBS] - m0[SSE_SUBS] === STREAMS,
    `${SSE_SUBS} ${m0[SSE_SUBS]} -> ${m1[SSE_SUBS]}; ${CONNS} ${m0[CONNS]} -> ${m1[CONNS]}; ${H2_REQ} ${m0[H2_REQ]} -> ${m1[H2_REQ]}`);
  const sseResp = net.responses.filter((x) => x.type === 'EventSource');
  const sseProtos = sseResp.map((x) => x.protocol);
  r.check(`DevTools: all ${STREAMS} EventSource responses over h2`,
    sseResp.length === STREAMS && sseProtos.every((p) => p === 'h2') && sseResp.every((x) => x.status === 200),
    `${sseResp.length} responses, protocols ${[...new Set(sseProtos)].join(',') || 'none'}, statuses ${[...new Set(sseResp.map((x) => x.status))].join(',')}`);

  // ------------------------------------------------------------------ one event per topic
  const pubs = await page.evaluate(async (items) => Promise.all(items.map(async ([topic, data]) => {
    try {
      const res = await fetch(`/publish/${topic}`, { method: 'POST', body: data, headers: { 'content-type': 'text/plain' } });
      const body = await res.text();
      let id = null; try { id = JSON.parse(body).id; } catch { /* not JSON */ }
      return { topic, status: res.status, id };
    } catch (e) { return { topic, status: String(e), id: null }; }
  })), topics.map((t) => [t, payloadOf(t)]));
  const pubOk = pubs.every((p) => p.status === 200 && typeof p.id === 'string');
  r.check(`${STREAMS} fetch POST /publish/c12-N from the page: 200 with an id`, pubOk,
    pubOk ? '' : pubs.filter((p) => p.status !== 200 || !p.id).map((p) => `${p.topic}: ${p.status}`).join('; '));
  const tPub = Date.now();
  const gotAll = await until(page, (want) => window.__c12.every((s) => s.msgs.some((m) => m.data === want[s.topic])),
    Object.fromEntries(topics.map((t) => [t, payloadOf(t)])), 10000);
  const deliveredIn = Date.now() - tPub;
  await sleep(500); // a duplicate would arrive right behind the first copy
  st = await streamState(page);
  const counts = st.map((s) => s.msgs.filter((m) => m.data === payloadOf(s.topic)).length);
  const foreign = st.map((s) => s.msgs.filter((m) => m.data !== payloadOf(s.topic)).length);
  const ids = st.map((s, i) => (s.msgs[0] && s.msgs[0].id === pubs[i].id));
  r.check(`every one of the ${STREAMS} streams receives its event exactly once`, gotAll && counts.every((n) => n === 1),
    `counts ${counts.join(',')}${gotAll ? `, all within ${deliveredIn} ms` : ' (timed out after 10 s)'}`);
  r.check('no stream receives another topic\'s event', foreign.every((n) => n === 0), `foreign ${foreign.join(',')}`);
  r.check('each event carries the id returned by its publish (lastEventId)', ids.every(Boolean),
    st.map((s, i) => `${s.topic}:${s.msgs[0] ? s.msgs[0].id : '-'}${ids[i] ? '' : `!=${pubs[i].id}`}`).filter((x) => x.includes('!=') || x.endsWith('-')).join(' ') || '');

  const res = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({ name: e.name, proto: e.nextHopProtocol })));
  const pubRes = res.filter((e) => new URL(e.name).pathname.startsWith('/publish/c12-'));
  const byProto = {};
  for (const e of res) { const k = `${new URL(e.name).pathname.split('/')[1] || '/'}:${e.proto || '?'}`; byProto[k] = (byProto[k] || 0) + 1; }
  r.check(`resource timing: the ${STREAMS} publish fetches went over h2`, pubRes.length === STREAMS && pubRes.every((e) => e.proto === 'h2'),
    `resource entries by path:protocol ${JSON.stringify(byProto)}`);
  await closeStreams(page);
  let m2 = await metrics(page);
  for (let i = 0; i < 30 && m2[SSE_SUBS] !== m0[SSE_SUBS]; i++) { await sleep(100); m2 = await metrics(page); }
  r.check('closing the 12 EventSources (h2 RST_STREAM) frees the hub\'s SSE subscribers', m2[SSE_SUBS] === m0[SSE_SUBS],
    `${SSE_SUBS} ${m1[SSE_SUBS]} -> ${m2[SSE_SUBS]} within 3 s`);

  // ------------------------------------------------------------------ WebSocket (wss, same origin)
  const wsUrl = `${wssBase}/ws/c12-ws`;
  const wsPayload = `c12-ws payload ${RUN}`;
  const mb = await metrics(page);
  await page.evaluate((url) => {
    const w = { open: false, closed: null, msgs: [], error: false };
    w.ws = new WebSocket(url);
    w.ws.onopen = () => { w.open = true; };
    w.ws.onerror = () => { w.error = true; };
    w.ws.onclose = (e) => { w.closed = `${e.code} ${e.reason}`; };
    w.ws.onmessage = (e) => w.msgs.push(e.data);
    window.__ws = w;
  }, wsUrl);
  const wsOpen = await until(page, () => window.__ws.open || window.__ws.closed !== null, null, 10000)
    && await page.evaluate(() => window.__ws.open);
  const wsState = () => page.evaluate(() => ({ open: window.__ws.open, closed: window.__ws.closed, error: window.__ws.error, msgs: window.__ws.msgs }));
  let ws = await wsState();
  r.check(`WebSocket ${wsUrl} opens`, wsOpen, `open ${ws.open}, error ${ws.error}, close ${ws.closed}`);
  const ma = await metrics(page);
  if (wsOpen) {
    const p = await page.evaluate(async (data) => {
      const res = await fetch('/publish/c12-ws', { method: 'POST', body: data, headers: { 'content-type': 'text/plain' } });
      return { status: res.status, body: await res.text() };
    }, wsPayload);
    r.check('fetch POST /publish/c12-ws: 200', p.status === 200, `${p.status} ${p.body.slice(0, 80)}`);
    const got = await until(page, (want) => window.__ws.msgs.some((m) => { try { return JSON.parse(m).data === want; } catch { return false; } }), wsPayload, 10000);
    await sleep(300);
    ws = await wsState();
    const frames = ws.msgs.map((m) => { try { return JSON.parse(m); } catch { return { unparsed: m }; } });
    const mine = frames.filter((f) => f.data === wsPayload);
    r.check('the published event arrives on the WebSocket exactly once, as a JSON {id,event,data} frame',
      got && mine.length === 1 && typeof mine[0].id === 'string' && typeof mine[0].event === 'string',
      `${ws.msgs.length} frame(s): ${ws.msgs.map((m) => m.slice(0, 120)).join(' | ')}`);
    await page.evaluate(() => window.__ws.ws.close(1000));
    await until(page, () => window.__ws.closed !== null, null, 5000);
    ws = await wsState();
    r.check('WebSocket closes cleanly (1000)', (ws.closed || '').startsWith('1000'), `close ${ws.closed}`);
  }
  const dWs = ma[H2_WS] - mb[H2_WS];
  const dConn = ma[CONNS] - mb[CONNS];
  const hs = net.wsHandshakes[net.wsHandshakes.length - 1];
  console.log(`chromium_h2: ${H2_WS} before ${mb[H2_WS]}, after ${ma[H2_WS]} (+${dWs}); ${CONNS} ${mb[CONNS]} -> ${ma[CONNS]};`
    + ` DevTools handshake status ${hs ? `${hs.status} ${hs.statusText}` : 'none'}`);
  const verdict = dWs === 1 ? 'yes' : dWs === 0 ? `no (HTTP/1.1 Upgrade${dConn > 0 ? ` on a new connection: ${CONNS} +${dConn}` : ''})` : `unclear (+${dWs})`;
  console.log(`chromium websocket over h2 (RFC 8441): ${verdict}`);

  r.check('no page errors', main.errors.length === 0, main.errors.join(' | ').slice(0, 300));
  await main.close();

  // ------------------------------------------------------------------ control: HTTP/1.1 only
  if (control) {
    const h1 = await launch(['--disable-http2']);
    await h1.page.goto(`${base}/?transport=poll&topic=c12-page`, { waitUntil: 'load', timeout: 15000 });
    const proto = await h1.page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    await openStreams(h1.page, topics.map((t) => `${t}-h1`));
    await until(h1.page, (n) => window.__c12.filter((s) => s.opened).length === n, STREAMS, 3000);
    const n1 = (await streamState(h1.page)).filter((s) => s.opened).length;
    r.check(`control: with --disable-http2 (page over ${proto}) fewer than ${STREAMS} streams open within 3 s`, n1 < STREAMS,
      `${n1}/${STREAMS} open (the page's own long-poll holds one of the 6 connections), so the ${STREAMS}-stream check does tell h2 from HTTP/1.1`);
    await closeStreams(h1.page).catch(() => {});
    await h1.close();
  }
} catch (e) {
  r.check('run completes', false, String(e && e.stack || e).split('\n').slice(0, 3).join(' '));
} finally {
  for (const b of browsers) await b.close();
  clearTimeout(watchdog);
}
console.log(`chromium_h2: took ${secs()} s`);
process.exit(r.finish());
