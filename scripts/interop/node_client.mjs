#!/usr/bin/env node
// node `ws` client against a WebSocket echo server (ours or a peer).
//
//   node scripts/interop/node_client.mjs ws://127.0.0.1:9202/ [--server-commands] [--cmd "target --addr 127.0.0.1:{port}"]
//
// Checks: text, binary and empty echo; a fragmented text and binary message sent with
// send(..., {fin:false}) (one frame per fragment); 1 MiB binary and text echo; client close 1000 +
// reason (the server's Close must echo 1000); invalid UTF-8 in a text frame must draw a Close 1007.
// With --server-commands: server close 4001 + reason, and a server-fragmented text message.
// Prints PASS/FAIL lines; exits 1 on any failure.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { Results, parseArgs, startTarget, withTimeout } from './lib.mjs';

const USAGE = 'usage: node_client.mjs ws://127.0.0.1:PORT/ [--server-commands] [--expect-deflate] [--cmd "CMD with {port}"]';
const T = 20000;
const args = parseArgs(process.argv.slice(2), USAGE);
const r = new Results('node_client');

// A connection with a queue of incoming messages and a promise for the close.
function open(url) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 64 << 20 });
    const queue = []; const waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
      const w = waiters.shift(); if (w) w.resolve(m); else queue.push(m);
    });
    ws.closed = new Promise((res) => ws.on('close', (code, reason) => {
      res({ code, reason: reason.toString() });
      for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} ${reason}`));
    }));
    ws.on('error', (e) => { ws.lastError = e; });
    ws.next = () => withTimeout(new Promise((res, rej) => {
      if (queue.length) res(queue.shift()); else waiters.push({ resolve: res, reject: rej });
    }), T, 'message');
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  }), T, 'connect');
}

async function echo(ws, label, send, want, wantBinary) {
  try {
    send();
    const m = await ws.next();
    const ok = m.isBinary === wantBinary && m.data.equals(want);
    r.check(label, ok, ok ? '' : `sent ${wantBinary ? 'binary' : 'text'}[${want.length}], got ${m.isBinary ? 'binary' : 'text'}[${m.data.length}]`);
  } catch (e) { r.check(label, false, e.message); }
}

async function run(url) {
  let ws = await open(url);
  console.log(`connected to ${url} (extensions: ${ws.extensions || 'none'})`);
  if (args.expectDeflate) {
    r.check('permessage-deflate negotiated', /permessage-deflate/.test(ws.extensions || ''), `extensions: ${ws.extensions || 'none'}`);
  }
  const text = 'hello sluice \u2713 \u00fcn\u00efc\u00f6d\u00e9';
  await echo(ws, 'text echo', () => ws.send(text), Buffer.from(text), false);
  const bin = Buffer.alloc(1024, 0).map((_, i) => i & 255);
  await echo(ws, 'binary echo', () => ws.send(bin), bin, true);
  await echo(ws, 'empty text echo', () => ws.send(''), Buffer.alloc(0), false);
  await echo(ws, 'empty binary echo', () => ws.send(Buffer.alloc(0)), Buffer.alloc(0), true);
  await echo(ws, 'fragmented text (3 frames, fin:false) echoed as one message', () => {
    ws.send('frag-1 ', { fin: false }); ws.send('frag-2 ', { fin: false }); ws.send('frag-3 \u2713', { fin: true });
  }, Buffer.from('frag-1 frag-2 frag-3 \u2713'), false);
  await echo(ws, 'fragmented binary (3 frames, fin:false) echoed as one message', () => {
    ws.send(Buffer.from([0, 1]), { binary: true, fin: false }); ws.send(Buffer.from([2]), { binary: true, fin: false });
    ws.send(Buffer.from([3, 255]), { binary: true, fin: true });
  }, Buffer.from([0, 1, 2, 3, 255]), true);
  const big = randomBytes(1 << 20);
  await echo(ws, '1 MiB binary echo', () => ws.send(big), big, true);
  const bigText = 'x'.repeat(1 << 20);
  await echo(ws, '1 MiB text echo', () => ws.send(bigText), Buffer.from(bigText), false);
  if (args.serverCommands) {
    await echo(ws, 'server-fragmented text message', () => ws.send('fragment:3:abcdefghi'), Buffer.from('abcdefghi'), false);
  }
  ws.close(1000, 'bye from node');
  const c1 = await withTimeout(ws.closed, T, 'close');
  r.check('client close 1000 + reason: server echoes 1000', c1.code === 1000, `server sent ${c1.code} '${c1.reason}'`);

  ws = await open(url);
  ws.send(Buffer.from('invalid \xff\xfe utf-8', 'latin1'), { binary: false });
  const c2 = await withTimeout(ws.closed, T, 'close after invalid UTF-8');
  r.check('invalid UTF-8 text: server closes with 1007', c2.code === 1007, `server sent ${c2.code} '${c2.reason}'`);

  if (args.serverCommands) {
    ws = await open(url);
    ws.send('close:4001:bye from server');
    const c3 = await withTimeout(ws.closed, T, 'server close');
    r.check('server close 4001 + reason', c3.code === 4001 && c3.reason === 'bye from server', `server sent ${c3.code} '${c3.reason}'`);
  }
}

let target;
try {
  target = await startTarget(args.cmd, args.url);
  await withTimeout(run(args.url), 120000, 'whole session');
} catch (e) {
  r.check('session', false, e.message);
} finally {
  if (target) await target.stop();
}
process.exit(r.finish());
