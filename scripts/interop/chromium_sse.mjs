#!/usr/bin/env node
// Headless Chromium's own EventSource (Debian /usr/bin/chromium, driven by playwright-core) against
// our SSE server (crates/sluice-tokio/examples/sse_test_server.rs, written with SseWriter).
//
//   node scripts/interop/chromium_sse.mjs [--server PATH]   (default target/release/examples/sse_test_server)
//
// The server is started on 127.0.0.1 with an OS-chosen port and serves the test page itself, so
// every EventSource is same-origin. Checks: unnamed and named events, ids (lastEventId), multi-line
// and unicode data, an id-only block, comments and heartbeats ignored, pre-encoded bytes; the
// server notices the page's close(); reconnection after the server ends the stream, with
// Last-Event-ID, after the `retry` time (800 ms, not the 3 s default); 204 stops reconnection;
// a 200 text/plain answer fails the EventSource without reconnecting.
// Never downloads a browser: CHROMIUM (default /usr/bin/chromium) must exist (scripts/setup.sh).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Results, withTimeout } from './lib.mjs';

const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const r = new Results('chromium_sse');

let serverPath = 'target/release/examples/sse_test_server';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--server') serverPath = argv[++i];
  else { console.error('usage: chromium_sse.mjs [--server PATH]'); process.exit(2); }
}

// Starts the server in its own process group; resolves with its base URL once it prints it.
function startServer(path) {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['--addr', '127.0.0.1:0'], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { stop(); reject(new Error('server did not print its address within 20 s')); }, 20000);
    const stop = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening`)); });
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); child.removeAllListeners('exit'); resolve({ url: m[1], stop }); }
    });
  });
}

// Runs inside the page: returns [{label, ok, detail}].
async function pageChecks() {
  const out = [];
  const check = (label, ok, detail = '') => out.push({ label, ok, detail });
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const stats = async () => (await fetch('/stats', { cache: 'no-store' })).json();
  const j = (x) => JSON.stringify(x);

  // 1. /basic: the event kinds.
  try {
    const got = [];
    const es = new EventSource('/basic');
    const done = new Promise((resolve, reject) => {
      const rec = (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId });
      es.onmessage = rec;
      es.addEventListener('greet', rec);
      es.addEventListener('shared', (e) => { rec(e); resolve(); });
      es.addEventListener('done', rec);
      es.onerror = () => reject(new Error(`error event, readyState ${es.readyState}`));
      setTimeout(() => reject(new Error(`timeout; got ${j(got)}`)), 10000);
    });
    await done;
    // Heartbeats (100 ms) keep arriving and must not fire anything.
    await sleep(350);
    check('basic: open', es.readyState === 1, `readyState ${es.readyState}`);
    const want = [
      { type: 'message', data: 'one', id: '' },
      { type: 'greet', data: 'hello', id: '' },
      { type: 'message', data: 'with id', id: '42' },
      { type: 'message', data: 'line 1\nline 2\nline 3', id: '42' },
      { type: 'message', data: 'h\u00e9llo \u{1F600} \u4e16\u754c', id: '42' },
      { type: 'greet', data: 'after id-only block', id: '43' },
      { type: 'message', data: '  two leading spaces, both kept', id: '43' },
      { type: 'done', data: 'end', id: '43' },
      { type: 'shared', data: 'encoded once', id: '43' },
    ];
    check('basic: events, named events, ids, multi-line, unicode, id-only block; comments/heartbeats ignored',
      j(got) === j(want), j(got) === j(want) ? `${got.length} events` : `got ${j(got)}`);
    es.close();
    let s; const t0 = Date.now();
    do { await sleep(50); s = await stats(); } while (s.basic_closed < 1 && Date.now() - t0 < 5000);
    check('basic: server notices close() (disconnect detection)', s.basic_closed === 1,
      `after ${Date.now() - t0} ms, basic_closed ${s.basic_closed}`);
  } catch (e) {
    check('basic', false, String(e && e.message || e));
  }

  // 2. /reconnect: end of stream -> reconnect with Last-Event-ID after `retry`; 204 stops.
  try {
    const log = [];
    const t = () => performance.now();
    const es = new EventSource('/reconnect');
    const finished = new Promise((resolve, reject) => {
      es.onopen = () => log.push({ k: 'open', at: t() });
      es.onmessage = (e) => log.push({ k: 'message', data: e.data, id: e.lastEventId, at: t() });
      es.onerror = () => {
        log.push({ k: 'error', state: es.readyState, at: t() });
        if (es.readyState === 2) resolve();
      };
      setTimeout(() => reject(new Error(`timeout; log ${j(log)}`)), 15000);
    });
    await finished;
    const msgs = log.filter((x) => x.k === 'message').map((x) => ({ data: x.data, id: x.id }));
    check('reconnect: events across two connections with ids',
      j(msgs) === j([{ data: 'first', id: 'r1' }, { data: 'second, Last-Event-ID r1', id: 'r2' }]), j(msgs));
    const opens = log.filter((x) => x.k === 'open');
    const errors = log.filter((x) => x.k === 'error');
    check('reconnect: two opens, errors CONNECTING, CONNECTING, then CLOSED after 204',
      opens.length === 2 && j(errors.map((x) => x.state)) === j([0, 0, 2]), j(log.map((x) => x.k + (x.state ?? ''))));
    const gap = opens.length === 2 ? opens[1].at - errors[0].at : NaN;
    check('reconnect: retry (800 ms) honoured, not the 3 s default', gap >= 700 && gap < 2500, `${gap.toFixed(0)} ms`);
    await sleep(1500);
    const s = await stats();
    check('reconnect: Last-Event-ID sent (none, r1, r2), no request after 204',
      j(s.reconnect) === j([null, 'r1', 'r2']), j(s.reconnect));
  } catch (e) {
    check('reconnect', false, String(e && e.message || e));
  }

  // 3. /wrongtype: 200 text/plain fails the connection for good.
  try {
    const es = new EventSource('/wrongtype');
    let messages = 0;
    es.onmessage = () => { messages++; };
    const state = await new Promise((resolve, reject) => {
      es.onerror = () => resolve(es.readyState);
      setTimeout(() => reject(new Error('no error event')), 10000);
    });
    await sleep(1500);
    const s = await stats();
    check('wrong content type: fails (CLOSED), no message, no reconnect',
      state === 2 && messages === 0 && s.wrongtype === 1, `readyState ${state}, messages ${messages}, requests ${s.wrongtype}`);
  } catch (e) {
    check('wrongtype', false, String(e && e.message || e));
  }
  return out;
}

let server; let context; let profile;
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  if (!existsSync(serverPath)) throw new Error(`${serverPath} not found: cargo build --release -p sluice-tokio --example sse_test_server`);
  server = await startServer(serverPath);
  profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: EXE, headless: true, args: FLAGS });
  const page = context.pages()[0] || await context.newPage();
  await page.goto(`${server.url}/`);
  console.log(`chromium ${context.browser()?.version() ?? ''} page ${server.url}/`);
  const results = await withTimeout(page.evaluate(pageChecks), 120000, 'page checks');
  for (const { label, ok, detail } of results) r.check(label, ok, detail);
} catch (e) {
  r.check('session', false, e.message);
} finally {
  if (context) await context.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (server) server.stop();
}
process.exit(r.finish());
