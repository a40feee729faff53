#!/usr/bin/env node
// The hub's web page (GET /) in headless Chromium (Debian /usr/bin/chromium, driven by
// playwright-core), against a real `sluice serve` started here on a free loopback port.
//
//   node scripts/interop/chromium_hub.mjs [--bin target/release/sluice] [--screenshot target/hub-screenshot.png]
//   node scripts/interop/chromium_hub.mjs --axum target/release/examples/axum_chat
//
// With --axum the hub under test is the one nested at /rt of the axum_chat example (sluice-axum's
// HubService inside axum::serve): every check below runs against http://HOST:PORT/rt/ instead;
// `sluice` (--bin) is still the CLI used to publish and mint tokens.
//
// For each transport (WebSocket, SSE, long-poll): the page connects (status indicator), a message
// published with `sluice pub` appears, a message sent from the page's form appears, the live
// chart gets sys.metrics samples; then the hub is stopped (the page shows "reconnecting" with an
// attempt count), restarted on the same port (retention is in memory: the page shows the reset
// notice), and new messages flow again, each exactly once. Also: switching transport in place
// resumes from the last id without loss or duplicates, and `?token=` is passed through to every
// request on a hub with --auth-secret (without it the page says 401). Screenshot at the end.
// Never downloads a browser: CHROMIUM (default /usr/bin/chromium) must exist.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { Results, portOpen, withTimeout } from './lib.mjs';

const exec = promisify(execFile);
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const USAGE = 'usage: chromium_hub.mjs [--bin PATH_TO_SLUICE] [--axum PATH_TO_AXUM_CHAT] [--screenshot PATH]';

const opt = { bin: join(ROOT, 'target/release/sluice'), axum: null, screenshot: join(ROOT, 'target/hub-screenshot.png') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--bin') opt.bin = resolve(process.argv[++i]);
  else if (a === '--axum') opt.axum = resolve(process.argv[++i]);
  else if (a === '--screenshot') opt.screenshot = resolve(process.argv[++i]);
  else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
  else { console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2); }
}

