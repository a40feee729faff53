#!/usr/bin/env node
// The hub's WebRTC signaling room (GET /webrtc, crates/sluice-hub/assets/webrtc.html) in headless
// Chromium (Debian /usr/bin/chromium, playwright-core): two pages in two browser contexts join one
// room on a real `sluice serve`, find each other with presence, swap offer, answer and ICE
// candidates as ephemeral events and chat over an RTCDataChannel. Loopback only: the hub listens
// on 127.0.0.1, Chromium runs with --allow-loopback-in-peer-connection and mDNS obfuscation off
// (--disable-features=WebRtcHideLocalIpsWithMdns), no STUN/TURN, and the pages run with
// ?loopback=1 (only 127.0.0.1 candidates are sent, accepted or left in the SDP).
//
//   node scripts/interop/chromium_webrtc.mjs [--bin target/release/sluice]
//        [--screenshot target/webrtc-screenshot.png] [--hub http://127.0.0.1:PORT] [--intercept-assets]
//
// Development only, never in CI: --hub uses a running hub instead of starting one;
// --intercept-assets serves webrtc.html and sluice.js from the tree instead of the hub (for a hub
// binary built before the last change of the page).
// Checks:
//   served     /webrtc and /webrtc.html are the page in the tree (text/html)
//   presence   each page lists both clients and picked the other as its peer; the hub's
//              GET /presence/webrtc.R lists exactly the two
//   channel    the DataChannel opens on both pages
//   chat       a message typed in A arrives in B, one typed in B arrives in A
//   loopback   candidates were exchanged both ways, every one sent or received is 127.0.0.1;
//              the ICE agents (getStats) know no candidate of another address and the pair in
//              use is 127.0.0.1 on both ends
//   log        the topic's log is empty: signaling is never stored (poll from earliest)
//   reload     page B reloaded (a new client id): A negotiates with the new B, chat works again
//   leave      closing page B: A gets B's leave notice, drops it from the list, its data channel
//              closes; GET /presence lists A alone
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { chromium } from 'playwright-core';
import { Results, freePort, startSluice, withTimeout } from './lib.mjs';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const ASSETS = join(ROOT, 'crates/sluice-hub/assets');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];
const USAGE = 'usage: chromium_webrtc.mjs [--bin SLUICE] [--screenshot PATH] [--hub URL] [--intercept-assets]';

const opt = { bin: join(ROOT, 'target/release/sluice'), screenshot: join(ROOT, 'target/webrtc-screenshot.png'), hub: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--bin') opt.bin = resolve(process.argv[++i]);
  else if (a === '--screenshot') opt.screenshot = resolve(process.argv[++i]);
  else if (a === '--hub') opt.hub = process.argv[++i].replace(/\/$/, '');
  else if (a === '--intercept-assets') opt.intercept = true;
  else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
  else { console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2); }
}
if (opt.hub && !/^http:\/\/127\.0\.0\.1:\d+$/.test(opt.hub)) { console.error('--hub: http://127.0.0.1:PORT only'); process.exit(2); }

// Run in a network namespace of its own with only the loopback interface (client_ci.sh uses
// `unshare -rn` where it may), nothing but 127.0.0.1 and ::1 exists to send to.
const ISOLATED = Object.values(networkInterfaces()).flat().every((i) => i.internal);
const r = new Results('chromium_webrtc');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const W = (page) => page.evaluate(() => {
  const w = window.__webrtc;
  return { ...w, stats: undefined };
});
const is127 = (c) => c.split(' ')[4] === '127.0.0.1';

async function waitFor(page, label, fn, arg, ms = 20000) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    return true;
  } catch {
    const w = await W(page).catch(() => ({}));
    r.check(label, false, `timed out after ${ms} ms; ${JSON.stringify({ me: w.me, peer: w.peer, hub: w.hub, members: (w.members || []).map((m) => m.client),
      signaling: w.signalingState, ice: w.iceState, conn: w.connectionState, dc: w.channelState, sent: w.signalsSent, received: w.signalsReceived, errors: w.errors })}`);
    return false;
  }
}

