// Shared bits of the node interop scripts: PASS/FAIL bookkeeping and starting a target command.
import { spawn } from 'node:child_process';
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export class Results {
  constructor(name) { this.name = name; this.passed = 0; this.failed = 0; }
  check(label, ok, detail = '') {
    if (ok) this.passed++; else this.failed++;
    console.log(`${ok ? 'PASS' : 'FAIL'} ${this.name}: ${label}${detail ? ' -- ' + detail : ''}`);
    return ok;
  }
  finish() {
    console.log(`${this.name}: ${this.passed} passed, ${this.failed} failed`);
    return this.failed || !this.passed ? 1 : 0;
  }
}

export function loopbackPort(url) {
  const u = new URL(url);
  if (u.protocol !== 'ws:' || !LOOPBACK.has(u.hostname)) {
    console.error(`refusing ${url}: only ws:// on loopback`);
    process.exit(2);
  }
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}

export function portOpen(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(500);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

// Starts `cmd` ({port} filled in) in its own process group; resolves once it listens.
export async function startTarget(cmd, url, readyTimeoutMs = 60000) {
  if (!cmd) return { stop: async () => {} };
  const { host, port } = loopbackPort(url);
  if (await portOpen(host, port)) throw new Error(`${host}:${port} already in use: refusing to test whatever listens there`);
  cmd = cmd.replaceAll('{port}', String(port));
  console.log(`starting target: ${cmd}`);
  const child = spawn('bash', ['-c', cmd], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  child.on('exit', (code) => { exited = code ?? 'signal'; });
  const stop = async () => {
    if (exited !== null) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
    for (let i = 0; i < 50 && exited === null; i++) await new Promise((r) => setTimeout(r, 100));
    if (exited === null) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const deadline = Date.now() + readyTimeoutMs;
  while (!(await portOpen(host, port))) {
    if (exited !== null) throw new Error(`target exited (${exited}) before listening on ${port}`);
    if (Date.now() > deadline) { await stop(); throw new Error(`target not listening on ${port} after ${readyTimeoutMs} ms`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { stop };
}

export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what} after ${ms} ms`)), ms); }),
  ]);
}

export function parseArgs(argv, usage) {
  const out = { url: null, cmd: null, serverCommands: false, expectDeflate: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cmd') out.cmd = argv[++i];
    else if (a === '--server-commands') out.serverCommands = true;
    else if (a === '--expect-deflate') out.expectDeflate = true;
    else if (a === '-h' || a === '--help') { console.log(usage); process.exit(0); }
    else if (!out.url && !a.startsWith('--')) out.url = a;
    else { console.error(`unknown argument ${a}\n${usage}`); process.exit(2); }
  }
  if (!out.url) { console.error(usage); process.exit(2); }
  loopbackPort(out.url);
  return out;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// A free TCP port on 127.0.0.1 (free when asked: bind it soon).
export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// `BIN serve --addr 127.0.0.1:port EXTRA...`; resolves once it listens. stop(): SIGTERM, wait for
// the exit (SIGKILL after 10 s); resolves with the exit code.
export async function startSluice(bin, port, extra = []) {
  if (await portOpen('127.0.0.1', port)) throw new Error(`127.0.0.1:${port} already in use`);
  const child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
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
    port,
    async stop() {
      if (exited !== null) return exited;
      child.kill('SIGTERM');
      await Promise.race([done, sleep(10000)]);
      if (exited === null) { child.kill('SIGKILL'); await done; }
      return exited;
    },
  };
}
