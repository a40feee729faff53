#!/usr/bin/env node
// sluice.js (the hub's browser client, served at /sluice.js) in headless Chromium (Debian
// /usr/bin/chromium, driven by playwright-core) against a real `sluice serve`, through the
// fault proxy (target/release/examples/fault_proxy: a TCP proxy taking fault commands on stdin).
// Everything on loopback, on free ports.
//
//   node scripts/interop/chromium_client.mjs [--bin target/release/sluice]
//        [--proxy target/release/examples/fault_proxy] [--screenshot target/client-screenshot.png]
//        [--only cuts,fallback,...] [--intercept-assets]
//
// The test page is the hub's own /healthz document (same origin as the hub, through the proxy)
// into which the test imports /sluice.js as the hub serves it. Checks:
//   served      /sluice.js and /sluice.d.ts are served (text/javascript) and are the files in the tree
//   cuts        every connection cut after 200-500 ms while 500 events are published (and 100
//               more by the page with hub.publish through the proxy): every event exactly once,
//               in order, the same list as the hub's log; each page publish appended once
//   split       SSE forwarded in 1-byte writes: multi-line and non-ASCII data intact
//   fallback    upgrades refused -> SSE within 4 s; SSE body withheld too -> long-poll; faults
//               cleared -> back on WebSocket; events published throughout exactly once, in order
//   offline     DevTools offline: status offline, publishes queued (the hub has none of them);
//               online while the hub is unreachable: reconnecting, attempt N; reachable: the
//               queue is sent, each publish appended and delivered exactly once
//   live        cursor 'now' on ws, sse, poll: the hub gives a resume point before any event, so
//               an event published while the first connection is down arrives, once
//   reload      persistKey: two page reloads mid-stream resume after the last id, no duplicate
//               and no missing event
//   cors        a page of another origin with `base` = the hub (--allow-origin): ws, sse, poll and
//               hub.publish (its Idempotency-Key header must pass the CORS preflight)
//   presence    presence, join/leave notices and ephemeral events (through the proxy): watchers
//               with presence on ws and sse see their own join first, then every join and leave
//               in order (ws, sse and long-poll members, the poller leaving after its grace);
//               onPresence and hub.presence() list the same clients and transports; an ephemeral
//               publish (the page's and node's) reaches every ws/sse subscriber, not the poller,
//               moves no cursor and is in no replay from earliest; a subscription's client id
//               (given or made up) survives a cut; ephemeral publishes are refused offline
//   restart     the hub restarted (history in memory): one reset notice, then the new events
//   attempts    hub stopped, maxAttempts 3: reconnecting attempts 1, 2, 3 then failed; a queued
//               publish is rejected
//   auth        a hub with --auth-secret: no token -> failed with the 401; with ?token= it works
// --intercept-assets (development only, never in CI) serves sluice.js from the tree instead of
// the hub, for a hub binary built before the last change of sluice.js. Playwright's request
// interception also answers CORS preflights itself, so `cors` proves nothing in that mode.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import readline from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { Results, freePort, startSluice, withTimeout } from './lib.mjs';

const exec = promisify(execFile);
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const ASSETS = join(ROOT, 'crates/sluice-hub/assets');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const ALL = ['served', 'cuts', 'split', 'fallback', 'offline', 'live', 'reload', 'cors', 'presence', 'restart', 'attempts', 'auth'];
const USAGE = `usage: chromium_client.mjs [--bin SLUICE] [--proxy FAULT_PROXY] [--screenshot PATH] [--only ${ALL.join(',')}] [--intercept-assets]`;

const opt = {
  bin: join(ROOT, 'target/release/sluice'), proxy: join(ROOT, 'target/release/examples/fault_proxy'),
  screenshot: join(ROOT, 'target/client-screenshot.png'), only: new Set(ALL), intercept: false,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--bin') opt.bin = resolve(process.argv[++i]);
  else if (a === '--proxy') opt.proxy = resolve(process.argv[++i]);
  else if (a === '--screenshot') opt.screenshot = resolve(process.argv[++i]);
  else if (a === '--only') opt.only = new Set(process.argv[++i].split(','));
  else if (a === '--intercept-assets') opt.intercept = true;
  else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
  else { console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2); }
}
for (const o of opt.only) if (!ALL.includes(o)) { console.error(`unknown test ${o}\n${USAGE}`); process.exit(2); }

const r = new Results('chromium_client');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// `sluice serve` on 127.0.0.1:port; resolves once it listens. stop(): SIGTERM, wait for the exit.
const startHub = (port, extra = []) => startSluice(opt.bin, port, extra);

