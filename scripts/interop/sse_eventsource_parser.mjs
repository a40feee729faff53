#!/usr/bin/env node
// The npm `eventsource-parser` (pinned in package.json) against our SSE encoder and decoder.
//
//   node scripts/interop/sse_eventsource_parser.mjs [--sluice PATH]   (default target/release/sluice)
//
// A. Encoder: a set of events (multi-line data with LF, CRLF and CR, empty lines, unicode, ids,
//    an id reset, retry, named events, comments, field-like data) is encoded by `sluice sse
//    encode`; eventsource-parser must parse back exactly what was encoded (events with type, data
//    and last event ID, retry values, comments), fed whole, char by char and in random pieces.
//    Any difference fails.
// B. Decoder: every input of the committed vector suite (crates/sluice-sse/tests/vectors.json,
//    written from the WHATWG spec and the web-platform-tests format-* cases) goes to `sluice sse
//    decode` and to eventsource-parser; both are compared with the vector's expected outcome.
//    `sluice sse decode` must match every vector. eventsource-parser's deviations from the spec
//    are listed one by one (they do not fail the run); agreement counts are printed.
//
// eventsource-parser takes strings: bytes are decoded with TextDecoder (UTF-8, U+FFFD, one BOM
// stripped), as the `eventsource` package does. Its events carry the id field of their own block
// only, so the last event ID is tracked here the way its users do (`if (e.id !== undefined)`).
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { Results } from './lib.mjs';

let sluice = 'target/release/sluice';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--sluice') sluice = argv[++i];
  else { console.error('usage: sse_eventsource_parser.mjs [--sluice PATH]'); process.exit(2); }
}
const r = new Results('sse_eventsource_parser');
const j = (x) => JSON.stringify(x);

// Parses `bytes` with eventsource-parser, fed in pieces of the sizes `sizes()` yields.
function esParse(bytes, sizes = () => bytes.length) {
  const events = []; const comments = []; let retry = null; let lastId = '';
  const parser = createParser({
    onEvent: (e) => {
      if (e.id !== undefined) lastId = e.id;
      events.push({ type: e.event ?? 'message', data: e.data, id: lastId });
    },
    onRetry: (ms) => { retry = ms; },
    onComment: (c) => comments.push(c),
  });
  const dec = new TextDecoder('utf-8');
  for (let off = 0; off < bytes.length;) {
    const n = Math.max(1, sizes());
    const s = dec.decode(bytes.subarray(off, off + n), { stream: true });
    if (s) parser.feed(s);
    off += n;
  }
  const tail = dec.decode();
  if (tail) parser.feed(tail);
  return { events, comments, retry, last_event_id: lastId };
}

function seeded(seed) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

