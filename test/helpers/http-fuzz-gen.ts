/**
 * Generated HTTP/1.1 request streams for the differential fuzz test: a valid request (any framing), then
 * mutations aimed at the shapes parsers disagree on (request smuggling: two lengths, CL+TE, transfer-coding
 * variants, obs-fold, bare CR/LF, chunk-size edge cases, control characters, invalid names, missing Host,
 * unknown methods, long lines at the head limit), one to three requests pipelined in one buffer, and now
 * and then a random byte-level edit. Reproducible from a seed (sfc32).
 */

/** sfc32: small, fast, good enough for test inputs; the same seed gives the same cases. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** One request before serialization; mutations edit it, then serialize() lays it out. */
interface Req {
  method: string;
  target: string;
  version: string;
  /** Between method and target, target and version. */
  sp: [string, string];
  headers: Array<[name: string, value: string]>;
  /** Bytes after the head, framing applied (Content-Length body or chunked encoding). */
  body: string;
  /** The line ending of every head line (mutations may change single ones in the text). */
  eol: string;
}

export interface FuzzCase {
  input: Buffer;
  /** What was done to the requests, for the report when the case fails. */
  labels: string[];
}

const MAX_HEAD = 16 * 1024;
const PRINTABLE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789{}[]":,.-_ ';

function text(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += PRINTABLE[rng.int(PRINTABLE.length)];
  return s;
}

function hex(rng: Rng, n: number): string {
  const h = n.toString(16);
  return rng.chance(0.3) ? h.toUpperCase() : h;
}

/** Content-encodes `payload` as chunked: random chunk sizes, now and then an extension or a trailer. */
function chunked(rng: Rng, payload: string, labels: string[]): string {
  let out = '';
  for (let i = 0; i < payload.length; ) {
    const n = 1 + rng.int(Math.min(payload.length - i, 20));
    out += `${hex(rng, n)}${chunkExt(rng, labels)}\r\n${payload.slice(i, i + n)}\r\n`;
    i += n;
  }
  out += `0${chunkExt(rng, labels)}\r\n`;
  if (rng.chance(0.15)) {
    out += `x-trailer: ${text(rng, 5)}\r\n`;
    labels.push('trailer');
  }
  return `${out}\r\n`;
}

const CHUNK_EXTS = [
  ';a',
  ';a=b',
  ';a="b c"',
  ';a=b;c=d',
  ' ;a',
  '; a',
  ';a =b',
  ';a= b',
  ';',
  ';=b',
  ';a=',
  ';a="b',
  ';a=b c',
  ';a="\\""',
  ';a=b\t',
  ';(a)',
  ';a@b',
];
function chunkExt(rng: Rng, labels: string[]): string {
  if (!rng.chance(0.06)) return '';
  const ext = rng.pick(CHUNK_EXTS);
  labels.push(`chunk-ext ${JSON.stringify(ext)}`);
  return ext;
}