// The fault proxy in front of 127.0.0.1:upstream. cmd('cut-every 200 500') resolves on its `ok`.
async function startProxy(upstream) {
  const [cmd, args] = opt.proxy.endsWith('.mjs') ? [process.execPath, [opt.proxy]] : [opt.proxy, []];
  const child = spawn(cmd, [...args, '--upstream', `127.0.0.1:${upstream}`, '--listen', '127.0.0.1:0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let exited = null;
  const done = new Promise((res) => child.on('exit', (code, sig) => { exited = code ?? sig; res(); for (const w of waiting.splice(0)) w.rej(new Error(`fault_proxy exited (${exited}): ${err}`)); }));
  let port = null;
  const first = new Promise((res, rej) => waiting.push({ match: (l) => /^listening on /.test(l), res, rej }));
  lines.on('line', (l) => {
    const i = waiting.findIndex((w) => w.match(l));
    if (i >= 0) waiting.splice(i, 1)[0].res(l);
  });
  const l = await withTimeout(first, 10000, 'fault_proxy start');
  port = Number(/:(\d+)\s*$/.exec(l)[1]);
  return {
    port,
    cmd(c) {
      const p = new Promise((res, rej) => waiting.push({ match: (x) => x.trim() === `ok ${c}`, res, rej }));
      child.stdin.write(`${c}\n`);
      return withTimeout(p, 5000, `fault_proxy ${c}`);
    },
    async stop() {
      if (exited !== null) return;
      child.stdin.end();
      await Promise.race([done, sleep(2000)]);
      if (exited === null) { child.kill('SIGKILL'); await done; }
    },
  };
}

let hub; let proxy; let hubUrl; let pageUrl;

// Publish from node straight to the hub (not through the proxy): resolves with the id.
async function publish(topic, data) {
  const res = await fetch(`${hubUrl}/publish/${topic}`, { method: 'POST', body: data });
  if (res.status !== 200) throw new Error(`publish: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

// The hub's log of a topic, oldest first: [[id, data]], read with long-poll from earliest.
async function hubLog(topic) {
  const out = [];
  let cursor = 'earliest';
  for (;;) {
    const res = await fetch(`${hubUrl}/poll/${topic}?cursor=${cursor}&timeout=0&max=1000`);
    const b = await res.json();
    for (const e of b.events) out.push([e.id, e.data]);
    cursor = b.cursor;
    if (!b.more) return out;
  }
}

// Compares what the page delivered with the hub's log: same ids and data, same order.
function compare(got, want) {
  const seen = new Map();
  for (const [id] of got) seen.set(id, (seen.get(id) || 0) + 1);
  const dups = [...seen.values()].filter((n) => n > 1).length;
  const wantIds = new Set(want.map(([id]) => id));
  const missing = want.filter(([id]) => !seen.has(id)).length;
  const extra = got.filter(([id]) => !wantIds.has(id)).length;
  let firstDiff = -1;
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (!got[i] || !want[i] || got[i][0] !== want[i][0] || got[i][1] !== want[i][1]) { firstDiff = i; break; }
  }
  const ok = firstDiff < 0;
  const detail = `${got.length} delivered, ${want.length} in the hub's log, ${dups} duplicated, ${missing} missing, ${extra} unknown`
    + (ok ? '' : `, first difference at #${firstDiff}: ${JSON.stringify(got[firstDiff])} vs ${JSON.stringify(want[firstDiff])}`);
  return { ok, detail };
}

// In the page: import the served sluice.js, subscribe with the given options, record everything
// in window.T (and, with `log`, each event in sessionStorage, which survives a reload).
async function harness(page, topic, { hub: hubOpts = {}, sub = {}, log = null } = {}) {
  return page.evaluate(async ({ topic, hubOpts, sub, log }) => {
    const { SluiceHub } = await import('/sluice.js');
    const T = window.T = { events: [], statuses: [], gaps: [], resets: 0, pubs: [], t0: Date.now() };
    T.hub = new SluiceHub(hubOpts);
    T.sub = T.hub.subscribe(topic, {
      ...sub,
      onEvent: (e) => {
        T.events.push([e.id, e.data]);
        if (log) sessionStorage.setItem(log, `${sessionStorage.getItem(log) || ''}${e.id}\t${e.data}\n`);
      },
      onStatus: (s) => T.statuses.push({ ...s, t: Date.now() - T.t0 }),
      onGap: (n) => T.gaps.push(n),
      onReset: () => { T.resets++; },
    });
    // Page publishes: T.publish(topic, data) records {data, id | error} when settled.
    T.publish = (t, data) => {
      const rec = { data, id: undefined, error: undefined };
      T.pubs.push(rec);
      T.hub.publish(t, data).then((a) => { rec.id = a.id; }, (e) => { rec.error = `${e.code || ''} ${e.message}`; });
    };
    return T.sub.start;
  }, { topic, hubOpts, sub, log });
}

const events = (page) => page.evaluate(() => T.events);
const statuses = (page) => page.evaluate(() => T.statuses);
const lastStatus = (page) => page.evaluate(() => JSON.stringify(T.sub.status)).catch(() => '?');
const fmtStatus = (s) => s.state + (s.transport ? ` ${s.transport}` : '') + (s.attempt ? ` #${s.attempt}` : '')
  + (s.from ? ` ${s.from}->${s.to}` : '') + (s.why ? ` (${s.why})` : '') + ` @${s.t}ms`;

async function waitFor(page, label, fn, arg, ms = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    return true;
  } catch {
    r.check(label, false, `timed out after ${ms} ms; status ${await lastStatus(page)}`);
    return false;
  }
}
const waitOpen = (page, label, transport, ms) => waitFor(page, label,
  (t) => T.sub.status.state === 'open' && (!t || T.sub.transport === t), transport, ms);
const waitCount = (page, label, n, ms = 60000) => waitFor(page, label, (k) => T.events.length >= k, n, ms);

async function newPage(context, errors, url = pageUrl) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/healthz`);
  return page;
}

// Publishes n events `${prefix}-i` from node, one every `every` ms; resolves with their ids.
async function publishMany(topic, prefix, n, every) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    ids.push(await publish(topic, `${prefix}-${i}`));
    if (every) await sleep(every);
  }
  return ids;
}

let context; let profile; const extraHubs = [];
const errors = [];
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  if (!existsSync(opt.bin)) throw new Error(`${opt.bin} not found: cargo build --release -p sluice`);
  if (!existsSync(opt.proxy)) throw new Error(`${opt.proxy} not found: cargo build --release -p sluice --example fault_proxy`);
  const port = await freePort();
  // Pages of http://127.0.0.1:PORT may use the hub as http://localhost:PORT: cross-origin.
  hub = await startHub(port, ['--allow-origin', `http://127.0.0.1:${port}`]);
  hubUrl = `http://127.0.0.1:${port}`;
  proxy = await startProxy(port);
  pageUrl = `http://127.0.0.1:${proxy.port}`;
  console.log(`hub ${hubUrl}, fault proxy ${pageUrl}`);
  profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-client-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: EXE, headless: true, args: FLAGS, viewport: { width: 1280, height: 760 },
  });
  if (opt.intercept) {
    console.log('WARNING: --intercept-assets: sluice.js is served from the tree, not by the hub (development run)');
    await context.route(/\/sluice\.(js|d\.ts)(\?.*)?$/, (rt) => rt.fulfill({
      status: 200, contentType: 'text/javascript', body: readFileSync(join(ASSETS, rt.request().url().includes('.d.ts') ? 'sluice.d.ts' : 'sluice.js')),
    }));
  }
  const run = (name) => opt.only.has(name);

  if (run('served')) {
    for (const [file, type] of [['sluice.js', /^text\/javascript/], ['sluice.d.ts', /./]]) {
      const res = await fetch(`${hubUrl}/${file}`);
      const body = Buffer.from(await res.arrayBuffer());
      const ct = res.headers.get('content-type') || '';
      r.check(`served: GET /${file} is 200 ${file.endsWith('.js') ? 'text/javascript' : ''}`.trim(), res.status === 200 && type.test(ct), `HTTP ${res.status}, content-type ${ct}`);
      r.check(`served: /${file} is the file in the tree (else rebuild the hub)`, body.equals(readFileSync(join(ASSETS, file))),
        `${body.length} bytes served, ${readFileSync(join(ASSETS, file)).length} in the tree`);
    }
  }

  // 1. Cuts every 200-500 ms: every event exactly once, in order (auto = WebSocket, then SSE and
  // long-poll forced).
  for (const mode of ['auto', 'sse', 'poll']) {
    if (!run('cuts')) break;
    const topic = `c.cuts.${mode}`;
    const L = `cuts ${mode}`;
    const page = await newPage(context, errors);
    await harness(page, topic, { sub: { cursor: 'earliest', transport: mode } });
    if (await waitOpen(page, `${L}: subscription opens`, null)) {
      await proxy.cmd('cut-every 200 500');
      // With auto, 100 publishes from the page through the proxy too (hub.publish: retried with
      // one Idempotency-Key when a cut loses the answer), while node publishes 500 directly.
      const fromPage = mode === 'auto' ? 100 : 0;
      await page.evaluate(async ([t, n]) => { for (let i = 0; i < n; i++) { T.publish(t, `page-${i}`); } }, [topic, fromPage]);
      const ids = await publishMany(topic, 'node', 500, 15);
      await waitFor(page, `${L}: page publishes all answered`, () => T.pubs.every((p) => p.id !== undefined || p.error !== undefined), null, 60000);
      await waitCount(page, `${L}: ${500 + fromPage} events delivered`, 500 + fromPage);
      await proxy.cmd('pass');
      await sleep(1000);
      const got = await events(page);
      const want = await hubLog(topic);
      const c = compare(got, want);
      r.check(`${L}: every event exactly once, in the hub's order (the hub's log)`, c.ok, c.detail);
      const nodeData = new Set(want.map(([, d]) => d).filter((d) => d.startsWith('node-')));
      r.check(`${L}: the 500 node publishes are all in the log`, nodeData.size === 500 && ids.length === 500, `${nodeData.size}`);
      if (fromPage) {
        const pageData = want.map(([, d]) => d).filter((d) => d.startsWith('page-'));
        const pubs = await page.evaluate(() => T.pubs);
        r.check(`${L}: 100 page publishes resolved with an id, none rejected`, pubs.every((p) => typeof p.id === 'string'),
          pubs.filter((p) => typeof p.id !== 'string').map((p) => `${p.data}: ${p.error}`).slice(0, 5).join('; '));
        r.check(`${L}: each page publish appended exactly once, in publish order (Idempotency-Key)`,
          JSON.stringify(pageData) === JSON.stringify(Array.from({ length: 100 }, (_, i) => `page-${i}`)), `${pageData.length} in the log`);
      }
      const st = await statuses(page);
      const opens = st.filter((s) => s.state === 'open');
      const tr = [...new Set(opens.map((s) => s.transport))];
      const info = `${opens.length} opens over ${tr.join(', ')}; ${st.filter((s) => s.state === 'reconnecting').length} reconnect waits`;
      // (Long-poll requests are short while events flow: a cut mostly hits an idle keep-alive
      // connection, which the browser replaces without an error, so no count is asserted.)
      if (mode === 'poll') console.log(`info: ${L}: ${info}`);
      else r.check(`${L}: the connection was cut and resumed many times`, opens.length >= 10, info);
      const gr = await page.evaluate(() => [T.gaps, T.resets]);
      r.check(`${L}: no gap or reset reported`, gr[0].length === 0 && gr[1] === 0, JSON.stringify(gr));
    }
    await proxy.cmd('pass');
    await page.close();
  }

  // 1b. SSE through 1-byte writes: the parser reassembles lines, CRLF-free multi-line and UTF-8.
  if (run('split')) {
    const topic = 'c.split';
    const page = await newPage(context, errors);
    await proxy.cmd('split on');
    await harness(page, topic, { sub: { cursor: 'earliest', transport: 'sse' } });
    if (await waitOpen(page, 'split: SSE opens through 1-byte writes', 'sse')) {
      const data = ['one line', 'two\nlines', 'três línguas · 日本語 · 🚰', 'trailing newline\n', '\nleading', 'a:b: c', ' space first', ''];
      for (const d of data) await publish(topic, d);
      await waitCount(page, 'split: all delivered', data.length, 20000);
      const got = (await events(page)).map(([, d]) => d);
      r.check('split: data intact and in order', JSON.stringify(got) === JSON.stringify(data), JSON.stringify(got));
    }
    await proxy.cmd('pass');
    await page.close();
  }

  // 2. Upgrades refused -> SSE; SSE withheld -> long-poll; faults cleared -> WebSocket again.
  if (run('fallback')) {
    const topic = 'c.fallback';
    const page = await newPage(context, errors);
    await proxy.cmd('refuse-upgrade on');
    let publishing = true;
    let n = 0;
    const publisher = (async () => { while (publishing) { await publish(topic, `fb-${n++}`); await sleep(40); } })();
    await harness(page, topic, { sub: { cursor: 'earliest' }, hub: { timeouts: { upgradeRetry: 8000 } } });
    if (await waitOpen(page, 'fallback: open over SSE with upgrades refused', 'sse', 10000)) {
      const st = await statuses(page);
      const open = st.find((s) => s.state === 'open');
      r.check('fallback: upgrades refused -> SSE within 4 s of subscribing', open.t <= 4000, st.map(fmtStatus).join(' | '));
      await sleep(1500);
      await proxy.cmd('withhold-sse on');
      const cutAt = await page.evaluate(() => Date.now() - T.t0);
      await proxy.cmd('cut');
      if (await waitOpen(page, 'fallback: open over long-poll with SSE withheld', 'poll', 15000)) {
        const st2 = await statuses(page);
        const o2 = st2.filter((s) => s.state === 'open' && s.transport === 'poll')[0];
        r.check('fallback: SSE withheld -> long-poll within 5 s of the cut', o2.t - cutAt <= 5000, st2.filter((s) => s.t >= cutAt).map(fmtStatus).join(' | '));
        await sleep(1500);
        await proxy.cmd('pass');
        const passAt = await page.evaluate(() => Date.now() - T.t0);
        if (await waitOpen(page, 'fallback: back on WebSocket after the faults are cleared', 'ws', 20000)) {
          const st3 = await statuses(page);
          const o3 = st3.filter((s) => s.t >= passAt && s.state === 'open' && s.transport === 'ws')[0];
          r.check('fallback: back on WebSocket by the upgrade retry (8 s here)', o3 && o3.t - passAt <= 12000, st3.filter((s) => s.t >= passAt).map(fmtStatus).join(' | '));
        }
      }
    }
    await sleep(1000);
    publishing = false;
    await publisher;
    await waitCount(page, 'fallback: every event delivered', n, 40000);
    const c = compare(await events(page), await hubLog(topic));
    r.check(`fallback: every event exactly once, in order, across ws -> sse -> poll -> ws (${n} events)`, c.ok, c.detail);
    const sw = (await statuses(page)).filter((s) => s.state === 'fallback').map((s) => `${s.from}->${s.to}`);
    r.check('fallback: switch notices ws->sse, sse->poll, poll->ws', JSON.stringify(sw.slice(0, 3)) === JSON.stringify(['ws->sse', 'sse->poll', 'poll->ws']), sw.join(', '));
    await page.close();
  }

  // 3. DevTools offline -> online: publishes queued offline are sent once, delivered once.
  if (run('offline')) {
    const topic = 'c.offline';
    const page = await newPage(context, errors);
    await harness(page, topic, { sub: { cursor: 'earliest' }, hub: { backoff: { min: 300, max: 2000 } } });
    if (await waitOpen(page, 'offline: subscription opens', null)) {
      await publish(topic, 'before');
      await waitCount(page, 'offline: first event', 1);
      await context.setOffline(true);
      await waitFor(page, 'offline: status offline', () => T.sub.status.state === 'offline', null, 5000);
      await page.evaluate((t) => { for (let i = 0; i < 20; i++) T.publish(t, `offline-${i}`); }, topic);
      await sleep(1500);
      const queued = await page.evaluate(() => T.hub.queued);
      r.check('offline: 20 publishes queued while offline', queued === 20, `queued ${queued}`);
      const during = (await hubLog(topic)).filter(([, d]) => d.startsWith('offline-')).length;
      r.check('offline: none reached the hub while offline', during === 0, `${during}`);
      // Back online, but the hub is unreachable (the proxy refuses): reconnecting, attempt N.
      await proxy.cmd('offline on');
      const onlineAt = await page.evaluate(() => Date.now() - T.t0);
      await context.setOffline(false);
      const attempts = await waitFor(page, 'offline: reconnecting attempt 2 after coming online with the hub unreachable',
        () => T.statuses.some((s) => s.state === 'reconnecting' && s.attempt >= 2), null, 20000);
      if (attempts) {
        const st = (await statuses(page)).filter((s) => s.t >= onlineAt - 5000 || s.state === 'offline');
        r.check('offline: status went offline, then reconnecting with attempt N', st.some((s) => s.state === 'offline')
          && st.some((s) => s.state === 'reconnecting' && s.attempt === 1), st.map(fmtStatus).join(' | '));
      }
      await proxy.cmd('offline off');
      await waitFor(page, 'offline: queued publishes all answered', () => T.pubs.every((p) => p.id !== undefined || p.error !== undefined), null, 30000);
      await waitCount(page, 'offline: queued publishes delivered', 21, 30000);
      await sleep(500);
      const pubs = await page.evaluate(() => T.pubs);
      r.check('offline: every queued publish resolved with an id', pubs.every((p) => typeof p.id === 'string'), pubs.map((p) => p.error).filter(Boolean).join('; '));
      const want = Array.from({ length: 20 }, (_, i) => `offline-${i}`);
      const logData = (await hubLog(topic)).map(([, d]) => d).filter((d) => d.startsWith('offline-'));
      r.check('offline: each appended exactly once, in order (long-poll read from earliest)', JSON.stringify(logData) === JSON.stringify(want), logData.join(','));
      const c = compare(await events(page), await hubLog(topic));
      r.check('offline: each delivered exactly once to the subscriber, in order', c.ok, c.detail);
    }
    await context.setOffline(false);
    await proxy.cmd('pass');
    await page.close();
  }

  // 4. Live start: the first connection's resume point covers an event published while it is down.
  if (run('live')) {
    for (const t of ['ws', 'sse', 'poll']) {
      const topic = `c.live.${t}`;
      await publish(topic, 'old');
      const page = await newPage(context, errors);
      await harness(page, topic, { sub: { cursor: 'now', transport: t }, hub: { backoff: { min: 200, max: 1000 } } });
      if (await waitOpen(page, `live ${t}: opens`, t)) {
        const pos = await waitFor(page, `live ${t}: a resume point before any event ({"cursor"} frame / SSE id: / poll cursor)`,
          () => T.sub.cursor !== null, null, 3000);
        if (pos) r.check(`live ${t}: a resume point before any event`, true, await page.evaluate(() => T.sub.cursor));
        await proxy.cmd('offline on');
        await waitFor(page, `live ${t}: notices the cut`, () => T.sub.status.state !== 'open', null, 30000);
        await publish(topic, 'while down');
        await proxy.cmd('offline off');
        await publish(topic, 'after');
        await waitFor(page, `live ${t}: later event delivered`, () => T.events.some(([, d]) => d === 'after'), null, 15000);
        const got = (await events(page)).map(([, d]) => d);
        r.check(`live ${t}: the event published while the first connection was down arrives, once`,
          JSON.stringify(got) === JSON.stringify(['while down', 'after']), JSON.stringify(got));
      }
      await proxy.cmd('pass');
      await page.close();
    }
  }

  // 5. Page reload mid-stream with persistKey: resume after the last id.
  if (run('reload')) {
    const topic = 'c.reload';
    const page = await newPage(context, errors);
    const opts = { sub: { cursor: 'earliest', persistKey: 'reload-test' }, log: 'reload-log' };
    await page.evaluate(() => sessionStorage.clear());
    const starts = [await harness(page, topic, opts)];
    await waitOpen(page, 'reload: opens', null);
    const pub = publishMany(topic, 'rl', 300, 10);
    const before = [];
    for (const at of [1000, 1500]) {
      await sleep(at);
      before.push((await page.evaluate(() => T.events.length)));
      await page.reload();
      starts.push(await harness(page, topic, opts));
    }
    await pub;
    await waitFor(page, 'reload: all delivered after the reloads', () => (sessionStorage.getItem('reload-log') || '').split('\n').length > 300, null, 30000);
    await sleep(500);
    const log = await page.evaluate(() => sessionStorage.getItem('reload-log').split('\n').filter(Boolean).map((l) => l.split('\t')));
    r.check('reload: the page reloaded mid-stream twice, after events had arrived', before.every((n) => n > 0 && n < 300), `events before each reload: ${before.join(', ')}`);
    r.check('reload: the second and third documents started from the stored cursor', JSON.stringify(starts) === JSON.stringify(['earliest', 'id', 'id']), starts.join(', '));
    const c = compare(log, await hubLog(topic));
    r.check('reload: every event exactly once across the reloads, in order', c.ok, c.detail);
    await page.close();
  }

  // 4b. Cross-origin: a page of another origin (allowed with --allow-origin) with `base` set to
  // the hub: subscriptions on every transport (CORS, the WebSocket Origin check) and publishes
  // (CORS preflight: the Idempotency-Key header must be allowed).
  if (run('cors')) {
    const page = await newPage(context, errors, hubUrl);
    const base = `http://localhost:${hub.port}/`;
    await harness(page, 'c.cors', { sub: { cursor: 'earliest', transport: 'ws' }, hub: { base } });
    const ok = await waitOpen(page, 'cors: WebSocket opens cross-origin', 'ws');
    const more = await page.evaluate(() => {
      window.X = {};
      for (const t of ['sse', 'poll']) {
        X[t] = [];
        T.hub.subscribe('c.cors', { cursor: 'earliest', transport: t, onEvent: (e) => X[t].push(e.data) });
      }
      T.publish('c.cors', 'cross-origin publish');
      return T.hub.base;
    });
    await waitFor(page, 'cors: the publish settles', () => T.pubs[0].id !== undefined || T.pubs[0].error !== undefined, null, 15000);
    const pub = await page.evaluate(() => T.pubs[0]);
    r.check('cors: hub.publish cross-origin (preflight with Idempotency-Key)', typeof pub.id === 'string', `${more}: ${pub.error || pub.id}`);
    if (typeof pub.id !== 'string') await publish('c.cors', 'cross-origin publish');
    if (ok) {
      await waitFor(page, 'cors: delivered on ws, sse and poll', () => T.events.length && X.sse.length && X.poll.length, null, 15000);
      const got = await page.evaluate(() => [T.events.map(([, d]) => d), X.sse, X.poll]);
      r.check('cors: ws, sse and poll subscriptions cross-origin each deliver it once', got.every((l) => JSON.stringify(l) === '["cross-origin publish"]'), JSON.stringify(got));
    }
    await page.evaluate(() => T.hub.close());
    await page.close();
  }

  // 4c. Presence and live-only traffic.
  if (run('presence')) {
    const topic = 'c.presence';
    const page = await newPage(context, errors);
    await page.evaluate(async (topic) => {
      const { SluiceHub } = await import('/sluice.js');
      const P = window.P = { hub: new SluiceHub({ backoff: { min: 100, max: 500 } }), subs: {}, log: {}, eph: {}, lists: {}, events: {}, opens: {} };
      P.open = (name, transport, extra = {}) => {
        for (const k of ['log', 'eph', 'events']) P[k][name] = [];
        P.opens[name] = 0;
        P.subs[name] = P.hub.subscribe(topic, {
          transport, client: name, cursor: 'earliest', ...extra,
          onJoin: (m) => P.log[name].push(`join ${m.client} ${m.transport}`),
          onLeave: (m) => P.log[name].push(`leave ${m.client} ${m.transport}`),
          onEphemeral: (e) => P.eph[name].push(`${e.event}:${e.data}`),
          onPresence: (l) => { P.lists[name] = l.map((m) => `${m.client} ${m.transport}`).sort(); },
          onEvent: (e) => P.events[name].push(e.data),
          onStatus: (st) => { if (st.state === 'open') P.opens[name]++; },
        });
        return P.subs[name].client;
      };
    }, topic);
    const open = (name, transport, extra) => page.evaluate(([n, t, x]) => P.open(n, t, x), [name, transport, extra]);
    const logOf = (name) => page.evaluate((n) => P.log[n], name);
    const sees = (who, line, ms = 10000) => waitFor(page, `presence: ${who} sees "${line}"`, ([w, l]) => P.log[w].includes(l), [who, line], ms);
    const watchers = ['watch-ws', 'watch-sse'];
    await open('watch-ws', 'ws', { presence: true });
    await sees('watch-ws', 'join watch-ws ws');
    await open('watch-sse', 'sse', { presence: true });
    await sees('watch-sse', 'join watch-sse sse');
    await sees('watch-ws', 'join watch-sse sse');
    for (const [name, t] of [['alice', 'ws'], ['bob', 'sse'], ['carol', 'poll']]) {
      await open(name, t);
      for (const w of watchers) await sees(w, `join ${name} ${t}`);
    }
    const members = ['alice ws', 'bob sse', 'carol poll', 'watch-sse sse', 'watch-ws ws'];
    const listed = await page.evaluate((t) => P.hub.presence(t), topic);
    const got = (listed.clients || []).map((c) => `${c.client} ${c.transport}`).sort();
    r.check('presence: hub.presence() lists the 5 subscribers (ws, sse, long-poll) with transport, sub null and since',
      listed.count === 5 && JSON.stringify(got) === JSON.stringify(members)
        && listed.clients.every((c) => c.sub === null && Number.isFinite(c.since) && Math.abs(Date.now() - c.since) < 120000), JSON.stringify(listed));
    await waitFor(page, 'presence: onPresence lists them', (m) => ['watch-ws', 'watch-sse'].every((w) => JSON.stringify(P.lists[w]) === m), JSON.stringify(members), 10000);
    const lists = await page.evaluate(() => [P.lists['watch-ws'], P.lists['watch-sse'], P.subs['watch-ws'].members.length]);
    r.check('presence: onPresence (list read on open + notices) of both watchers = the hub\'s list; sub.members too',
      lists.slice(0, 2).every((l) => JSON.stringify(l) === JSON.stringify(members)) && lists[2] === 5, JSON.stringify(lists));

    // Ephemeral events, between two stored ones.
    await publish(topic, 'stored-1');
    await waitFor(page, 'presence: stored-1 delivered', () => Object.values(P.events).every((l) => l.includes('stored-1')), null, 10000);
    const before = await page.evaluate(() => Object.fromEntries(Object.entries(P.subs).map(([k, s]) => [k, s.cursor])));
    const pe = await page.evaluate((t) => P.hub.publish(t, 'typing…\nline 2 · ü', { event: 'typing', ephemeral: true }).catch((e) => ({ error: `${e.code} ${e.message}` })), topic);
    r.check('ephemeral: hub.publish(…, {ephemeral: true}) -> {ephemeral: true, receivers: 4} (the ws and sse subscribers)',
      pe.ephemeral === true && pe.receivers === 4, JSON.stringify(pe));
    const res = await fetch(`${hubUrl}/publish/${topic}?ephemeral=1`, { method: 'POST', body: 'from node' });
    const ne = await res.json();
    r.check('ephemeral: POST /publish?ephemeral=1 from node -> 200 {ephemeral, receivers: 4}, no id', res.status === 200 && ne.receivers === 4 && !('id' in ne), JSON.stringify(ne));
    const live = ['watch-ws', 'watch-sse', 'alice', 'bob'];
    const wantEph = JSON.stringify(['typing:typing…\nline 2 · ü', 'message:from node']);
    if (await waitFor(page, 'ephemeral: delivered to ws and sse', ([l, w]) => l.every((n) => JSON.stringify(P.eph[n]) === w), [live, wantEph], 10000)) {
      r.check('ephemeral: both reach every ws and sse subscriber once, in order, event type and data intact', true);
    }
    const moved = await page.evaluate((b) => Object.entries(P.subs).filter(([k, s]) => s.cursor !== b[k]).map(([k]) => k), before);
    r.check('ephemeral: no cursor moved (live items carry no id)', moved.length === 0, `moved: ${moved.join(', ')}`);
    await publish(topic, 'stored-2');
    await waitFor(page, 'presence: stored-2 delivered', () => Object.values(P.events).every((l) => l.includes('stored-2')), null, 15000);
    await sleep(300);
    const after = await page.evaluate(() => [P.eph.carol, Object.fromEntries(Object.entries(P.events).map(([k, l]) => [k, l]))]);
    r.check('ephemeral: the long-poll subscriber gets none (live traffic is ws/sse only)', after[0].length === 0, JSON.stringify(after[0]));
    r.check('ephemeral: no subscriber got one as an event (events: stored-1, stored-2)',
      Object.values(after[1]).every((l) => JSON.stringify(l) === '["stored-1","stored-2"]'), JSON.stringify(after[1]));
    for (const t of ['ws', 'sse', 'poll']) await open(`late-${t}`, t);
    await waitFor(page, 'ephemeral: replay from earliest', () => ['late-ws', 'late-sse', 'late-poll'].every((n) => P.events[n].length >= 2), null, 15000);
    await sleep(300);
    const replay = await page.evaluate(() => ['late-ws', 'late-sse', 'late-poll'].map((n) => [P.events[n], P.eph[n]]));
    const log = (await hubLog(topic)).map(([, d]) => d);
    r.check('ephemeral: not in a replay from earliest (ws, sse, long-poll) nor in the hub\'s log',
      replay.every(([e, x]) => JSON.stringify(e) === '["stored-1","stored-2"]' && x.length === 0) && JSON.stringify(log) === '["stored-1","stored-2"]',
      `${JSON.stringify(replay)}; log ${JSON.stringify(log)}`);
    await page.evaluate(() => { for (const n of ['late-ws', 'late-sse', 'late-poll']) P.subs[n].close(); });

    // Leaves, in order; the poller after its grace.
    for (const [name, t] of [['alice', 'ws'], ['bob', 'sse']]) {
      await page.evaluate((n) => P.subs[n].close(), name);
      for (const w of watchers) await sees(w, `leave ${name} ${t}`);
    }
    const t0 = Date.now();
    await page.evaluate(() => P.subs.carol.close());
    for (const w of watchers) await sees(w, 'leave carol poll', 40000);
    console.log(`info: presence: the long-poll client left ${((Date.now() - t0) / 1000).toFixed(1)} s after its last request`);
    const order = await Promise.all(watchers.map(logOf));
    const keep = (l) => l.filter((x) => !/ late-/.test(x));
    const want = (w) => [...(w === 'watch-ws' ? ['join watch-ws ws', 'join watch-sse sse'] : ['join watch-sse sse']),
      'join alice ws', 'join bob sse', 'join carol poll', 'leave alice ws', 'leave bob sse', 'leave carol poll'];
    watchers.forEach((w, i) => r.check(`presence: ${w} saw its own join first, then every join and leave in order`,
      JSON.stringify(keep(order[i])) === JSON.stringify(want(w)), JSON.stringify(order[i])));

    // Client ids across a cut: given ('watch-ws') and made up (a subscription without `client`).
    const anon = await page.evaluate((t) => { P.anon = P.hub.subscribe(t, { transport: 'ws', onStatus: (s) => { if (s.state === 'open') P.opens.anon = (P.opens.anon || 0) + 1; } }); return P.anon.client; }, topic);
    r.check('client: a subscription without `client` gets a random id (16 hex digits), sent to the hub', /^[0-9a-f]{16}$/.test(anon), anon);
    await waitFor(page, 'client: anon opens', () => P.opens.anon >= 1, null, 10000);
    await proxy.cmd('cut');
    await waitFor(page, 'client: everyone reconnected after the cut', () => P.opens.anon >= 2 && P.opens['watch-ws'] >= 2 && P.opens['watch-sse'] >= 2, null, 15000);
    await sleep(1500);
    const cut = await page.evaluate((t) => P.hub.presence(t), topic);
    const ids = (cut.clients || []).map((c) => c.client).sort();
    r.check('client: after a cut the hub lists the same ids, each once (a reconnect is not a new member)',
      JSON.stringify(ids) === JSON.stringify([anon, 'watch-sse', 'watch-ws'].sort()), JSON.stringify(ids));
    const reread = await page.evaluate(() => [P.lists['watch-ws'], P.lists['watch-sse']]);
    r.check('client: the watchers\' lists after the reconnect = the hub\'s', reread.every((l) => JSON.stringify(l) === JSON.stringify(cut.clients.map((c) => `${c.client} ${c.transport}`).sort())), JSON.stringify(reread));
    await page.evaluate(() => P.anon.close());

    // Refusals.
    const bad = await page.evaluate((t) => { try { P.hub.subscribe(t, { client: 'not valid!' }); return 'accepted'; } catch (e) { return `${e.name} ${e.code}`; } }, topic);
    r.check('client: an invalid client id is refused by subscribe() (SluiceError bad_client_id)', bad === 'SluiceError bad_client_id', bad);
    await context.setOffline(true);
    const off = await page.evaluate((t) => P.hub.publish(t, 'x', { ephemeral: true }).then(() => 'sent', (e) => e.code), topic);
    await context.setOffline(false);
    r.check('ephemeral: refused at once while offline (code offline), not queued', off === 'offline' && (await page.evaluate(() => P.hub.queued)) === 0, off);
    await page.evaluate(() => P.hub.close());
    await page.close();
  }

  // 5b. The hub restarted (memory store: history lost): one reset notice, then the new events.
  if (run('restart')) {
    const topic = 'c.restart';
    const page = await newPage(context, errors);
    await harness(page, topic, { sub: { cursor: 'earliest' }, hub: { backoff: { min: 200, max: 1000 } } });
    if (await waitOpen(page, 'restart: opens', 'ws')) {
      for (let i = 0; i < 5; i++) await publish(topic, `old-${i}`);
      await waitCount(page, 'restart: old events', 5);
      const code = await hub.stop();
      r.check('restart: hub stopped', code === 0, `exit ${code}`);
      await waitFor(page, 'restart: reconnecting while the hub is down', () => T.sub.status.state === 'reconnecting', null, 10000);
      hub = await startHub(hub.port, ['--allow-origin', `http://127.0.0.1:${hub.port}`]);
      await waitFor(page, 'restart: open again', () => T.statuses.filter((s) => s.state === 'open').length >= 2, null, 30000);
      for (let i = 0; i < 3; i++) await publish(topic, `new-${i}`);
      await waitCount(page, 'restart: new events', 8);
      await sleep(300);
      const got = (await events(page)).map(([, d]) => d);
      const rs = await page.evaluate(() => [T.resets, T.gaps]);
      r.check('restart: one reset notice, no gap', rs[0] === 1 && rs[1].length === 0, JSON.stringify(rs));
      r.check('restart: the old events, then the new epoch\'s, each once', JSON.stringify(got) === JSON.stringify(
        ['old-0', 'old-1', 'old-2', 'old-3', 'old-4', 'new-0', 'new-1', 'new-2']), JSON.stringify(got));
    }
    await page.close();
  }

  // 6. maxAttempts: the hub stops; 3 failed reconnection attempts -> failed.
  // 7. auth: a refused subscription (401) is terminal, with the reason.
  if (run('attempts') || run('auth')) {
    const secret = 'ci-client-secret';
    const h2 = await startHub(await freePort(), ['--auth-secret', secret]);
    extraHubs.push(h2);
    const base2 = `http://127.0.0.1:${h2.port}`;
    const { stdout } = await exec(opt.bin, ['token', '--secret', secret, '--subscribe', '*', '--publish', 'c.*'], { timeout: 10000 });
    const token = stdout.trim();
    if (run('auth')) {
      const page = await newPage(context, errors, base2);
      await harness(page, 'c.auth', { sub: { cursor: 'earliest' } });
      if (await waitFor(page, 'auth: no token -> failed', () => T.sub.status.state === 'failed', null, 10000)) {
        const why = await page.evaluate(() => T.sub.status.why);
        r.check('auth: no token -> failed with the 401 (asked over long-poll: a refused WebSocket hides it)', /401/.test(why), why);
      }
      await page.evaluate(() => T.hub.close());
      await harness(page, 'c.auth', { sub: { cursor: 'earliest' }, hub: { token } });
      if (await waitOpen(page, 'auth: with the token -> open over WebSocket', 'ws')) {
        await page.evaluate(() => T.publish('c.auth', 'with token'));
        await waitFor(page, 'auth: publish with the token delivered', () => T.events.some(([, d]) => d === 'with token'), null, 10000);
        await page.evaluate(() => T.publish('other', 'not allowed'));
        await waitFor(page, 'auth: publish outside the token -> rejected', () => T.pubs[1].error !== undefined, null, 10000);
        const e = await page.evaluate(() => T.pubs[1].error);
        r.check('auth: publish outside the token\'s patterns rejected with the 403, not retried', /403/.test(e), e);
      }
      await page.close();
    }
    if (run('attempts')) {
      const page = await newPage(context, errors, base2);
      await harness(page, 'c.attempts', { sub: { cursor: 'earliest' }, hub: { token, backoff: { min: 200, max: 800, maxAttempts: 3 } } });
      if (await waitOpen(page, 'attempts: opens', null)) {
        const code = await h2.stop();
        r.check('attempts: hub stopped', code === 0, `exit ${code}`);
        await page.evaluate(() => T.publish('c.attempts', 'to a stopped hub'));
        if (await waitFor(page, 'attempts: status failed', () => T.sub.status.state === 'failed', null, 20000)) {
          const st = await statuses(page);
          const att = st.filter((s) => s.state === 'reconnecting').map((s) => s.attempt);
          r.check('attempts: reconnecting attempts 1, 2, 3, then failed', JSON.stringify(att) === '[1,2,3]' && st.at(-1).state === 'failed',
            st.map(fmtStatus).join(' | '));
        }
        await waitFor(page, 'attempts: queued publish settles', () => T.pubs[0].error !== undefined || T.pubs[0].id !== undefined, null, 20000);
        const e = await page.evaluate(() => T.pubs[0].error);
        r.check('attempts: a publish to the stopped hub is rejected after 3 retries', /unreachable/.test(e || ''), e);
      }
      await page.close();
    }
  }

  // Screenshot: the hub's own page (index.html on sluice.js) through the proxy refusing upgrades:
  // it connects over SSE with its fallback notice.
  {
    await proxy.cmd('refuse-upgrade on');
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${pageUrl}/?topic=lobby`);
    try {
      await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected', null, { timeout: 15000 });
      const text = await page.$eval('#status', (e) => e.textContent.trim());
      r.check('page: the hub page connects with sluice.js, over SSE when upgrades are refused', /SSE \(auto\)/.test(text), text);
    } catch {
      r.check('page: the hub page connects with sluice.js', false, await page.$eval('#status', (e) => e.textContent.trim()).catch(() => '?'));
    }
    for (const m of ['Hello from sluice.js', 'WebSocket refused by the proxy: on SSE, same cursor', 'each event exactly once']) await publish('lobby', m);
    await sleep(5000);
    mkdirSync(dirname(opt.screenshot), { recursive: true });
    await page.screenshot({ path: opt.screenshot });
    console.log(`screenshot saved to ${opt.screenshot}`);
    await page.close();
    await proxy.cmd('pass');
  }
  r.check('no uncaught errors in the pages', errors.length === 0, errors.join('; '));
} catch (e) {
  r.check('session', false, e && e.stack || String(e));
} finally {
  if (context) await withTimeout(context.close(), 10000, 'browser close').catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (proxy) await proxy.stop();
  for (const h of extraHubs) await h.stop();
  if (hub) await hub.stop();
}
process.exit(r.finish());
