/**
 * The two sides of the HTTP/1.1 differential fuzz test, run in-process on identical bytes: the gateway's lean
 * server (gateway/ingest/http/lean/, its real Connection state machine behind createLeanServer) and Node's
 * own `http.createServer` (llhttp), each handed a connection through the server's 'connection' event.
 * Both observe the same things — the requests handed to the handler, each body once complete, whether the
 * server refused the connection (and with what status), and what happens when the client ends its half
 * mid-request — normalized into an Outcome that test/security/http-differential.test.ts compares.
 *
 * The lean side runs synchronously (its fake socket emits 'data' at once and the handler answers at
 * once), so it is cheap enough to run with the input split at every byte offset. Node's side is
 * asynchronous (streams), and is run with the whole input and with a few split points.
 */
import { EventEmitter } from 'node:events';
import { createServer as createNodeServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { EdgeError } from '../../gateway/errors.js';
import { createLeanServer, type LeanRequest, type LeanResponse } from '../../gateway/ingest/http/lean/server.js';

/** One request as the handler saw it. */
export interface SeenMessage {
  method: string;
  url: string;
  version: string;
  /** Lower-cased names and their values, for the headers both servers join the same way. */
  headers: Record<string, string>;
  /** The whole body (latin1), or null while it was never complete (refused, aborted). */
  body: string | null;
  /** The connection stays open after this message's answer. */
  keepAlive: boolean;
}

export interface Outcome {
  messages: SeenMessage[];
  /** The server refused the connection before the client ended it: the status, and why (for reports). */
  refused: { status: number; reason: string } | null;
  /** What the client's end did: nothing pending ('idle'), or cut a request short ('cut'). Null once refused or closed. */
  atEnd: 'idle' | 'cut' | null;
}

/**
 * Headers compared between the two sides. Node joins duplicates with ", " except for a list it keeps the
 * first of; the lean server keeps the first of the ones in head-parser.ts's FIRST_WINS and joins the rest.
 * The headers the two lists differ on (device-token, token: first kept by lean, joined by Node) and
 * Content-Length/Transfer-Encoding (framing, compared through the bodies) are left out.
 */
const COMPARED_HEADERS = ['host', 'content-type', 'connection', 'expect', 'upgrade', 'x-a', 'x-b', 'authorization'];

function pick(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of COMPARED_HEADERS) {
    const v = headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const BODY_LIMIT = 1024 * 1024;

/** A socket stand-in for the lean Connection: 'data' delivered synchronously, writes collected. */
class FakeSocket extends EventEmitter {
  out = '';
  writable = true;
  destroyed = false;
  write(data: string | Buffer): boolean {
    if (!this.destroyed) this.out += typeof data === 'string' ? data : data.toString('latin1');
    return true;
  }
  end(data?: string | Buffer): void {
    if (data !== undefined) this.write(data);
    this.close();
  }
  destroy(): void {
    this.close();
  }
  private close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.writable = false;
    this.emit('close');
  }
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}
}

interface LeanRun {
  messages: SeenMessage[];
  refused: { status: number; reason: string } | null;
}

let leanRun: LeanRun = { messages: [], refused: null };

const leanServer = createLeanServer(
  {
    bodyLimitBytes: BODY_LIMIT,
    headersTimeoutMs: 60_000,
    requestTimeoutMs: 60_000,
    keepAliveTimeoutMs: 60_000,
    onRefused(err: EdgeError) {
      leanRun.refused ??= { status: err.statusCode, reason: err.message };
    },
  },
  (req: LeanRequest, res: LeanResponse) => {
    const run = leanRun;
    const msg: SeenMessage = {
      method: req.method,
      url: req.url,
      version: req.httpVersion,
      headers: pick(req.headers),
      body: null,
      keepAlive: false,
    };
    run.messages.push(msg);
    req.readBody(BODY_LIMIT, (err, body) => {
      if (err !== null || body === null) return; // the connection refuses or was lost: no answer
      msg.body = body.toString('latin1');
      const sock = req.socket as unknown as FakeSocket;
      const before = sock.out.length;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      msg.keepAlive = !/\r\nconnection: close\r\n/.test(sock.out.slice(before));
    });
  },
);

/** Runs `input` through the lean server, written in pieces cut at `splits` (ascending offsets). */
export function runLean(input: Buffer, splits: readonly number[] = []): Outcome {
  const run: LeanRun = { messages: [], refused: null };
  leanRun = run;
  const sock = new FakeSocket();
  leanServer.emit('connection', sock as unknown as Socket);
  let from = 0;
  for (const at of [...splits, input.length]) {
    if (at <= from || sock.destroyed) continue;
    // Views of the input, never written to (the parser may keep subarrays of them, as of a socket's buffers).
    sock.emit('data', input.subarray(from, at));
    from = at;
  }
  if (sock.destroyed || run.refused !== null) return settle(run, null);
  const before = run.messages.map((m) => m.body);
  sock.emit('end');
  const cut = run.refused !== null || run.messages.some((m, i) => m.body === null && before[i] === null);
  run.refused = null; // a refusal after the end is the end cutting a request short, not a refusal
  return settle(run, cut ? 'cut' : 'idle');
}

