#!/usr/bin/env node
// examples/llm_chat in headless Chromium (Debian /usr/bin/chromium, driven by playwright-core):
// the chat page (GET /, on /sluice.js) following LLM generations that the example relays from its
// fake OpenAI upstream into hub topics that end. Loopback only: the example binds 127.0.0.1:0 and
// says where (`llm_chat on http://ADDR`); it is stopped by its PID at the end.
//
//   node scripts/interop/chromium_llm.mjs [--bin target/debug/examples/llm_chat]
//        [--screenshot target/llm-screenshot.png] [--token-ms 30]
//
// Checks (numbered as they run):
//   (a) tab A submits a prompt (120 tokens); after ~30 tokens shown it is reloaded: the answer
//       continues from the persisted cursor (the reloaded page's first request carries it) and
//       ends as exactly GET /v1/answer's text, no duplicate, status done, the end once
//   (b) tab B opened on ?gen=TOPIC mid-generation: the same text
//   (c) tabs opened after the end (auto, sse, poll): the whole answer at once, status done;
//       reloads after the end resume at the end (WebSocket end frame, SSE 204, long-poll end)
//       and get it again at once, replaying nothing
//   (d) &transport=poll / ws / sse tabs opened mid-generation, each reloaded mid-generation:
//       that transport, the whole answer, no duplicate
//   (e) every tab following a generation closed mid-generation: it completes on the server; a
//       new tab gets the whole answer, done
//   (f) finished pages make no /sse /ws /poll request for 3 s (no reconnect loop after the end)
//   (h) an `error` event is shown (status error); sluice.js' publish to an ended topic rejects
//       with code 'ended' (409)
//   (g) screenshot
// Every wait is bounded; exits non-zero on any failed check.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import readline from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { Results, withTimeout } from './lib.mjs';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const USAGE = 'usage: chromium_llm.mjs [--bin PATH_TO_LLM_CHAT] [--screenshot PATH] [--token-ms MS]';

const opt = { bin: join(ROOT, 'target/debug/examples/llm_chat'), screenshot: join(ROOT, 'target/llm-screenshot.png'), tokenMs: 30 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--bin') opt.bin = resolve(process.argv[++i]);
  else if (a === '--screenshot') opt.screenshot = resolve(process.argv[++i]);
  else if (a === '--token-ms') opt.tokenMs = Number(process.argv[++i]);
  else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
  else { console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2); }
}

const r = new Results('chromium_llm');
let n = 0;
const check = (label, ok, detail = '') => r.check(`${++n}. ${label}`, ok, detail);
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const SUB_RE = /\/(sse|ws|poll)\//;

// The example on 127.0.0.1:0; resolves with its URL once it says where it listens.
async function startExample() {
  const child = spawn(opt.bin, ['--addr', '127.0.0.1:0', '--token-ms', String(opt.tokenMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-8000); });
  let exited = null;
  const done = new Promise((res) => child.on('exit', (code, sig) => { exited = code ?? sig; res(); }));
  const lines = readline.createInterface({ input: child.stdout });
  const url = await withTimeout(new Promise((res, rej) => {
    lines.on('line', (l) => { const m = /^llm_chat on (http:\/\/\S+)$/.exec(l.trim()); if (m) res(m[1]); });
    done.then(() => rej(new Error(`llm_chat exited (${exited}) before listening:\n${log}`)));
  }), 20000, 'llm_chat start').catch(async (e) => { if (exited === null) child.kill('SIGKILL'); throw e; });
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') { child.kill('SIGKILL'); throw new Error(`llm_chat listens on ${url}: not loopback`); }
  return {
    url,
    pid: child.pid,
    log: () => log,
    async stop() {
      if (exited !== null) return exited;
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([done, sleep(5000)]);
      if (exited === null) { process.kill(child.pid, 'SIGKILL'); await Promise.race([done, sleep(5000)]); }
      return exited;
    },
  };
}

