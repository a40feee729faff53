#!/usr/bin/env node
// node `ws` echo server: the peer OUR WebSocket client is tested against.
//
//   node scripts/interop/node_echo_server.mjs --addr 127.0.0.1:9202
//
// Echoes every message with its own opcode, up to 64 MiB. Text commands, as in py_echo_server.py:
//   "close:CODE:REASON"   the server closes with CODE and REASON
//   "fragment:N:PAYLOAD"  the server sends PAYLOAD back as a text message in N frames (fin:false)
// Prints one line once listening. Loopback addresses only.
import { WebSocketServer } from 'ws';

let addr = '127.0.0.1:9202';
let perMessageDeflate = true;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--addr') addr = process.argv[++i];
  else if (process.argv[i] === '--no-compression') perMessageDeflate = false;
  else { console.error(`usage: node_echo_server.mjs [--addr HOST:PORT] [--no-compression]`); process.exit(2); }
}
const cut = addr.lastIndexOf(':');
const host = addr.slice(0, cut).replace(/^\[|\]$/g, '');
const port = Number(addr.slice(cut + 1));
if (!['127.0.0.1', '::1', 'localhost'].includes(host) && !host.startsWith('127.')) {
  console.error(`${host} is not a loopback address`);
  process.exit(2);
}

const wss = new WebSocketServer({ host, port, maxPayload: 64 << 20, perMessageDeflate });
wss.on('connection', (ws) => {
  ws.on('error', () => {}); // protocol errors: ws already closed with the right code
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString();
      if (text.startsWith('close:')) {
        const [, code, ...reason] = text.split(':');
        ws.close(Number(code), reason.join(':'));
        return;
      }
      if (text.startsWith('fragment:')) {
        const [, n, ...rest] = text.split(':');
        const payload = rest.join(':');
        const step = Math.max(1, Math.ceil(payload.length / Number(n)));
        for (let i = 0; i < payload.length; i += step) {
          ws.send(payload.slice(i, i + step), { binary: false, fin: i + step >= payload.length });
        }
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => console.log(`node_echo_server (ws) listening on ws://${addr}/`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { wss.close(); process.exit(0); });