const METHODS = ['POST', 'POST', 'POST', 'GET', 'GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
const ODD_METHODS = [
  'get',
  'Post',
  'FOO',
  'PROPFIND',
  'M-SEARCH',
  'CONNECT',
  'PRI',
  'QUERY',
  'SOURCE',
  'G3T',
  'GET\x00',
  'TRACE',
  'PURGE',
  'POST1',
  'P',
];
const TARGETS = ['/data', '/data?x=1&y=%20', '/info', '/healthz', '/a/b/../c', '/data#frag', '/%00', "/~!$&'()*+,;=:@"];
const ODD_TARGETS = [
  '*',
  'http://x/data',
  'https://user@x:8080/data?q',
  'x:443',
  '//data',
  'data',
  '/d\x7fata',
  '/d\x80ata',
  '/d\xa0ata',
  '/d\xffata',
  '/d"ata',
  '/d<a>',
  '/d\\a',
  '/d{}|^`',
  '*x',
  '?q',
  'http://x"/',
  'h2tp://x/',
  'http://x#f',
  'HTTP://X/data',
  'http://[::1]:80/',
  'http://u:p@x/',
  'http://x',
  'http:///',
  'http://x<y>/',
];
const VERSIONS = [
  'HTTP/1.2',
  'HTTP/2.0',
  'HTTP/0.9',
  'http/1.1',
  'HTTP/1.10',
  'HTTP/1',
  'HTTP/11',
  'HTTP/1.1 ',
  'HTTP/3.0',
  'HTTP/1.0 ',
];
const TE_VALUES = [
  'chunked',
  'Chunked',
  'CHUNKED',
  ' chunked',
  'chunked ',
  '\tchunked',
  'chunked\t',
  'chunked, identity',
  'identity, chunked',
  'gzip, chunked',
  'identity',
  'chunked;q=1',
  'chunked,',
  ', chunked',
  'chunked, chunked',
  'xchunked',
  'chunk',
  'chunked\x0b',
  '"chunked"',
  'deflate',
  'chunked , gzip',
];
const CL_VALUES = [
  'N\t',
  '\tN',
  '+N',
  '-1',
  'N ',
  ' N',
  '0xN',
  'N,N',
  'N, N',
  '',
  '0000N',
  '99999999999999999999',
  '18446744073709551616',
  '1e3',
  'N\x00',
  'N.0',
  ' ',
  'NN',
];

/** The mutations, each a named edit of one request (some edit the framing, so they also set the body). */
const MUTATIONS: Array<[name: string, weight: number, apply: (r: Req, rng: Rng, payload: string) => string]> = [
  [
    'duplicate Content-Length (same value)',
    3,
    (r, rng, p) => {
      setFraming(r, 'length', p, rng);
      r.headers.splice(rng.int(r.headers.length + 1), 0, ['Content-Length', String(p.length)]);
      return '';
    },
  ],
  [
    'duplicate Content-Length (different values)',
    3,
    (r, rng, p) => {
      setFraming(r, 'length', p, rng);
      r.headers.splice(rng.int(r.headers.length + 1), 0, ['content-length', String(p.length + 1 + rng.int(3))]);
      return '';
    },
  ],
  [
    'Content-Length and Transfer-Encoding',
    3,
    (r, rng, p) => {
      setFraming(r, 'chunked', p, rng);
      r.headers.splice(rng.int(r.headers.length + 1), 0, ['Content-Length', String(rng.int(p.length + 8))]);
      return '';
    },
  ],
  [
    'Transfer-Encoding variant',
    5,
    (r, rng, p) => {
      setFraming(r, 'chunked', p, rng);
      const te = rng.pick(TE_VALUES);
      for (const h of r.headers) if (h[0].toLowerCase() === 'transfer-encoding') h[1] = te;
      return `te ${JSON.stringify(te)}`;
    },
  ],
  [
    'two Transfer-Encoding headers',
    2,
    (r, rng, p) => {
      setFraming(r, 'chunked', p, rng);
      r.headers.push(['Transfer-Encoding', rng.pick(['chunked', 'identity', 'gzip'])]);
      return '';
    },
  ],
  [
    'Content-Length variant',
    4,
    (r, rng, p) => {
      setFraming(r, 'length', p, rng);
      const cl = rng.pick(CL_VALUES).replaceAll('N', String(p.length));
      for (const h of r.headers) if (h[0].toLowerCase() === 'content-length') h[1] = cl;
      return `cl ${JSON.stringify(cl)}`;
    },
  ],
  [
    'Content-Length off by some',
    3,
    (r, rng, p) => {
      setFraming(r, 'length', p, rng);
      const cl = String(Math.max(0, p.length + rng.int(7) - 3));
      for (const h of r.headers) if (h[0].toLowerCase() === 'content-length') h[1] = cl;
      return `cl ${cl} for ${p.length}`;
    },
  ],
  [
    'chunk size edge',
    5,
    (r, rng, p) => {
      setFraming(r, 'chunked', p.length > 0 ? p : 'abc', rng);
      const data = p.length > 0 ? p : 'abc';
      const n = data.length.toString(16);
      const size = rng.pick([
        `0000000${n}`,
        `00000000000000000${n}`,
        'ffffffffffffffffff',
        '10000000000000000',
        `${n} `,
        ` ${n}`,
        `${n}\t`,
        `0x${n}`,
        `-${n}`,
        `+${n}`,
        `${n}g`,
        `${n.toUpperCase()}`,
        `${n}\x00`,
        `${n} ;a=b`,
        `${n};a=b `,
      ]);
      r.body = `${size}\r\n${data}\r\n0\r\n\r\n`;
      return `chunk size ${JSON.stringify(size)}`;
    },
  ],
  [
    'chunk framing edge',
    4,
    (r, rng, p) => {
      const data = p.length > 0 ? p : 'abc';
      setFraming(r, 'chunked', data, rng);
      const n = data.length.toString(16);
      const body = rng.pick([
        `${n}\n${data}\r\n0\r\n\r\n`,
        `${n}\r\n${data}\n0\r\n\r\n`,
        `${n}\r\n${data}\r\n0\n\r\n`,
        `${n}\r\n${data}\r\n0\r\n\n`,
        `${n}\r${data}\r\n0\r\n\r\n`,
        `${n}\r\n${data}x\r\n0\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nbad trailer\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\n x: y\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx : y\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx: a\x00b\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx: y\r\n z\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\n:y\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\ncontent-length: 5\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nhost: y\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx: \x80\t\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx:\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\nx: ${'t'.repeat(1100)}\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\n\r\n\r\n`,
        `${n}\r\n${data}\r\n\r\n0\r\n\r\n`,
        `${n}\r\n${data}\r\n0\r\n`,
        `${n}\r\n${data}\r\n00\r\n\r\n`,
        `${n};${'e'.repeat(1100)}\r\n${data}\r\n0\r\n\r\n`,
      ]);
      r.body = body;
      return `chunks ${JSON.stringify(body.slice(0, 40))}`;
    },
  ],
  [
    'obs-fold',
    3,
    (r, rng) => {
      const h = rng.pick(r.headers);
      h[1] += `${r.eol}${rng.pick([' ', '\t', '  '])}${text(rng, 3)}`;
      return `fold ${h[0]}`;
    },
  ],
  [
    'control character in a value',
    4,
    (r, rng) => {
      const h = rng.pick(r.headers);
      const c = rng.pick([
        '\x00',
        '\r',
        '\n',
        '\x7f',
        '\x01',
        '\x1f',
        '\t',
        '\x0b',
        '\x0c',
        '\x80',
        '\xff',
        '\r\n',
        '\n\r',
      ]);
      const at = rng.int(h[1].length + 1);
      h[1] = h[1].slice(0, at) + c + h[1].slice(at);
      return `value ${h[0]} ${JSON.stringify(c)}`;
    },
  ],
  [
    'odd header name',
    4,
    (r, rng) => {
      const name = rng.pick([
        'x-a ',
        ' x-a',
        'x a',
        'x-a\t',
        '',
        'x@a',
        'x(a)',
        'x"a',
        'x\x00a',
        'x\xe9a',
        'x/a',
        'x{a}',
        'x[a]',
        'x=a',
        '\tx-a',
        'x-a\r',
        "x-a!#$%&'*+.^_`|~",
      ]);
      r.headers.splice(rng.int(r.headers.length + 1), 0, [name, text(rng, 4)]);
      return `name ${JSON.stringify(name)}`;
    },
  ],
  [
    'header line without a colon',
    1,
    (r, rng) => {
      r.headers.splice(rng.int(r.headers.length + 1), 0, [`x-a ${text(rng, 3)}`, '\u0000nocolon']);
      return '';
    },
  ],
  [
    'Host',
    4,
    (r, rng) => {
      const what = rng.pick(['missing', 'missing', 'empty', 'twice', 'twice-different', 'space']);
      const i = r.headers.findIndex((h) => h[0].toLowerCase() === 'host');
      if (what === 'missing') r.headers.splice(i, 1);
      else if (what === 'empty' && i >= 0) (r.headers[i] as [string, string])[1] = '';
      else if (what === 'twice') r.headers.push(['Host', 'x']);
      else if (what === 'twice-different') r.headers.push(['host', 'y']);
      else if (i >= 0) (r.headers[i] as [string, string])[1] = 'x y';
      return `host ${what}`;
    },
  ],
  [
    'odd method',
    4,
    (r, rng) => {
      r.method = rng.pick(ODD_METHODS);
      return `method ${JSON.stringify(r.method)}`;
    },
  ],
  [
    'odd target',
    3,
    (r, rng) => {
      r.target = rng.pick(ODD_TARGETS);
      return `target ${JSON.stringify(r.target)}`;
    },
  ],
  [
    'odd version',
    3,
    (r, rng) => {
      r.version = rng.pick(VERSIONS);
      return `version ${JSON.stringify(r.version)}`;
    },
  ],
  [
    'HTTP/1.0',
    4,
    (r) => {
      r.version = 'HTTP/1.0';
      return '';
    },
  ],
  [
    'request-line whitespace',
    2,
    (r, rng) => {
      r.sp = [rng.pick([' ', '  ', '\t', '']), rng.pick([' ', '  ', '\t', ''])];
      return `sp ${JSON.stringify(r.sp)}`;
    },
  ],
  [
    'line ending',
    4,
    (r, rng) => {
      r.eol = rng.pick(['\n', '\r', '\r\r\n', '\n\r']);
      return `eol ${JSON.stringify(r.eol)}`;
    },
  ],
  [
    'Connection',
    4,
    (r, rng) => {
      const v = rng.pick([
        'close',
        'keep-alive',
        'Close',
        'keep-alive, close',
        'upgrade',
        'foo, close',
        'closed',
        'keep-alive, Upgrade',
      ]);
      r.headers.push(['Connection', v]);
      if (v.toLowerCase().includes('upgrade')) r.headers.push(['Upgrade', rng.pick(['websocket', 'h2c', 'tls/1.2'])]);
      return `connection ${JSON.stringify(v)}`;
    },
  ],
  [
    'Expect',
    2,
    (r, rng) => {
      const v = rng.pick(['100-continue', '100-Continue', 'foo', '']);
      r.headers.push(['Expect', v]);
      return `expect ${JSON.stringify(v)}`;
    },
  ],
  [
    'head near the size limit',
    2,
    (r, rng) => {
      const delta = rng.int(40) - 20;
      const head = serialize({ ...r, body: '' }).length - 4;
      const n = Math.max(0, MAX_HEAD + delta - head - 9);
      if (rng.chance(0.3)) r.target += `?${'q'.repeat(Math.max(0, n - 2))}`;
      else r.headers.push(['x-pad', 'p'.repeat(n)]);
      return `head ${MAX_HEAD + delta} bytes`;
    },
  ],
  [
    'many headers',
    1,
    (r, rng) => {
      const n = 50 + rng.int(200);
      for (let i = 0; i < n; i++) r.headers.push([`x-h${i}`, text(rng, 3)]);
      return `${n} headers`;
    },
  ],
  ['empty lines before the request', 2, (_r, rng) => rng.pick(['\r\n', '\r\n\r\n', '\n', '\r', ' \r\n'])],
];

const TOTAL_WEIGHT = MUTATIONS.reduce((s, m) => s + m[1], 0);

function weighted(rng: Rng): (typeof MUTATIONS)[number] {
  let w = rng.next() * TOTAL_WEIGHT;
  for (const m of MUTATIONS) {
    w -= m[1];
    if (w < 0) return m;
  }
  return MUTATIONS[MUTATIONS.length - 1] as (typeof MUTATIONS)[number];
}

function setFraming(r: Req, kind: 'length' | 'chunked', payload: string, rng: Rng, labels: string[] = []): void {
  r.headers = r.headers.filter((h) => !/^(content-length|transfer-encoding)$/i.test(h[0]));
  const at = rng.int(r.headers.length + 1);
  if (kind === 'length') {
    r.headers.splice(at, 0, [rng.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH']), String(payload.length)]);
    r.body = payload;
  } else {
    r.headers.splice(at, 0, [rng.pick(['Transfer-Encoding', 'transfer-encoding']), 'chunked']);
    r.body = chunked(rng, payload, labels);
  }
}

function serialize(r: Req): string {
  let s = `${r.method}${r.sp[0]}${r.target}${r.sp[1]}${r.version}${r.eol}`;
  for (const [name, value] of r.headers) {
    // A value starting with NUL marks a line without a colon (the name is the whole line).
    s += value.startsWith('\u0000nocolon') ? `${name}${r.eol}` : `${name}:${value === '' ? '' : ' '}${value}${r.eol}`;
  }
  return `${s}${r.eol}${r.body}`;
}

/** A valid request, with a recognisable target and payload (so a misframed body shows as a wrong message). */
function baseRequest(rng: Rng, index: number, labels: string[]): Req {
  const method = rng.pick(METHODS);
  const target = `${rng.pick(TARGETS)}${rng.chance(0.5) ? `${rng.pick(['?', '&'])}m=${index}` : ''}`;
  const headers: Array<[string, string]> = [
    [rng.pick(['Host', 'host', 'HOST']), rng.pick(['x', 'gw.local:8080', '127.0.0.1'])],
  ];
  if (rng.chance(0.5)) headers.push(['device-token', text(rng, 8).replaceAll(' ', '')]);
  if (rng.chance(0.5)) headers.push(['Content-Type', 'application/json']);
  if (rng.chance(0.3)) headers.push(['X-A', text(rng, 6)]);
  if (rng.chance(0.2)) headers.push(['x-b', `\t${text(rng, 4)} `]);
  const r: Req = { method, target, version: 'HTTP/1.1', sp: [' ', ' '], headers, body: '', eol: '\r\n' };
  const framing = rng.int(3);
  let payload = text(rng, rng.int(40));
  if (rng.chance(0.1)) payload = `GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n`;
  if (framing === 1) setFraming(r, 'length', payload, rng);
  else if (framing === 2) setFraming(r, 'chunked', payload, rng, labels);
  return r;
}

/** One case: one to three requests in one buffer, each mutated with some probability. */
export function generateCase(rng: Rng): FuzzCase {
  const labels: string[] = [];
  const count = rng.pick([1, 1, 2, 2, 3]);
  let out = '';
  for (let i = 0; i < count; i++) {
    const msgLabels: string[] = [];
    const r = baseRequest(rng, i, msgLabels);
    let prefix = '';
    const mutations = rng.chance(0.35) ? 0 : 1 + rng.int(rng.chance(0.8) ? 1 : 3);
    const payload = text(rng, rng.int(30));
    for (let k = 0; k < mutations; k++) {
      const m = weighted(rng);
      const detail = m[2](r, rng, payload);
      if (m[0] === 'empty lines before the request') prefix = detail;
      msgLabels.push(detail !== '' && m[0] !== 'empty lines before the request' ? `${m[0]}: ${detail}` : m[0]);
    }
    out += prefix + serialize(r);
    labels.push(`#${i}${msgLabels.length > 0 ? ` ${msgLabels.join('; ')}` : ' valid'}`);
  }
  if (rng.chance(0.08)) {
    const at = rng.int(out.length);
    const edit = rng.int(4);
    const ch = rng.pick(['\r', '\n', '\x00', ' ', '\t', ':', ';', '0', 'a', '\xff', '\r\n']);
    if (edit === 0) out = out.slice(0, at) + ch + out.slice(at);
    else if (edit === 1) out = out.slice(0, at) + out.slice(at + 1);
    else if (edit === 2) out = out.slice(0, at) + ch + out.slice(at + 1);
    else out = out.slice(0, at) + out.slice(at, at + 8) + out.slice(at);
    labels.push(`byte edit ${edit} at ${at} ${JSON.stringify(ch)}`);
  }
  return { input: Buffer.from(out, 'latin1'), labels };
}