// ---------------------------------------------------------------- A. our encoder -> eventsource-parser
try {
  const input = [
    { data: 'plain' },
    { type: 'greet', data: 'hello', id: '1' },
    { data: 'lf\nsplit\nlines' },
    { data: 'crlf\r\nsplit\r\nlines' },
    { data: 'cr\rsplit\rlines' },
    { data: 'mixed\r\n\n\r\rends' },
    { data: '\nleading and trailing newline\n' },
    { data: '' },
    { data: ' one leading space' },
    { data: 'data: looks like a field\nid: 99\n: looks like a comment' },
    { type: 'unicode', data: 'h\u00e9llo \u{1F600} \u4e16\u754c \u0000 nul', id: '\u00e9t\u00e9-2' },
    { data: 'retry set here', retry: 2500 },
    { comment: 'a comment\nover two lines' },
    { data: 'after comment', comment: 'attached comment' },
    { data: 'id reset', id: '' },
    { type: 'x'.repeat(300), data: 'y'.repeat(100000), id: 'big' },
    { data: 'last' },
    // decode's final line: a retry-only block. (Its last_event_id equals the current one: an
    // id-only block would be invisible to eventsource-parser, a deviation part B lists.)
    { eof: true, retry: 1000, last_event_id: 'big' },
  ];
  // What a spec-conformant parser must report for `input`.
  const want = { events: [], comments: [], retry: null, last_event_id: '' };
  let id = '';
  for (const e of input) {
    if (e.comment !== undefined) want.comments.push(...e.comment.split(/\r\n|\r|\n/));
    if (e.retry !== undefined && e.retry !== null) want.retry = e.retry;
    if (e.eof) { if (e.last_event_id !== undefined) id = e.last_event_id; continue; }
    if (e.id !== undefined) id = e.id;
    if (e.data !== undefined) want.events.push({ type: e.type ?? 'message', data: e.data.replace(/\r\n|\r/g, '\n'), id });
  }
  want.last_event_id = id;
  const wire = execFileSync(sluice, ['sse', 'encode'], { input: input.map((e) => j(e)).join('\n') + '\n', maxBuffer: 1 << 26 });
  const bytes = new Uint8Array(wire);
  const runs = [['whole', () => bytes.length], ['char by char (1-byte reads)', () => 1]];
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) { const rnd = seeded(seed * 7919); runs.push([`random reads seed ${seed}`, () => 1 + (rnd() % 97)]); }
  for (const [label, sizes] of runs) {
    const got = esParse(bytes, sizes);
    const ok = j(got) === j(want);
    let detail = `${got.events.length} events, ${got.comments.length} comments, retry ${got.retry}, last id ${j(got.last_event_id)}`;
    if (!ok) {
      const i = got.events.findIndex((e, k) => j(e) !== j(want.events[k]));
      detail = `first difference at event ${i}: got ${j(got.events[i])?.slice(0, 200)} want ${j(want.events[i])?.slice(0, 200)}; `
        + `comments ${j(got.comments)} vs ${j(want.comments)}; retry ${got.retry} vs ${want.retry}; last id ${j(got.last_event_id)} vs ${j(want.last_event_id)}`;
    }
    r.check(`encoder -> eventsource-parser, ${label}`, ok, detail);
  }
} catch (e) {
  r.check('encoder -> eventsource-parser', false, e.message);
}

// ---------------------------------------------------------------- B. vectors: sluice decode and eventsource-parser vs the spec
try {
  const vectors = JSON.parse(readFileSync('crates/sluice-sse/tests/vectors.json', 'utf8'));
  let sluiceOk = 0; let esOk = 0; let agree = 0;
  const esDeviations = []; const sluiceDeviations = [];
  for (const v of vectors) {
    const bytes = v.input !== undefined ? new TextEncoder().encode(v.input) : new Uint8Array(Buffer.from(v.input_b64, 'base64'));
    const expected = { events: v.events, retry: v.retry, last_event_id: v.last_event_id };
    const lines = execFileSync(sluice, ['sse', 'decode'], { input: bytes, maxBuffer: 1 << 26 }).toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    const eof = lines.pop();
    const ours = { events: lines, retry: eof.retry, last_event_id: eof.last_event_id };
    const es = esParse(bytes);
    const theirs = { events: es.events, retry: es.retry, last_event_id: es.last_event_id };
    const oursOk = j(ours) === j(expected); const theirsOk = j(theirs) === j(expected);
    if (oursOk) sluiceOk++; else sluiceDeviations.push(v.name);
    if (theirsOk) esOk++;
    else {
      const what = [];
      if (j(theirs.events) !== j(expected.events)) what.push(`events ${j(theirs.events).slice(0, 160)} want ${j(expected.events).slice(0, 160)}`);
      if (theirs.retry !== expected.retry) what.push(`retry ${theirs.retry} want ${expected.retry}`);
      if (theirs.last_event_id !== expected.last_event_id) what.push(`last event ID ${j(theirs.last_event_id)} want ${j(expected.last_event_id)}`);
      esDeviations.push(`${v.name} (${v.ref}): ${what.join('; ')}`);
    }
    if (j(ours) === j(theirs)) agree++;
  }
  const n = vectors.length;
  console.log(`vectors: ${n}; sluice sse decode matches the spec on ${sluiceOk}/${n}; eventsource-parser on ${esOk}/${n}; the two agree on ${agree}/${n}`);
  for (const d of esDeviations) console.log(`  eventsource-parser deviates: ${d}`);
  r.check(`sluice sse decode matches all ${n} vectors`, sluiceOk === n, sluiceDeviations.join(', '));
  r.check('eventsource-parser run over all vectors (deviations listed above, not failures)', true,
    `${esOk}/${n} match the spec, ${esDeviations.length} deviate`);
} catch (e) {
  r.check('vectors', false, e.message);
}
process.exit(r.finish());