let hub = null; let browser = null;
const errors = [];
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  let base = opt.hub;
  if (!base) {
    if (!existsSync(opt.bin)) throw new Error(`${opt.bin} not found: cargo build --release -p sluice`);
    hub = await startSluice(opt.bin, await freePort());
    base = `http://127.0.0.1:${hub.port}`;
  }
  console.log(`hub ${base}`);

  for (const path of ['/webrtc', '/webrtc.html']) {
    const res = await fetch(`${base}${path}`);
    const body = Buffer.from(await res.arrayBuffer());
    const ct = res.headers.get('content-type') || '';
    r.check(`served: GET ${path} is 200 text/html and the page in the tree (else rebuild the hub)`,
      res.status === 200 && /^text\/html/.test(ct) && body.equals(readFileSync(join(ASSETS, 'webrtc.html'))),
      `HTTP ${res.status}, ${ct}, ${body.length} bytes`);
  }

  if (opt.intercept) console.log('WARNING: --intercept-assets: webrtc.html and sluice.js are served from the tree, not by the hub (development run)');
  browser = await chromium.launch({ executablePath: EXE, headless: true, args: FLAGS });
  const room = `ci-${randomBytes(4).toString('hex')}`;
  const topic = `webrtc.${room}`;
  const url = `${base}/webrtc?room=${room}&loopback=1`;
  const pages = [];
  for (const name of ['A', 'B']) {
    // Chromium lists the loopback interface (--allow-loopback-in-peer-connection) only to a page
    // with camera or microphone permission (otherwise: the default route's addresses only). The
    // page never asks for a device; the permission only widens the candidate list.
    const ctx = await browser.newContext({ viewport: { width: 980, height: 620 }, permissions: ['camera', 'microphone'] });
    if (ISOLATED) {
      // Alone with the loopback interface, Chromium reports navigator.onLine = false (which
      // sluice.js obeys: no connection while offline); requests to 127.0.0.1 work all the same.
      await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'onLine', { get: () => true }));
    }
    if (opt.intercept) {
      await ctx.route(/\/(webrtc(\.html)?|sluice\.js)(\?.*)?$/, (rt) => {
        const js = /sluice\.js/.test(new URL(rt.request().url()).pathname);
        rt.fulfill({ status: 200, contentType: js ? 'text/javascript' : 'text/html', body: readFileSync(join(ASSETS, js ? 'sluice.js' : 'webrtc.html')) });
      });
    }
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e}`));
    page.on('console', (m) => { if (m.type() === 'error') console.log(`console ${name}: ${m.text()}`); });
    await page.goto(url);
    await waitFor(page, `page ${name}: connected to the hub`, () => window.__webrtc && window.__webrtc.hub.startsWith('connected'), null, 10000);
    pages.push(page);
  }
  const [a, b] = pages;
  const idA = await a.evaluate(() => __webrtc.me);
  let idB = await b.evaluate(() => __webrtc.me);
  console.log(`room ${room}: A ${idA}, B ${idB} (${idA < idB ? 'A' : 'B'} offers)`);

  // Presence.
  const sees = (page, other) => waitFor(page, `presence: ${page === a ? 'A' : 'B'} lists ${other} and takes it as its peer`,
    (o) => __webrtc.members.some((m) => m.client === o) && __webrtc.peer === o, other, 10000);
  if (await sees(a, idB) && await sees(b, idA)) {
    const lists = await Promise.all(pages.map((p) => p.evaluate(() => __webrtc.members.map((m) => m.client).sort())));
    const want = JSON.stringify([idA, idB].sort());
    r.check('presence: each page lists both clients, nobody else', lists.every((l) => JSON.stringify(l) === want), JSON.stringify(lists));
  }

  // The data channel and the chat.
  const open = [];
  for (const [n, p] of [['A', a], ['B', b]]) open.push(await waitFor(p, `channel: the DataChannel opens on ${n}`, () => __webrtc.channelState === 'open', null, 20000));
  if (open.every(Boolean)) {
    r.check('channel: the DataChannel opens on both pages', true);
    const pres = await (await fetch(`${base}/presence/${topic}`)).json();
    const clients = (pres.clients || []).map((c) => `${c.client}/${c.transport}`).sort();
    r.check(`presence: GET /presence/${topic} lists the two pages`,
      pres.count === 2 && JSON.stringify((pres.clients || []).map((c) => c.client).sort()) === JSON.stringify([idA, idB].sort()), clients.join(', '));

    const say = async (page, text) => { await page.fill('#msg', text); await page.press('#msg', 'Enter'); };
    await say(a, 'hello from A, peer to peer');
    if (await waitFor(b, 'chat: A -> B', () => __webrtc.messages.some((m) => m.dir === 'in' && m.text === 'hello from A, peer to peer'), null, 10000)) {
      r.check('chat: a message typed in A arrives in B over the DataChannel', true);
    }
    await say(b, 'hi A — B here · ça marche ✓');
    if (await waitFor(a, 'chat: B -> A', () => __webrtc.messages.some((m) => m.dir === 'in' && m.text === 'hi A — B here · ça marche ✓'), null, 10000)) {
      r.check('chat: a message typed in B arrives in A (UTF-8 intact)', true);
    }

    // Loopback only.
    const [wa, wb] = [await W(a), await W(b)];
    const lists = { 'A sent': wa.candidatesSent, 'A received': wa.candidatesReceived, 'B sent': wb.candidatesSent, 'B received': wb.candidatesReceived };
    const summary = Object.entries(lists).map(([k, v]) => `${k} ${v.length}`).join(', ') + `; dropped (not 127.0.0.1): A ${wa.candidatesDropped}, B ${wb.candidatesDropped}`;
    r.check('loopback: ICE candidates exchanged both ways', Object.values(lists).every((l) => l.length > 0), summary);
    const bad = Object.values(lists).flat().filter((c) => !is127(c));
    r.check('loopback: every candidate sent or received is 127.0.0.1', bad.length === 0, bad.length ? bad.join(' | ') : summary);
    console.log(`info: candidates sent by A: ${wa.candidatesSent.join(' | ')}`);
    // The ICE agents' own view. Chromium binds every interface it lists, not only the ones whose
    // candidates were signaled, and checks each local socket against the peer's 127.0.0.1
    // candidate: on a host with other addresses, a check from one of them makes the peer learn
    // it (peer-reflexive) and answer there. Such packets stay on this machine, but only a
    // namespace with nothing but loopback rules them out (client_ci.sh runs this test so).
    const loop = (c) => /^(127\.0\.0\.1|::1):/.test(c);
    for (const [n, p] of [['A', a], ['B', b]]) {
      const st = await p.evaluate(() => __webrtc.stats());
      const pair = st && st.selected;
      const hosts = st ? st.remote.filter((c) => / host$/.test(c)) : [];
      if (ISOLATED) {
        r.check(`loopback (isolated): ${n}'s ICE agent knows loopback candidates only, local and remote, and uses a 127.0.0.1 pair`,
          st && st.remote.length > 0 && [...st.local, ...st.remote].every(loop) && pair && /^127\.0\.0\.1:/.test(pair.local) && /^127\.0\.0\.1:/.test(pair.remote),
          JSON.stringify(st));
      } else {
        r.check(`loopback: ${n}'s ICE agent has the peer's 127.0.0.1 host candidates only (nothing else was signaled)`,
          hosts.length > 0 && hosts.every((c) => /^127\.0\.0\.1:/.test(c)), JSON.stringify(st));
        const other = st ? [...st.local, ...st.remote].filter((c) => !loop(c)) : [];
        if (other.length) {
          console.log(`NOTE: not isolated: ${n}'s ICE agent also has ${other.join(', ')}; pair in use ${JSON.stringify(pair)}. `
            + 'These are this machine\'s own addresses (nothing leaves it); run in a loopback-only network namespace (client_ci.sh: unshare -rn) to rule them out.');
        }
      }
    }
    const signals = `A sent ${JSON.stringify(wa.signalsSent.filter((k) => k !== 'candidate'))}, B sent ${JSON.stringify(wb.signalsSent.filter((k) => k !== 'candidate'))}; sessions A ${wa.sessions}, B ${wb.sessions}`;
    r.check('signaling: one offer/answer session each', wa.sessions === 1 && wb.sessions === 1, signals);
  }

  // Nothing stored.
  const log = await (await fetch(`${base}/poll/${topic}?cursor=earliest&timeout=0`)).json();
  r.check(`log: /poll/${topic} from earliest has no event (signaling is ephemeral)`, Array.isArray(log.events) && log.events.length === 0, JSON.stringify(log));

  // Screenshot: the two pages side by side.
  if (open.every(Boolean)) {
    const say = async (page, text) => { await page.fill('#msg', text); await page.press('#msg', 'Enter'); };
    await say(a, 'the hub only carried the offer, the answer and the ICE candidates');
    await sleep(300);
    await say(b, 'and it never sees this chat');
    await sleep(500);
    const shots = await Promise.all(pages.map((p) => p.screenshot()));
    const page = await (await browser.newContext({ viewport: { width: 2020, height: 660 } })).newPage();
    await page.setContent(`<body style="margin:0;background:#888;display:flex;gap:20px;padding:20px;justify-content:center">${
      shots.map((s) => `<img style="width:980px;box-shadow:0 2px 8px #0006" src="data:image/png;base64,${s.toString('base64')}">`).join('')}</body>`);
    await page.waitForFunction(() => [...document.images].every((i) => i.complete));
    mkdirSync(dirname(opt.screenshot), { recursive: true });
    await page.screenshot({ path: opt.screenshot });
    console.log(`screenshot saved to ${opt.screenshot}`);
    await page.context().close();
  }

  // B reloads: a new document, a new client id. A drops the old peer once its data channel is
  // gone, takes the new one and negotiates again.
  if (open.every(Boolean)) {
    await b.reload();
    await waitFor(b, 'reload: B back on the hub', () => window.__webrtc && window.__webrtc.hub.startsWith('connected'), null, 10000);
    const idB2 = await b.evaluate(() => __webrtc.me);
    const again = await waitFor(a, 'reload: A connects to the reloaded B', (o) => __webrtc.peer === o && __webrtc.channelState === 'open', idB2, 30000)
      && await waitFor(b, 'reload: the reloaded B connects to A', () => __webrtc.channelState === 'open', null, 10000);
    if (again) {
      await b.fill('#msg', 'back after a reload');
      await b.press('#msg', 'Enter');
      const got = await waitFor(a, 'reload: message after the reload', () => __webrtc.messages.some((m) => m.text === 'back after a reload'), null, 10000);
      const left = await a.evaluate((o) => __webrtc.left.includes(o), idB);
      r.check('reload: B reloads (new client id): A sees the old one leave, negotiates with the new one, chat works again', got && left && idB2 !== idB,
        `old ${idB}, new ${idB2}; A's sessions ${await a.evaluate(() => __webrtc.sessions)}`);
    }
    idB = idB2;
  }

  // B leaves.
  const wb = await W(b);
  r.check('no signaling errors in page B', wb.errors.length === 0, wb.errors.join('; '));
  await b.context().close();
  if (await waitFor(a, 'leave: A gets B\'s leave notice', (o) => __webrtc.left.includes(o) && !__webrtc.members.some((m) => m.client === o), idB, 10000)) {
    r.check('leave: closing B -> A gets B\'s leave notice and drops it from the list', true);
  }
  if (open.every(Boolean) && await waitFor(a, 'leave: A\'s data channel closes', () => __webrtc.channelState !== 'open' && __webrtc.peer === null, null, 20000)) {
    r.check('leave: A\'s data channel closes and A waits for a new peer', true,
      await a.evaluate(() => document.getElementById('status-text').textContent));
  }
  const pres = await (await fetch(`${base}/presence/${topic}`)).json();
  r.check('leave: GET /presence lists A alone', pres.count === 1 && pres.clients[0].client === idA, JSON.stringify(pres));
  const wa = await W(a);
  r.check('no signaling errors in page A', wa.errors.length === 0, wa.errors.join('; '));
  r.check('no uncaught errors in the pages', errors.length === 0, errors.join('; '));
} catch (e) {
  r.check('session', false, e && e.stack || String(e));
} finally {
  if (browser) await withTimeout(browser.close(), 10000, 'browser close').catch(() => {});
  if (hub) await hub.stop();
}
process.exit(r.finish());
