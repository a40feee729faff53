#!/usr/bin/env node
// Headless Chromium's own WebSocket (Debian /usr/bin/chromium, driven by playwright-core) against
// an echo server (ours or a peer).
//
//   node scripts/interop/chromium_ws.mjs ws://127.0.0.1:9202/ [--server-commands] [--cmd "target --addr 127.0.0.1:{port}"]
//
// The page is served from a loopback http:// origin by this script; `new WebSocket(url)` runs in it. Checks: text echo, binary echo
// (ArrayBuffer), 1 MiB binary and text echo, close(4000, reason) from the browser (the server's
// Close must echo 4000 and the close be clean). With --server-commands: a server-fragmented text
// message and a server-initiated close 4001 + reason. Browsers never fragment what they send.
// Never downloads a browser: CHROMIUM (default /usr/bin/chromium) must exist (scripts/setup.sh).
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Results, parseArgs, startTarget, withTimeout } from './lib.mjs';

const USAGE = 'usage: chromium_ws.mjs ws://127.0.0.1:PORT/ [--server-commands] [--expect-deflate] [--cmd "CMD with {port}"]';
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const args = parseArgs(process.argv.slice(2), USAGE);
const r = new Results('chromium_ws');

// Runs inside the page: returns [{label, ok, detail}].
async function pageChecks({ url, serverCommands, expectDeflate }) {
  const T = 20000;
  const out = [];
  const check = (label, ok, detail = '') => out.push({ label, ok, detail });
  const open = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const queue = []; const waiters = [];
    ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else queue.push(e.data); };
    const closed = new Promise((res) => { ws.onclose = (e) => res({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
    ws.waitClosed = () => Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('no close within timeout')), T))]);
    ws.next = () => new Promise((res, rej) => {
      if (queue.length) return res(queue.shift());
      waiters.push(res);
      setTimeout(() => rej(new Error('no message within timeout')), T);
    });
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error (connection or handshake failed)'));
  });
  const sameBytes = (a, b) => {
    if (!(a instanceof ArrayBuffer) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a); const y = new Uint8Array(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  };
  const describe = (d) => (typeof d === 'string' ? `text[${d.length}]` : `binary[${d.byteLength}]`);
  try {
    let ws = await open();
    check('connected', true, `extensions: ${ws.extensions || 'none'}`);
    if (expectDeflate) {
      check('permessage-deflate negotiated', /permessage-deflate/.test(ws.extensions || ''), `extensions: ${ws.extensions || 'none'}`);
    }
    const text = 'hello sluice \u2713 \u00fcn\u00efc\u00f6d\u00e9';
    ws.send(text);
    let got = await ws.next();
    check('text echo', got === text, describe(got));
    const bin = new Uint8Array(1024).map((_, i) => i & 255).buffer;
    ws.send(bin);
    got = await ws.next();
    check('binary echo', sameBytes(got, bin), describe(got));
    const big = new Uint8Array(1 << 20);
    for (let off = 0; off < big.length; off += 65536) crypto.getRandomValues(big.subarray(off, off + 65536));
    ws.send(big.buffer);
    got = await ws.next();
    check('1 MiB binary echo', sameBytes(got, big.buffer), describe(got));
    const bigText = 'y'.repeat(1 << 20);
    ws.send(bigText);
    got = await ws.next();
    check('1 MiB text echo', got === bigText, describe(got));
    if (serverCommands) {
      ws.send('fragment:3:abcdefghi');
      got = await ws.next();
      check('server-fragmented text message', got === 'abcdefghi', describe(got));
    }
    ws.close(4000, 'bye from chromium');
    let c = await ws.waitClosed();
    check('client close 4000 + reason: server echoes 4000, clean close', c.code === 4000 && c.wasClean,
      `code ${c.code} reason '${c.reason}' wasClean ${c.wasClean}`);
    if (serverCommands) {
      ws = await open();
      ws.send('close:4001:bye from server');
      c = await ws.waitClosed();
      check('server close 4001 + reason', c.code === 4001 && c.reason === 'bye from server' && c.wasClean,
        `code ${c.code} reason '${c.reason}' wasClean ${c.wasClean}`);
    }
  } catch (e) {
    check('page session', false, String(e && e.message || e));
  }
  return out;
}

// The page comes from a loopback HTTP origin: Chromium refuses a WebSocket to a loopback address
// from about:blank (local network access rules), while loopback -> loopback is allowed.
function servePage() {
  return new Promise((resolve) => {
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>sluice interop</title><p>sluice WebSocket interop</p>');
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

let target; let context; let profile; let pageServer;
try {
  if (!existsSync(EXE)) throw new Error(`${EXE} not found: run scripts/setup.sh (Debian package chromium)`);
  target = await startTarget(args.cmd, args.url);
  profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: EXE, headless: true, args: FLAGS });
  const page = context.pages()[0] || await context.newPage();
  pageServer = await servePage();
  const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;
  await page.goto(pageUrl);
  console.log(`chromium page ${pageUrl} -> ${args.url}`);
  const results = await withTimeout(page.evaluate(pageChecks, { url: args.url, serverCommands: args.serverCommands, expectDeflate: args.expectDeflate }),
    120000, 'page checks');
  for (const { label, ok, detail } of results) r.check(label, ok, detail);
} catch (e) {
  r.check('session', false, e.message);
} finally {
  if (context) await context.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (pageServer) pageServer.close();
  if (target) await target.stop();
}
process.exit(r.finish());