const r = new Results(opt.axum ? 'chromium_hub[axum /rt]' : 'chromium_hub');
// Where the hub's routes are: the root of `sluice serve`, /rt of the axum app.
const PREFIX = opt.axum ? '/rt' : '';
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Starts `sluice serve` on 127.0.0.1:port; resolves once it listens. stop() sends SIGTERM (the
// hub's graceful shutdown) and waits for the exit.
async function startHub(port, extra = []) {
  if (await portOpen('127.0.0.1', port)) throw new Error(`127.0.0.1:${port} already in use`);
  const [cmd, args] = opt.axum
    ? [opt.axum, ['--addr', `127.0.0.1:${port}`, ...extra]]
    : [opt.bin, ['serve', '--addr', `127.0.0.1:${port}`, ...extra]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  let exited = null;
  const done = new Promise((res) => child.on('exit', (code, sig) => { exited = code ?? sig; res(); }));
  const deadline = Date.now() + 20000;
  while (!(await portOpen('127.0.0.1', port))) {
    if (exited !== null) throw new Error(`sluice serve exited (${exited}) before listening:\n${log}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`sluice serve not listening on ${port}`); }
    await sleep(50);
  }
  return {
    async stop() {
      if (exited !== null) return exited;
      child.kill('SIGTERM');
      await Promise.race([done, sleep(10000)]);
      if (exited === null) { child.kill('SIGKILL'); await done; }
      return exited;
    },
  };
}

async function pub(url, data, env = {}) {
  const { stdout } = await exec(opt.bin, ['pub', url, data], { timeout: 10000, env: { ...process.env, ...env } });
  return stdout.trim();
}

// Texts of the chat's message lines and notices, in order.
const lines = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => ({
  cls: li.className, id: li.dataset.id || null, text: li.querySelector('.data').textContent,
})));

async function waitFor(page, label, fn, arg, ms = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    return r.check(label, true);
  } catch {
    const status = await page.$eval('#status', (e) => `${e.dataset.state}: ${e.textContent.trim()}`).catch(() => '?');
    return r.check(label, false, `status ${status}`);
  }
}

const hasLine = (page, label, text, ms) => waitFor(page, label,
  (t) => [...document.querySelectorAll('#messages li .data')].some((d) => d.textContent === t), text, ms);
const countOf = async (page, text) => (await lines(page)).filter((l) => l.text === text).length;
const connected = (page, label, transportLabel, ms) => waitFor(page, label,
  (t) => { const s = document.getElementById('status'); return s.dataset.state === 'connected' && s.textContent.includes(t); },
  transportLabel, ms);

const LABEL = { ws: 'WebSocket', sse: 'SSE', poll: 'long-poll' };
let context; let profile; let hub;
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  if (!existsSync(opt.bin)) throw new Error(`${opt.bin} not found: cargo build --release -p sluice`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}${PREFIX}`;
  hub = await startHub(port);
  profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-hub-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: EXE, headless: true, args: FLAGS, viewport: { width: 1280, height: 760 },
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  for (const t of ['ws', 'sse', 'poll']) {
    const topic = `ci.${t}`;
    await page.goto(`${base}/?transport=${t}&topic=${topic}`);
    await connected(page, `${t}: page connects`, LABEL[t]);
    const m1 = `hello over ${t} from sluice pub`;
    const id1 = await pub(`${base}/publish/${topic}`, m1);
    await hasLine(page, `${t}: message published with sluice pub appears`, m1);
    const line1 = (await lines(page)).find((l) => l.text === m1);
    r.check(`${t}: the line carries the event id`, line1 && line1.id === id1, `${line1 && line1.id} vs ${id1}`);
    const m2 = `typed on the page over ${t}`;
    await page.fill('#msg', m2);
    await page.click('#send');
    await hasLine(page, `${t}: message sent from the page's form appears`, m2);
    await waitFor(page, `${t}: live chart receives sys.metrics`, () => document.getElementById('m-topics').textContent !== '–');
    await waitFor(page, `${t}: last update time shown`, () => document.getElementById('last-update').textContent !== 'never');

    // Hub down: the page says reconnecting, with the attempt count and delay.
    const code = await hub.stop();
    r.check(`${t}: hub stops gracefully on SIGTERM`, code === 0, `exit ${code}`);
    await waitFor(page, `${t}: status shows reconnecting with attempt count and delay`,
      () => { const s = document.getElementById('status'); return s.dataset.state === 'reconnecting' && /attempt \d+ in \d/.test(s.textContent); });
    await sleep(1500); // a few failed attempts while the hub is down
    hub = await startHub(port);
    await connected(page, `${t}: page reconnects after the restart`, LABEL[t], 30000);
    await waitFor(page, `${t}: reset notice after the restart (history was in memory)`,
      () => [...document.querySelectorAll('#messages li.notice')].some((n) => n.textContent.includes('lost its history')));
    const m3 = `after the restart over ${t}`;
    await pub(`${base}/publish/${topic}`, m3);
    await hasLine(page, `${t}: new messages flow after the restart`, m3);
    const dupes = await Promise.all([m1, m2, m3].map((m) => countOf(page, m)));
    r.check(`${t}: every message shown exactly once`, dupes.every((n) => n === 1), `counts ${dupes}`);
  }

  // Switch transports in place: resume from the last id, nothing lost, nothing twice.
  {
    const topic = 'ci.switch';
    await page.goto(`${base}/?transport=ws&topic=${topic}`);
    await connected(page, 'switch: connected over WebSocket', 'WebSocket');
    const sent = [];
    for (const t of ['sse', 'poll', 'ws']) {
      const before = `before switching to ${t}`;
      sent.push(before);
      await pub(`${base}/publish/${topic}`, before);
      await hasLine(page, `switch: "${before}" shown`, before);
      await page.click(`#transport input[value=${t}] + span`);
      // Published while the page switches: must arrive through the resumed cursor.
      const during = `during the switch to ${t}`;
      sent.push(during);
      await pub(`${base}/publish/${topic}`, during);
      await connected(page, `switch: connected over ${LABEL[t]}`, LABEL[t]);
      await hasLine(page, `switch: "${during}" shown after the switch`, during);
    }
    const counts = await Promise.all(sent.map((m) => countOf(page, m)));
    r.check('switch: every message exactly once across three switches', counts.every((n) => n === 1), `counts ${counts}`);
    const order = (await lines(page)).filter((l) => l.cls === 'msg').map((l) => l.text);
    r.check('switch: messages in publish order', JSON.stringify(order) === JSON.stringify(sent), order.join(' | '));
  }

  // A hub with --auth-secret: the page passes ?token= through; without a token it says 401.
  {
    const secret = 'ci-secret';
    const p2 = await freePort();
    const hub2 = await startHub(p2, ['--auth-secret', secret]);
    try {
      const { stdout } = await exec(opt.bin, ['token', '--secret', secret, '--subscribe', '*', '--publish', 'ci.*'], { timeout: 10000 });
      const token = stdout.trim();
      const page2 = await context.newPage();
      await page2.goto(`http://127.0.0.1:${p2}${PREFIX}/?transport=sse&topic=ci.auth`);
      await waitFor(page2, 'auth: without a token the page shows disconnected (401)',
        () => { const s = document.getElementById('status'); return s.dataset.state === 'disconnected' && s.textContent.includes('401'); });
      await page2.goto(`http://127.0.0.1:${p2}${PREFIX}/?transport=ws&topic=ci.auth&token=${encodeURIComponent(token)}`);
      await connected(page2, 'auth: with ?token= the page connects', 'WebSocket');
      await page2.fill('#msg', 'authorised hello');
      await page2.click('#send');
      await hasLine(page2, 'auth: publishing from the page with the token works', 'authorised hello');
      await page2.fill('#topic', 'other');
      await page2.click('#join');
      await page2.fill('#msg', 'not allowed');
      await page2.click('#send');
      await waitFor(page2, 'auth: publishing outside the token\'s patterns shows the 403',
        () => document.getElementById('send-error').textContent.includes('403'));
      await page2.close();
    } finally {
      await hub2.stop();
    }
  }

  // The axum app's own page: its EventSource (sluice-axum `Sse`, resumed by `LastEventId`)
  // and its WebSocket (`WsUpgrade`, permessage-deflate negotiated with Chromium).
  if (opt.axum) {
    const app = await context.newPage();
    app.on('pageerror', (e) => errors.push(String(e)));
    await app.goto(`http://127.0.0.1:${port}/`);
    await waitFor(app, 'axum app: EventSource clock ticks (Sse)', () => /^tick \d+$/.test(document.getElementById('clock').textContent));
    await waitFor(app, 'axum app: WebSocket open (WsUpgrade)', () => ws.readyState === WebSocket.OPEN);
    const ext = await app.evaluate(() => ws.extensions);
    r.check('axum app: Chromium negotiated permessage-deflate with WsUpgrade', ext.includes('permessage-deflate'), `extensions "${ext}"`);
    await app.fill('#say', 'deflated hello from chromium');
    await app.click('#send');
    await waitFor(app, 'axum app: WebSocket echo arrives', () => document.getElementById('echo').textContent === 'deflated hello from chromium');
    await app.close();
  }

  // Screenshot: the WebSocket page with a few messages and a chart with some history.
  await page.goto(`${base}/?transport=ws&topic=lobby`);
  await connected(page, 'screenshot: connected', 'WebSocket');
  for (const m of ['Hello from sluice pub', 'WebSocket, SSE and long-poll share one log', 'cursor resume across restarts']) {
    await pub(`${base}/publish/lobby`, m);
  }
  await hasLine(page, 'screenshot: messages shown', 'cursor resume across restarts');
  await sleep(6000); // a few seconds of sys.metrics for the chart
  mkdirSync(dirname(opt.screenshot), { recursive: true });
  await page.screenshot({ path: opt.screenshot });
  console.log(`screenshot saved to ${opt.screenshot}`);
  r.check('no uncaught errors in the page', errors.length === 0, errors.join('; '));
} catch (e) {
  r.check('session', false, e && e.stack || String(e));
} finally {
  if (context) await withTimeout(context.close(), 10000, 'browser close').catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (hub) await hub.stop();
}
process.exit(r.finish());
