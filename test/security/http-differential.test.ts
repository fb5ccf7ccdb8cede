/**
 * The lean HTTP/1.1 server (gateway/ingest/http/lean/) against Node's own parser (llhttp, through
 * `http.createServer`), on identical bytes: generated requests mutated towards request-smuggling shapes
 * (test/helpers/http-fuzz-gen.ts), one to three pipelined per buffer, fed whole and split at every byte
 * offset. The two must agree on where each request ends (which requests the handler sees, each body's
 * bytes, keep-alive) and on whether the stream is valid. The lean server may be stricter only where an
 * entry of STRICTER below says so and why (refusing what llhttp reads is safe on a gateway's port;
 * reading what llhttp refuses, or framing it differently, is a smuggling risk and a bug).
 *
 * What it found, now fixed in the parser: unknown and lower-case methods, CONNECT, HTTP/1.1 without Host,
 * two equal Content-Lengths, a tab after a Content-Length or Transfer-Encoding value, non-ASCII/DEL
 * and authority-form request targets, whitespace after a chunk size, malformed chunk extensions,
 * malformed trailer fields and framing fields in the trailer were all read by the lean server and refused
 * by llhttp; and an answer given from inside the body's callback closed the connection.
 *
 * Bounded in `npm test`; a long run: `TAGO_EDGE_FUZZ_CASES=200000 npx vitest run test/security/http-differential.test.ts`
 * (TAGO_EDGE_FUZZ_SEED picks the seed; a failure prints the seed and case to re-run alone with TAGO_EDGE_FUZZ_CASE).
 */
import { describe, expect, it } from 'vitest';
import { compareOutcomes, type Verdict } from '../helpers/http-fuzz-compare.js';
import { type FuzzCase, generateCase, Rng } from '../helpers/http-fuzz-gen.js';
import { type Outcome, runLean, runNode } from '../helpers/http-fuzz-run.js';

const SEED = Number(process.env.TAGO_EDGE_FUZZ_SEED ?? 20261206);
const CASES = Number(process.env.TAGO_EDGE_FUZZ_CASES ?? 2500);
const ONLY_CASE = process.env.TAGO_EDGE_FUZZ_CASE === undefined ? null : Number(process.env.TAGO_EDGE_FUZZ_CASE);
/** Inputs up to this long are split at every offset; longer ones (heads near the 16 KiB limit) at a sample. */
const EVERY_OFFSET_UP_TO = 2048;

/**
 * Where the lean server is deliberately stricter than llhttp: its refusal (reason, from its own error
 * message) where llhttp read on. Each entry is safe because the lean server refuses, and closes, rather
 * than reading the bytes some other way.
 */
const STRICTER: Array<{ reason: RegExp; when?: RegExp; why: string }> = [
  {
    reason: /^malformed request line$/,
    why:
      'Only HTTP/1.0 and 1.1 (llhttp also reads 0.9 and 2.0 heads), one SP between the parts, and no ' +
      '"*x" targets, scheme digits or fragments in an absolute-form authority; a bare CR or LF before ' +
      'a request line (llhttp skips them; RFC 9112 §2.2 asks only that an empty CRLF line be skipped).',
  },
  {
    reason: /^unsupported method "CONNECT"$/,
    why: 'CONNECT opens a tunnel (its target is an authority, what follows is not HTTP): the gateway is no proxy.',
  },
  {
    reason: /^unsupported Transfer-Encoding /,
    why:
      'Only `chunked` alone: llhttp reads `gzip, chunked` (and an empty value) as a framing the gateway has no ' +
      'decoder for; refusing any other coding leaves no doubt about where the body ends.',
  },
  {
    reason: /^Transfer-Encoding on HTTP\/1\.0$/,
    why: 'A 1.0 client cannot send chunked (RFC 9112 §6.1); an intermediary may frame it by close instead.',
  },
  {
    reason: /^more than one host header$/i,
    why: 'RFC 9112 §3.2: a request with more than one Host MUST get 400; llhttp keeps the first.',
  },
  {
    reason: /^request head over the 16 KiB limit$/,
    why:
      'The head limit counts every byte of the head (request line, names, colons, CRLFs); Node counts only ' +
      'the URL, names and values against the same 16 KiB, so it reads heads a little larger.',
  },
  {
    reason: /^malformed chunk size$/,
    why:
      'Chunk sizes of at most 8 hex digits (4 GiB, far above any body limit; llhttp reads up to 16, leading ' +
      'zeros included) and extensions with a non-empty name and value (llhttp reads `;=b` and `;a=`).',
  },
  {
    reason: /^chunk line too long$/,
    why: 'A chunk line (size and extensions) of at most 1 KiB: extensions carry nothing the gateway reads.',
  },
  {
    reason: /^expectation ".*" not supported \(only 100-continue\)$/,
    why: 'An expectation other than 100-continue gets 417 on HTTP/1.0 too (Node ignores Expect on 1.0).',
  },
  {
    reason:
      /^(chunk not followed by CRLF|malformed chunk size|malformed trailer|chunk line too long|(content-length|transfer-encoding) in the trailer)$/i,
    when: /\r\nupgrade:/i,
    why:
      'Node reports no error in the body of a request asking to upgrade (it waits on, never answering); the ' +
      'lean server refuses a malformed body there as anywhere.',
  },
  {
    reason: /^cut at the end$/,
    why:
      'A lone CR or LF after the last request: llhttp skips it and sees an idle connection at the end; the ' +
      'lean server holds it as the start of a head and answers 400 when the client ends.',
  },
];