/** Keeps what happened up to the first answer that closes the connection (nothing after it is read). */
function settle(run: LeanRun, atEnd: 'idle' | 'cut' | null): Outcome {
  const closing = run.messages.findIndex((m) => m.body !== null && !m.keepAlive);
  if (closing >= 0) return { messages: run.messages.slice(0, closing + 1), refused: null, atEnd: null };
  return { messages: run.messages, refused: run.refused, atEnd };
}

interface NodeRun {
  messages: SeenMessage[];
  /** Node's own refusals: 'clientError' (llhttp), or a status it answered without asking the handler. */
  clientError: string | null;
  out: string;
  ended: boolean;
  cutAtEnd: boolean;
}

const nodeRuns = new WeakMap<object, NodeRun>();

const nodeServer = createNodeServer((req: IncomingMessage, res: ServerResponse) => {
  const run = nodeRuns.get(req.socket) as NodeRun;
  const msg: SeenMessage = {
    method: req.method ?? '',
    url: req.url ?? '',
    version: req.httpVersion,
    headers: pick(req.headers),
    body: null,
    keepAlive: false,
  };
  run.messages.push(msg);
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    msg.body = Buffer.concat(chunks).toString('latin1');
    // After a request asking to upgrade (Upgrade, and `upgrade` in Connection), llhttp stops: with no
    // 'upgrade' listener Node answers it and reads nothing more of the connection, as if it closed.
    msg.keepAlive = res.shouldKeepAlive && !asksUpgrade(req);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  req.on('aborted', () => {
    if (run.ended) run.cutAtEnd = true;
  });
});
nodeServer.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
  const run = nodeRuns.get(socket);
  if (run !== undefined) {
    if (run.ended) run.cutAtEnd = true;
    else run.clientError ??= `${err.code}: ${err.reason ?? err.message}`;
  }
  // Destroyed a turn later, so that what llhttp completed before the error reaches the handler first.
  setImmediate(() => socket.destroy());
});

function asksUpgrade(req: IncomingMessage): boolean {
  return req.headers.upgrade !== undefined && /(^|,)\s*upgrade\s*(,|$)/i.test(req.headers.connection ?? '');
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs `input` through Node's http server (llhttp), written in pieces cut at `splits`. */
export async function runNode(input: Buffer, splits: readonly number[] = []): Promise<Outcome> {
  const run: NodeRun = { messages: [], clientError: null, out: '', ended: false, cutAtEnd: false };
  let closed = false;
  const sock = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      run.out += chunk.toString('latin1');
      cb();
    },
    final(cb) {
      cb();
    },
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    closed = true;
  });
  nodeRuns.set(sock, run);
  nodeServer.emit('connection', sock);
  let from = 0;
  for (const at of [...splits, input.length]) {
    if (at <= from || closed) continue;
    sock.push(Buffer.from(input.subarray(from, at)));
    from = at;
    await turn();
  }
  await turn();
  await turn();
  const refusal = nodeRefusal(run);
  if (refusal !== null || closed) return settleNode(run, refusal, null);
  run.ended = true;
  sock.push(null);
  for (let i = 0; i < 4 && !closed; i++) await turn();
  sock.destroy();
  return settleNode(run, null, run.cutAtEnd ? 'cut' : 'idle');
}

/** Node's first refusal: llhttp's error, or an answer other than the handler's 200 (400 for a missing Host, 417). */
function nodeRefusal(run: NodeRun): { status: number; reason: string } | null {
  let index = 0;
  for (const m of run.out.matchAll(/HTTP\/1\.1 (\d{3}) [^\r]*\r\n/g)) {
    const status = Number(m[1]);
    if (status < 200) continue;
    if (status !== 200) {
      // Requests parsed after the refused one never count (Node answers them not, the connection closes).
      run.messages.length = Math.min(run.messages.length, index);
      return { status, reason: `node answered ${status} itself` };
    }
    index++;
  }
  if (run.clientError !== null) {
    const status = run.clientError.startsWith('HPE_HEADER_OVERFLOW') ? 431 : 400;
    return { status, reason: run.clientError };
  }
  return null;
}

function settleNode(run: NodeRun, refused: Outcome['refused'], atEnd: Outcome['atEnd']): Outcome {
  const closing = run.messages.findIndex((m) => m.body !== null && !m.keepAlive);
  if (closing >= 0) return { messages: run.messages.slice(0, closing + 1), refused: null, atEnd: null };
  return { messages: run.messages, refused, atEnd };
}