let app; let browser; let context;
const errors = [];
// Whatever happens, never hang: stop the example and exit after 4 minutes.
const watchdog = setTimeout(async () => {
  console.error('chromium_llm: watchdog: 240 s elapsed');
  r.check('session finishes within 240 s', false);
  if (app) await app.stop().catch(() => {});
  process.exit(1);
}, 240000);

async function answer(prompt, tokens) {
  const res = await fetch(`${app.url}/v1/answer?prompt=${encodeURIComponent(prompt)}&tokens=${tokens}`);
  return (await res.json()).text;
}
async function startGeneration(prompt, tokens) {
  const res = await fetch(`${app.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, tokens }) });
  return (await res.json()).topic;
}
// The topic's log from earliest: { events: n, ended }.
async function hubLog(topic) {
  let cursor = 'earliest'; let count = 0;
  for (let i = 0; i < 100; i++) {
    const b = await (await fetch(`${app.url}/poll/${topic}?cursor=${cursor}&timeout=0&max=1000`)).json();
    count += b.events.length;
    cursor = b.cursor;
    if (!b.more) return { events: count, ended: b.end === true, cursor };
  }
  throw new Error('hubLog: too many pages');
}

// A tab: counts its subscription requests (HTTP and WebSocket) and remembers their URLs and the
// statuses of their responses.
async function openTab(path) {
  const page = await context.newPage();
  const net = { count: 0, urls: [], statuses: [] };
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (q) => { if (SUB_RE.test(q.url())) { net.count++; net.urls.push(q.url()); } });
  page.on('websocket', (ws) => { if (SUB_RE.test(ws.url())) { net.count++; net.urls.push(ws.url()); } });
  page.on('response', (s) => { if (SUB_RE.test(s.url())) net.statuses.push([s.url(), s.status()]); });
  page.net = net;
  if (path != null) await page.goto(`${app.url}${path}`, { timeout: 15000 });
  return page;
}
// The URL of the tab's first subscription request since its `net.urls` was emptied ('' if none
// within 5 s).
async function firstRequest(page) {
  for (let i = 0; i < 100 && !page.net.urls.length; i++) await sleep(50);
  return page.net.urls[0] || '';
}
const llmOf = (page) => page.evaluate(() => ({ ...window.llm })).catch((e) => ({ error: `evaluate: ${e.message}` }));
const tokensShown = (s) => (s.text.match(/ t\d+/g) || []).length;
async function waitLlm(page, label, fn, arg, ms) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    return true;
  } catch {
    const s = await llmOf(page);
    check(label, false, `timed out after ${ms} ms; llm ${JSON.stringify({ ...s, text: s.text && s.text.slice(-60) })}`);
    return false;
  }
}
const waitDone = (page, label, ms) => waitLlm(page, label, () => window.llm && window.llm.done, null, ms);
const waitTokens = (page, label, k, ms) => waitLlm(page, label, (k2) => window.llm && (window.llm.text.match(/ t\d+/g) || []).length >= k2, k, ms);
// The whole answer, once, done.
function checkFinal(label, s, want, log) {
  const ok = s.text === want && s.duplicates === 0 && s.done === true && s.status === 'done' && s.error === null && s.ends === 1
    && (!log || s.events === log.events);
  check(label, ok, ok ? `${tokensShown(s)} tokens, ${s.events} events over ${s.transport}`
    : `text ${s.text === want ? 'ok' : `differs: ${JSON.stringify(s.text.slice(0, 40))}…${JSON.stringify(s.text.slice(-40))} (${s.text.length} chars, want ${want.length})`}, `
      + `duplicates ${s.duplicates}, done ${s.done}, status ${s.status}, error ${s.error}, ends ${s.ends}, events ${s.events}${log ? ` (hub log ${log.events})` : ''}`);
}

try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  if (!existsSync(opt.bin)) throw new Error(`${opt.bin} not found: cargo build -p sluice --example llm_chat`);
  app = await startExample();
  console.log(`llm_chat ${app.url} (pid ${app.pid}), ${opt.tokenMs} ms per token`);
  browser = await chromium.launch({ executablePath: EXE, headless: true, args: FLAGS, timeout: 30000 });
  context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  context.setDefaultTimeout(15000);
  const genMs = (tokens) => tokens * opt.tokenMs;

  // (a) Tab A: a prompt, a reload mid-generation.
  const P1 = 'Tell me about rivers'; const N1 = 120;
  const want1 = await answer(P1, N1);
  const A = await openTab('/');
  const ready = await llmOf(A);
  check('(a) GET / serves the chat page; it loads /sluice.js (window.llm, status idle)', ready.status === 'idle' && ready.topic === null, JSON.stringify(ready));
  await A.fill('#prompt', P1);
  await A.fill('#tokens', String(N1));
  await A.click('#send');
  let topic1 = null;
  if (await waitLlm(A, '(a) POST /chat answers a topic', () => window.llm.topic !== null, null, 10000)) {
    topic1 = (await llmOf(A)).topic;
    const u = new URL(A.url());
    check('(a) the URL becomes ?gen=TOPIC (history.replaceState)', u.searchParams.get('gen') === topic1 && /^gen-[0-9a-f]{16}$/.test(topic1), A.url());
  }
  let B = null;
  if (topic1 && await waitTokens(A, '(a) ~30 tokens shown in tab A', 30, 15000)) {
    const before = await llmOf(A);
    check('(a) tab A streams over WebSocket (auto), status streaming', before.transport === 'ws' && before.status === 'streaming' && !before.done,
      `${before.transport}, ${before.status}, ${tokensShown(before)} tokens`);
    // The reload.
    const shown = await llmOf(A);
    A.net.urls.length = 0;
    await A.reload({ timeout: 15000 });
    const after = await llmOf(A);
    check('(a) after the reload the text shown so far is back at once (a prefix of the answer)',
      after.text.length > 0 && want1.startsWith(after.text) && !after.done, `${tokensShown(after)} tokens restored (${tokensShown(shown)} shown before the reload)`);
    const first = await firstRequest(A);
    const cur = new URL(first || 'http://x/').searchParams.get('cursor') || '';
    check('(a) the reloaded page resumes from the persisted cursor (its first subscription request carries cursor=1.E.n)',
      /\/ws\//.test(first) && /^1\.[0-9a-f]+\.[1-9][0-9]*$/.test(cur), first);
    // (b) Tab B on the generation, mid-way.
    B = await openTab(`/?gen=${topic1}`);
    const b0 = await llmOf(B);
    check('(b) tab B opened on ?gen=TOPIC mid-generation (not done when loaded)', b0.topic === topic1 && !b0.done, JSON.stringify({ ...b0, text: undefined }));
    if (await waitDone(A, '(a) tab A done', genMs(N1) + 15000)) {
      const s = await llmOf(A);
      checkFinal('(a) tab A: final text = GET /v1/answer exactly, duplicates 0, status done, one end, every event of the log counted once', s, want1, await hubLog(topic1));
      const shownText = await A.$eval('#answer', (e) => e.textContent);
      const st = await A.$eval('#status', (e) => e.dataset.state);
      check('(a) the page shows it: #answer has the text, #status data-state=done', shownText === want1 && st === 'done', `${st}`);
    }
    if (await waitDone(B, '(b) tab B done', genMs(N1) + 15000)) {
      checkFinal('(b) tab B: the same final text, duplicates 0, done', await llmOf(B), want1, await hubLog(topic1));
    }
  }

  // (c) After the end: new tabs get everything at once; reloads get the end at once.
  const finished = [];
  if (topic1) {
    const log1 = await hubLog(topic1);
    check('(c) the topic has ended (the log answers end: true after the events)', log1.ended, JSON.stringify(log1));
    for (const tr of ['', 'sse', 'poll']) {
      const t0 = Date.now();
      const C = await openTab(`/?gen=${topic1}${tr ? `&transport=${tr}` : ''}`);
      const name = `tab C${tr ? ` (${tr})` : ' (auto)'}`;
      if (await waitDone(C, `(c) ${name} opened after the end: done`, 5000)) {
        const ms = Date.now() - t0;
        const s = await llmOf(C);
        checkFinal(`(c) ${name} opened after the end: the whole answer at once (${ms} ms, the generation took ${genMs(N1)} ms), done`,
          s, want1, log1);
        if (tr) check(`(c) ${name} used ${tr}`, s.transport === tr, s.transport);
        // Reload after the end: the persisted cursor is the end's.
        C.net.urls.length = 0; C.net.statuses.length = 0;
        await C.reload({ timeout: 15000 });
        if (await waitDone(C, `(c) ${name} reloaded after the end: done`, 5000)) {
          const s2 = await llmOf(C);
          checkFinal(`(c) ${name} reloaded after the end: same answer, done at once`, s2, want1, log1);
          const first = await firstRequest(C);
          const cur = new URL(first || 'http://x/').searchParams.get('cursor');
          check(`(c) ${name} reload resumes at the end's cursor (nothing replayed)`, cur === log1.cursor, `${first} (end ${log1.cursor})`);
          if (tr === 'sse') {
            const st = C.net.statuses.map(([, code]) => code);
            check('(c) SSE resuming at the end is answered 204 and taken as the end', st[0] === 204 && st.length === 1, JSON.stringify(st));
          }
        }
        finished.push([name, C]);
      }
    }
    if (A) finished.push(['tab A', A]);
    if (B) finished.push(['tab B', B]);
  }

  // (d) Forced transports, opened mid-generation, each reloaded mid-generation.
  {
    const P2 = 'Explain transports'; const N2 = 200;
    const want2 = await answer(P2, N2);
    const topic2 = await startGeneration(P2, N2);
    const tabs = [];
    for (const tr of ['poll', 'ws', 'sse']) tabs.push([tr, await openTab(`/?gen=${topic2}&transport=${tr}`)]);
    for (const [tr, page] of tabs) {
      const s = await llmOf(page);
      check(`(d) transport=${tr} tab opened mid-generation`, !s.done, `${tokensShown(s)} tokens when loaded`);
    }
    for (const [tr, page] of tabs) {
      if (!await waitTokens(page, `(d) transport=${tr}: tokens arrive`, 40, 15000)) continue;
      const s = await llmOf(page);
      if (s.done) { check(`(d) transport=${tr}: reload mid-generation`, false, 'the generation ended before the reload'); continue; }
      page.net.urls.length = 0;
      await page.reload({ timeout: 15000 });
      const first = await firstRequest(page);
      const cur = new URL(first || 'http://x/').searchParams.get('cursor') || '';
      check(`(d) transport=${tr}: reloaded mid-generation, resumes from the persisted cursor over ${tr}`,
        new RegExp(`/${tr}/`).test(first) && /^1\.[0-9a-f]+\.[1-9][0-9]*$/.test(cur), first);
    }
    const log2 = await (async () => {
      for (const [, page] of tabs) await waitDone(page, '(d) done', genMs(N2) + 15000);
      return hubLog(topic2);
    })();
    for (const [tr, page] of tabs) {
      const s = await llmOf(page);
      if (!s.done) continue;
      checkFinal(`(d) transport=${tr}: the whole answer exactly, duplicates 0, done`, s, want2, log2);
      check(`(d) transport=${tr}: only ${tr} was used`, s.transport === tr && page.net.urls.every((u) => new RegExp(`/${tr}/`).test(u)),
        [...new Set(page.net.urls.map((u) => SUB_RE.exec(u)[1]))].join(','));
      finished.push([`transport=${tr} tab`, page]);
    }
  }

  // (e) Every tab closed mid-generation: the generation completes anyway.
  {
    const P3 = 'Nobody watches'; const N3 = 120;
    const want3 = await answer(P3, N3);
    const E = await openTab('/');
    await E.fill('#prompt', P3);
    await E.fill('#tokens', String(N3));
    await E.click('#send');
    if (await waitLlm(E, '(e) generation started', () => window.llm.topic !== null, null, 10000)) {
      const topic3 = (await llmOf(E)).topic;
      const F = await openTab(`/?gen=${topic3}`);
      await waitTokens(E, '(e) tokens arrive', 15, 10000);
      const mid = await hubLog(topic3);
      await E.close(); await F.close();
      check('(e) every tab following it closed mid-generation', !mid.ended, `${mid.events} events in the log when closed`);
      await sleep(genMs(N3) + 1500);
      const log3 = await hubLog(topic3);
      check('(e) the generation went on to its end with nobody watching', log3.ended && log3.events > mid.events, `${mid.events} -> ${log3.events} events, ended ${log3.ended}`);
      const t0 = Date.now();
      const G = await openTab(`/?gen=${topic3}`);
      if (await waitDone(G, '(e) new tab done', 5000)) {
        checkFinal(`(e) a new tab gets the whole answer (${Date.now() - t0} ms), done`, await llmOf(G), want3, log3);
        finished.push(['tab G', G]);
      }
    }
  }

  // (f) Finished pages stay quiet: no reconnect loop after the end.
  {
    for (const [, page] of finished) { page.net.count = 0; page.net.urls.length = 0; }
    await sleep(3000);
    const noisy = finished.filter(([, page]) => page.net.count > 0).map(([name, page]) => `${name}: ${page.net.urls.join(' ')}`);
    const states = await Promise.all(finished.map(async ([name, page]) => [name, (await llmOf(page)).status]));
    check(`(f) ${finished.length} finished pages make no /sse /ws /poll request for 3 s after the end`, finished.length >= 8 && noisy.length === 0,
      noisy.join('; ') || states.map(([a, b]) => `${a} ${b}`).join(', '));
  }

  // (h) An error event is shown; a publish to an ended topic is refused with 'ended'.
  {
    const topic = 'gen-error-test';
    const pub = (data, event) => fetch(`${app.url}/publish/${topic}${event ? `?event=${event}` : ''}`, { method: 'POST', body: data });
    await pub(JSON.stringify({ choices: [{ index: 0, delta: { content: 'partial' }, finish_reason: null }] }));
    await pub(JSON.stringify({ error: { type: 'server_error', message: 'The server had an error' } }), 'error');
    const closed = await fetch(`${app.url}/close/${topic}`, { method: 'POST' });
    check('(h) POST /close/{topic} -> 200 {id, end: true}', closed.status === 200 && (await closed.json()).end === true);
    const H = await openTab(`/?gen=${topic}`);
    if (await waitDone(H, '(h) error tab done', 5000)) {
      const s = await llmOf(H);
      const shown = await H.$eval('#error', (e) => e.textContent);
      check('(h) an `error` event: shown (#error), status error, the text before it kept', s.status === 'error' && /server_error: The server had an error/.test(shown)
        && s.text === 'partial' && s.ends === 1, JSON.stringify({ status: s.status, shown, text: s.text }));
      const rej = await H.evaluate(async (t) => {
        const { SluiceHub } = await import('/sluice.js');
        const hub = new SluiceHub({ storage: null, backoff: { maxAttempts: 1 } });
        try { await hub.publish(t, 'late'); return 'published'; } catch (e) { return `${e.name} ${e.status} ${e.code}`; } finally { hub.close(); }
      }, topic);
      check('(h) sluice.js: hub.publish to an ended topic rejects (SluiceError 409 ended), not retried', rej === 'SluiceError 409 ended', rej);
    }
    await H.close();
  }

  // (g) Screenshot: a finished generation.
  {
    const S = finished.find(([name]) => name === 'tab A');
    const page = S ? S[1] : await openTab('/');
    mkdirSync(dirname(opt.screenshot), { recursive: true });
    await page.bringToFront();
    await page.screenshot({ path: opt.screenshot });
    check('(g) screenshot saved', existsSync(opt.screenshot), opt.screenshot);
  }
  check('no uncaught errors in the pages', errors.length === 0, errors.join('; '));
} catch (e) {
  check('session', false, e && e.stack || String(e));
  if (app) console.error(app.log());
} finally {
  if (browser) await withTimeout(browser.close(), 10000, 'browser close').catch(() => {});
  if (app) await app.stop().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(r.finish());