/** Where the lean server waits for the end of a head (or chunk line) before judging it, llhttp refusing at once. */
const JUDGED_WHEN_COMPLETE = '\r\n\r\n';

function caseRng(index: number): Rng {
  return new Rng((SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

function splitsOf(c: FuzzCase, rng: Rng): number[][] {
  const n = c.input.length;
  const runs: number[][] = [];
  if (n <= EVERY_OFFSET_UP_TO) {
    for (let at = 1; at < n; at++) runs.push([at]);
    runs.push(Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1)); // a byte at a time
  } else {
    for (let k = 0; k < 32; k++) runs.push([1 + rng.int(n - 1)]);
  }
  const cuts = new Set<number>();
  for (let k = 0; k < 3; k++) cuts.add(1 + rng.int(Math.max(1, n - 1)));
  runs.push([...cuts].sort((a, b) => a - b));
  return runs;
}

interface Failure {
  index: number;
  labels: string[];
  input: string;
  splits: number[];
  verdict: string;
}

function allowed(v: Verdict, input: Buffer): boolean {
  if (v.kind === 'same') return true;
  if (v.kind !== 'stricter') return false;
  const text = input.toString('latin1');
  return STRICTER.some((e) => e.reason.test(v.reason) && (e.when === undefined || e.when.test(text)));
}

/** Judges one lean outcome against Node's; null when acceptable. */
function judge(c: FuzzCase, node: Outcome, lean: Outcome): string | null {
  const v = compareOutcomes(node, lean);
  if (allowed(v, c.input)) return null;
  if (v.kind === 'pending') {
    // The rest of the head arrives: the lean server must refuse then, having served nothing Node did not.
    const completed = Buffer.concat([c.input, Buffer.from(JUDGED_WHEN_COMPLETE)]);
    const done = compareOutcomes(node, runLean(completed));
    if (allowed(done, completed)) return null;
    return `node refused (${v.reason}); the lean server, given the end of the head, did not: ${JSON.stringify(done)}`;
  }
  return JSON.stringify(v);
}

async function runCase(index: number, failures: Failure[]): Promise<void> {
  const rng = caseRng(index);
  const c = generateCase(rng);
  const node = await runNode(c.input);
  const fail = (splits: number[], verdict: string) =>
    failures.push({ index, labels: c.labels, input: c.input.toString('latin1'), splits, verdict });
  // The reference itself, split: llhttp must see the same (else the harness, not the parser, is wrong).
  const nodeSplits = [1 + rng.int(Math.max(1, c.input.length - 1))];
  const nodeSplit = await runNode(c.input, nodeSplits);
  if (JSON.stringify(nodeSplit) !== JSON.stringify(node)) {
    fail(nodeSplits, `node differs with itself when split: ${JSON.stringify(node)} vs ${JSON.stringify(nodeSplit)}`);
  }
  const whole = runLean(c.input);
  const verdict = judge(c, node, whole);
  if (verdict !== null) {
    fail([], `${verdict}\n  node: ${JSON.stringify(node)}\n  lean: ${JSON.stringify(whole)}`);
    return;
  }
  // Split anywhere, the lean server must see exactly what it saw whole.
  const wholeText = JSON.stringify(whole);
  for (const splits of splitsOf(c, rng)) {
    const split = runLean(c.input, splits);
    if (JSON.stringify(split) !== wholeText) {
      fail(splits, `lean differs when split: whole ${wholeText} vs split ${JSON.stringify(split)}`);
      return;
    }
  }
}

function report(failures: Failure[]): string {
  return failures
    .slice(0, 5)
    .map(
      (f) =>
        `seed ${SEED} case ${f.index} (TAGO_EDGE_FUZZ_SEED=${SEED} TAGO_EDGE_FUZZ_CASE=${f.index})\n` +
        `  ${f.labels.join(' | ')}\n  input ${JSON.stringify(f.input.slice(0, 2000))}\n  split at ${JSON.stringify(f.splits.slice(0, 20))}\n  ${f.verdict}`,
    )
    .join('\n\n');
}

describe('the lean HTTP/1.1 parser against llhttp (differential fuzz)', () => {
  it(`agrees with Node on ${ONLY_CASE === null ? CASES : 1} generated request streams, split at every offset (seed ${SEED})`, async () => {
    const failures: Failure[] = [];
    // Most cases are refused, each refusal an error: without stack traces they cost a tenth (none is shown).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      if (ONLY_CASE !== null) await runCase(ONLY_CASE, failures);
      else for (let i = 0; i < CASES && failures.length < 20; i++) await runCase(i, failures);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    expect(failures.length, report(failures)).toBe(0);
  }, 600_000);
});

/** Each disagreement the fuzz found, as a fixed case: Node's verdict, and the lean server's now. */
const FOUND: Array<[what: string, input: string, lean: 'refuses' | number]> = [
  ['a lower-case method', 'get / HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['a method llhttp does not know', 'FOO / HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nx-a: 1\r\n\r\n', 'refuses'],
  [
    'two equal Content-Lengths',
    'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc',
    'refuses',
  ],
  ['a tab after the coding', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\t\r\n\r\n0\r\n\r\n', 'refuses'],
  ['a tab after the length', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\t\r\n\r\nabc', 'refuses'],
  ['a non-ASCII byte in the target', 'GET /d\x80 HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['DEL in the target', 'GET /d\x7f HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['an authority-form target', 'OPTIONS x:443 HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['a target without its slash', 'OPTIONS data HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  ['"<>" in an absolute-form authority', 'GET http://x<y>/ HTTP/1.1\r\nhost: x\r\n\r\n', 'refuses'],
  [
    'a space after the chunk size',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n',
    'refuses',
  ],
  [
    'a space in a chunk extension',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3; a=b\r\nabc\r\n0\r\n\r\n',
    'refuses',
  ],
  [
    'an unquoted space in a chunk extension value',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;a=b c\r\nabc\r\n0\r\n\r\n',
    'refuses',
  ],
  [
    'a trailer line without a colon',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n',
    'refuses',
  ],
  [
    'obs-fold in the trailer',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: y\r\n z\r\n\r\n',
    'refuses',
  ],
  [
    'Content-Length in the trailer',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\ncontent-length: 5\r\n\r\n',
    'refuses',
  ],
  [
    'a request pipelined behind one asking to upgrade (llhttp reads no further)',
    'GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\n',
    1,
  ],
  [
    'pipelined requests answered from inside the body callback (the connection stays open)',
    'POST /1 HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\naPOST /2 HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nb',
    2,
  ],
  [
    'valid chunks, an extension and a trailer',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;a="b c";d\r\nabc\r\n0\r\nx: y\r\n\r\n',
    1,
  ],
];

describe('what the differential fuzz found (fixed cases)', () => {
  it.each(FOUND)('%s: the same verdict as llhttp', async (_what, text, expected) => {
    const input = Buffer.from(text, 'latin1');
    const node = await runNode(input);
    const lean = runLean(input);
    expect(compareOutcomes(node, lean)).toEqual({ kind: 'same' });
    if (expected === 'refuses') expect(lean.refused?.status).toBe(400);
    else expect(lean.messages.filter((m) => m.body !== null)).toHaveLength(expected);
  });

  it('refuses CONNECT (stricter than Node, which hands it to a tunnel)', async () => {
    const input = Buffer.from('CONNECT /x HTTP/1.1\r\nhost: x\r\n\r\n');
    const v = compareOutcomes(await runNode(input), runLean(input));
    expect(v).toEqual({ kind: 'stricter', reason: 'unsupported method "CONNECT"' });
    expect(allowed(v, input)).toBe(true);
  });

  it('judges a chunk line or a trailer the same whether it arrives whole or in pieces', () => {
    const head = 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n';
    for (const body of [
      `3;${'e'.repeat(1100)}\r\nabc\r\n0\r\n\r\n`,
      `3\r\nabc\r\n0\r\nx: ${'t'.repeat(1100)}\r\n\r\n`,
    ]) {
      const input = Buffer.from(head + body);
      const whole = runLean(input);
      for (const at of [head.length + 600, head.length + 1030, input.length - 3]) {
        expect(runLean(input, [at])).toEqual(whole);
      }
    }
  });

  it('reads a head of exactly the limit even when its last bytes arrive apart', () => {
    const start = 'GET / HTTP/1.1\r\nhost: x\r\nx-pad: ';
    const input = Buffer.from(`${start}${'p'.repeat(16 * 1024 - start.length)}\r\n\r\n`);
    expect(runLean(input).messages).toHaveLength(1);
    for (let back = 1; back <= 4; back++) expect(runLean(input, [input.length - back]).messages).toHaveLength(1);
    const over = Buffer.from(`${start}${'p'.repeat(16 * 1024 + 1 - start.length)}\r\n\r\n`);
    expect(runLean(over).refused?.status).toBe(431);
    expect(runLean(over, [over.length - 2]).refused?.status).toBe(431);
  });
});
