/**
 * The ingest port's HTTP/1.1 server (`http.engine: lean`, the default): requests parsed straight off the socket
 * and each answer written as one buffer, without `node:http`'s per-request streams and objects. Measured on the
 * bench's `POST /data` (docs/design/lean-http.md): a bare responder on `node:net` costs ~11 µs per request
 * where a bare `node:http` server costs ~20; the gateway's whole path went from 28–29k to 35–36k req/s.
 * `http.engine: node` keeps `node:http`.
 *
 * Strict by design: what a device, the TagoIO SDK or a monitoring probe sends is plain HTTP/1.1 (or 1.0), and
 * anything ambiguous is refused with 400 and the connection closed, never guessed at:
 * - request line `METHOD SP target SP HTTP/1.x`; header names are tokens; no obs-fold, no control characters
 *   (a bare CR or LF included) in names or values; the head is at most `maxHeaderBytes` (431 past it);
 * - the body is framed by one Content-Length, or by `Transfer-Encoding: chunked` alone: both at once, two
 *   different lengths, another transfer coding or chunked on HTTP/1.0 are refused (request smuggling);
 * - `Expect: 100-continue` is answered 100 before the body is read (417 for any other expectation).
 * Connections: keep-alive (HTTP/1.1 unless `Connection: close`; 1.0 only with `Connection: keep-alive`),
 * pipelined requests answered in order (the next is parsed only after the current one is answered), idle
 * keep-alive connections closed after `keepAliveTimeoutMs`; a head not complete within `headersTimeoutMs`, or
 * a body not complete within `requestTimeoutMs` of the request's first byte, is answered 408 (slowloris). A
 * response sent before its request's body was read closes the connection. While the server is closing,
 * answers carry `Connection: close`.
 */
import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import {
  BadRequestError,
  type EdgeError,
  ExpectationFailedError,
  HeadersTooLargeError,
  InvalidBodyError,
  RequestTimeoutError,
} from '../../errors.js';
import { tooLarge } from './read-body.js';

export interface LeanRequest {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1';
  /** Lower-cased names; duplicates joined with ", " (the first kept for the headers below). */
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  /** Calls `done` once: the whole body, or the error (over `limit`, malformed chunking, connection lost). */
  readBody(limit: number, done: (err: EdgeError | null, body: Buffer | null) => void): void;
}

export interface LeanResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers?: Record<string, string | number>): this;
  end(body?: string | Buffer): void;
  destroy(): void;
}

export interface LeanServerOptions {
  bodyLimitBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Largest request head (request line and headers); 431 past it. Node's default: 16 KiB. */
  maxHeaderBytes?: number;
  tls?: TlsOptions;
  /** A handler threw (it should answer its own errors): the connection is closed and the error reported here. */
  onHandlerError?(err: unknown): void;
  /** A request refused before reaching a handler (malformed, too large a head, too slow), for logs and metrics. */
  onRefused?(err: EdgeError, socket: Socket): void;
}

export type LeanServer = NetServer & {
  closeIdleConnections(): void;
  closeAllConnections(): void;
};

type Handler = (req: LeanRequest, res: LeanResponse) => void;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s\x00-\x1f\x7f]+) HTTP\/1\.([01])$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Headers Node keeps the first of (and so do we): the ones a second copy would make ambiguous. */
const FIRST_WINS = new Set([
  'authorization',
  'content-type',
  'device-token',
  'token',
  'host',
  'user-agent',
  'proxy-authorization',
]);
/** Bytes kept for requests pipelined behind one being answered before the socket is paused. */
const PIPELINE_BUFFER_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 1024;
const MAX_TRAILER_BYTES = 16 * 1024;

let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** What parsing throws for a request it refuses (anything else thrown is a bug and propagates). */
function isHttpRefusal(err: unknown): err is EdgeError {
  return err instanceof BadRequestError || err instanceof ExpectationFailedError || err instanceof HeadersTooLargeError;
}

/** `status` with no body, the connection closed after it: for requests that never reach a handler. */
function bare(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

interface Head {
  method: string;
  url: string;
  version: '1.0' | '1.1';
  headers: IncomingHttpHeaders;
}

/** Parses a request head (without its final CRLF CRLF): one pass over the text, no per-line arrays or regex trims. */
function parseHead(text: string): Head {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const m = REQUEST_LINE.exec(text.slice(0, eol));
  if (!m) throw new BadRequestError('malformed request line');
  const headers: Record<string, string> = {};
  for (let pos = eol + 2; pos < text.length; ) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > end) throw new BadRequestError('malformed header line');
    const name = text.slice(pos, colon);
    if (!TOKEN.test(name)) throw new BadRequestError('malformed header name');
    // Optional whitespace around the value is spaces and tabs only (RFC 9110 §5.6.3).
    let from = colon + 1;
    while (from < end && isOws(text.charCodeAt(from))) from++;
    let to = end;
    while (to > from && isOws(text.charCodeAt(to - 1))) to--;
    const value = text.slice(from, to);
    if (BAD_VALUE.test(value)) throw new BadRequestError('control character in a header value');
    const key = name.toLowerCase();
    const seen = headers[key];
    if (seen === undefined) headers[key] = value;
    else if (key === 'content-length') {
      if (seen !== value) throw new BadRequestError('conflicting Content-Length headers');
    } else if (!FIRST_WINS.has(key)) headers[key] = `${seen}, ${value}`;
    pos = end + 2;
  }
  return { method: m[1] as string, url: m[2] as string, version: m[3] === '0' ? '1.0' : '1.1', headers };
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

function framingOf(head: Head): Framing {
  const te = head.headers['transfer-encoding'] as string | undefined;
  const cl = head.headers['content-length'] as string | undefined;
  if (te !== undefined) {
    if (cl !== undefined) throw new BadRequestError('both Transfer-Encoding and Content-Length');
    if (head.version === '1.0') throw new BadRequestError('Transfer-Encoding on HTTP/1.0');
    if (te.toLowerCase() !== 'chunked') throw new BadRequestError(`unsupported Transfer-Encoding "${te}"`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl)) throw new BadRequestError('malformed Content-Length');
    const length = Number(cl);
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return { kind: 'none' };
}

/** One request's body as it arrives: collected up to the limit, then handed to the reader once. */
class Body {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Set once: the body, or why there is none. */
  private outcome: { err: EdgeError | null; body: Buffer | null } | null = null;
  private reader: ((err: EdgeError | null, body: Buffer | null) => void) | null = null;
  complete = false;

  constructor(
    private limit: number,
    private readonly declared: number | null,
  ) {
    this.checkDeclared();
  }

  get refused(): boolean {
    return this.outcome !== null && this.outcome.err !== null;
  }

  /** The reader's limit, when lower than the server's. */
  setLimit(limit: number): void {
    if (limit >= this.limit) return;
    this.limit = limit;
    this.checkDeclared();
    if (this.size > limit) this.settle(tooLarge(this.size, limit), null);
  }

  /** A declared Content-Length over the limit is refused before any of the body is read. */
  private checkDeclared(): void {
    if (this.declared !== null && this.declared > this.limit) this.settle(tooLarge(this.declared, this.limit), null);
  }

  add(chunk: Buffer): void {
    if (this.outcome !== null) return;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.chunks = [];
      this.settle(tooLarge(this.size, this.limit), null);
      return;
    }
    this.chunks.push(chunk);
  }

  end(): void {
    this.complete = true;
    if (this.outcome !== null) return;
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.settle(null, body);
  }

  fail(err: EdgeError): void {
    this.settle(err, null);
  }

  read(done: (err: EdgeError | null, body: Buffer | null) => void): void {
    if (this.outcome !== null) {
      const { err, body } = this.outcome;
      done(err, body);
      return;
    }
    this.reader = done;
  }

  private settle(err: EdgeError | null, body: Buffer | null): void {
    if (this.outcome !== null) return;
    this.outcome = { err, body };
    const reader = this.reader;
    this.reader = null;
    reader?.(err, body);
  }
}

class Connection {
  private buf: Buffer | null = null;
  private scanFrom = 0;
  private state: 'head' | 'body' | 'answering' | 'closed' = 'head';
  /** performance.now() of the current request's first byte; 0 while idle. */
  private started = 0;
  private idleSince = performance.now();
  private framing: Framing = { kind: 'none' };
  private remaining = 0;
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private trailerBytes = 0;
  private body: Body | null = null;
  private keepAlive = true;
  private paused = false;
  private pumping = false;
  /** An answer is waiting for the client to read: nothing more is read or parsed until it drains. */
  private draining = false;
  /** The client half-closed: answer what is in progress, then close. */
  private ended = false;

  constructor(
    readonly socket: Socket,
    private readonly server: LeanHttp,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.lost());
    socket.on('close', () => this.lost());
    socket.on('end', () => {
      this.ended = true;
      if (this.state === 'head') {
        // Nothing pending: close; half a request head: it can never complete.
        if (this.buf === null) {
          this.state = 'closed';
          socket.end();
        } else this.refuse(new BadRequestError('connection closed in the middle of a request head'));
      } else if (this.state === 'body') {
        this.body?.fail(new InvalidBodyError('request aborted before the body was complete'));
      }
    });
  }

  get keepAliveHeader(): string {
    return this.server.keepAliveHeader;
  }

  get idle(): boolean {
    return this.state === 'head' && this.buf === null;
  }

  destroy(): void {
    this.socket.destroy();
    this.lost();
  }

  /** Deadlines, checked every second or so by the server. */
  check(now: number, o: LeanServerOptions): void {
    if (this.state === 'head') {
      if (this.started > 0 && now - this.started > o.headersTimeoutMs) {
        this.refuse(new RequestTimeoutError(`request head not complete within ${o.headersTimeoutMs} ms`));
      } else if (this.started === 0 && this.buf === null && now - this.idleSince > o.keepAliveTimeoutMs) this.destroy();
    } else if (this.state === 'body' && now - this.started > o.requestTimeoutMs) {
      this.refuse(new RequestTimeoutError(`request not complete within ${o.requestTimeoutMs} ms`));
      this.body?.fail(new InvalidBodyError('request timed out before the body was complete'));
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    if (this.started === 0) this.started = performance.now();
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    this.pump();
  }

  private pump(): void {
    this.pumping = true;
    try {
      for (;;) {
        if (this.draining) return;
        if (this.state === 'head') {
          if (!this.readHead()) return;
        } else if (this.state === 'body') {
          if (!this.readBody()) return;
        } else {
          if (this.state === 'answering' && this.buf !== null && this.buf.length > PIPELINE_BUFFER_BYTES) {
            this.socket.pause();
            this.paused = true;
          }
          return;
        }
      }
    } catch (err) {
      if (isHttpRefusal(err)) {
        this.body?.fail(new InvalidBodyError(`body could not be read: ${err.message}`));
        this.refuse(err);
        return;
      }
      throw err;
    } finally {
      this.pumping = false;
    }
  }

  /** Parses a complete head and hands the request over; false when more bytes are needed. */
  private readHead(): boolean {
    let buf = this.buf;
    if (buf === null) return false;
    // Tolerate empty lines before a request (RFC 9112 §2.2).
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 0x0d && buf[skip + 1] === 0x0a) skip += 2;
    if (skip > 0) {
      buf = skip === buf.length ? null : buf.subarray(skip);
      this.buf = buf;
      this.scanFrom = 0;
      if (buf === null) {
        this.started = 0;
        return false;
      }
    }
    const max = this.server.maxHeaderBytes;
    const end = buf.indexOf(CRLFCRLF, this.scanFrom);
    if (end < 0) {
      if (buf.length > max) throw new HeadersTooLargeError('request head over the 16 KiB limit');
      this.scanFrom = Math.max(0, buf.length - 3);
      return false;
    }
    if (end > max) throw new HeadersTooLargeError('request head over the 16 KiB limit');
    const head = parseHead(buf.toString('latin1', 0, end));
    const framing = framingOf(head);
    const expect = head.headers.expect as string | undefined;
    if (expect !== undefined && expect.toLowerCase() !== '100-continue')
      throw new ExpectationFailedError(`expectation "${expect}" not supported (only 100-continue)`);
    this.buf = end + 4 === buf.length ? null : buf.subarray(end + 4);
    this.scanFrom = 0;
    const conn = ((head.headers.connection as string | undefined) ?? '').toLowerCase();
    this.keepAlive =
      head.version === '1.1' ? !/(^|,)\s*close\s*(,|$)/.test(conn) : /(^|,)\s*keep-alive\s*(,|$)/.test(conn);
    this.framing = framing;
    const limit = this.server.options.bodyLimitBytes;
    const body = new Body(limit, framing.kind === 'length' ? framing.length : null);
    this.body = body;
    if (framing.kind === 'none') {
      body.end();
      this.state = 'answering';
    } else {
      this.remaining = framing.kind === 'length' ? framing.length : 0;
      this.chunkState = 'size';
      this.trailerBytes = 0;
      this.state = 'body';
      if (expect !== undefined && head.version === '1.1' && !body.refused) {
        this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
    }
    this.server.dispatch(this, head, body);
    return true;
  }

  /** Feeds buffered bytes to the body; true when the body is complete (or refused). */
  private readBody(): boolean {
    const body = this.body as Body;
    if (body.refused) {
      // Nothing more of this connection is read: the answer closes it.
      this.buf = null;
      this.state = 'answering';
      return true;
    }
    if (this.framing.kind === 'length') {
      const buf = this.buf;
      if (buf === null) return false;
      const n = Math.min(this.remaining, buf.length);
      body.add(n === buf.length ? buf : buf.subarray(0, n));
      this.remaining -= n;
      this.buf = n === buf.length ? null : buf.subarray(n);
      if (this.remaining > 0) return false;
      body.end();
      this.state = 'answering';
      return true;
    }
    return this.readChunked(body);
  }

  private readChunked(body: Body): boolean {
    for (;;) {
      const buf = this.buf;
      if (buf === null) return false;
      if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, buf.length);
        body.add(n === buf.length ? buf : buf.subarray(0, n));
        this.remaining -= n;
        this.buf = n === buf.length ? null : buf.subarray(n);
        if (body.refused) return this.readBody();
        if (this.remaining === 0) this.chunkState = 'crlf';
        continue;
      }
      if (this.chunkState === 'crlf') {
        if (buf.length < 2) return false;
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new BadRequestError('chunk not followed by CRLF');
        this.buf = buf.length === 2 ? null : buf.subarray(2);
        this.chunkState = 'size';
        continue;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > MAX_CHUNK_LINE) throw new BadRequestError('chunk line too long');
        return false;
      }
      const line = buf.toString('latin1', 0, eol);
      this.buf = eol + 2 === buf.length ? null : buf.subarray(eol + 2);
      if (this.chunkState === 'size') {
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
        if (!size || BAD_VALUE.test(line)) throw new BadRequestError('malformed chunk size');
        this.remaining = Number.parseInt(size[1] as string, 16);
        this.chunkState = this.remaining === 0 ? 'trailer' : 'data';
        continue;
      }
      // Trailer fields are read and ignored; an empty line ends the body.
      if (line === '') {
        body.end();
        this.state = 'answering';
        return true;
      }
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > MAX_TRAILER_BYTES || BAD_VALUE.test(line)) throw new BadRequestError('malformed trailer');
    }
  }

  /** The handler's answer for the current request: written as one buffer; then the next request, or close. */
  answer(data: string | Buffer, close: boolean): void {
    if (this.state === 'closed') return;
    if (close || this.closesAfterAnswer) {
      this.state = 'closed';
      this.socket.end(data);
      return;
    }
    const flushed = this.socket.write(data);
    this.state = 'head';
    this.body = null;
    this.started = 0;
    this.idleSince = performance.now();
    if (!flushed) {
      // The client is not reading its answers: read nothing more from it until they have drained, as
      // node:http does, so pipelined requests cannot pile up answers in memory.
      this.draining = true;
      this.socket.pause();
      this.paused = true;
      this.socket.once('drain', () => {
        this.draining = false;
        this.next();
      });
      return;
    }
    this.next();
  }

  /** After an answer: read on, and parse whatever was pipelined behind it. */
  private next(): void {
    if (this.state === 'closed') return;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.buf !== null && this.state === 'head') {
      if (this.started === 0) this.started = performance.now();
      // Parsed now, unless this answer came from inside the parse loop, which goes on.
      if (!this.pumping) this.pump();
    }
  }

  /** An answer sent before its request's body was read closes the connection (the rest cannot be framed). */
  get closesAfterAnswer(): boolean {
    return this.state === 'body' || !this.keepAlive || this.ended || this.server.closing;
  }

  /** Answers the refusal's status with no body and closes: a request that cannot be read (its handler, if any, is ignored). */
  private refuse(err: EdgeError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.buf = null;
    this.server.options.onRefused?.(err, this.socket);
    if (this.socket.writable) this.socket.end(bare(err.statusCode));
    else this.socket.destroy();
  }

  private lost(): void {
    this.state = 'closed';
    this.buf = null;
    if (this.body && !this.body.complete) {
      this.body.fail(new InvalidBodyError('request aborted before the body was complete'));
    }
    this.server.forget(this);
  }
}

class Response implements LeanResponse {
  headersSent = false;
  private status = 200;
  private headers: Record<string, string | number> | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly head: boolean,
  ) {}

  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.status = status;
    this.headers = headers;
    return this;
  }

  end(body: string | Buffer = ''): void {
    if (this.headersSent) return;
    this.headersSent = true;
    let text = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? 'Unknown'}\r\n`;
    let length = false;
    let close = false;
    if (this.headers) {
      for (const name in this.headers) {
        const value = this.headers[name];
        const lower = name.toLowerCase();
        if (lower === 'content-length') length = true;
        if (lower === 'connection') {
          close = String(value).toLowerCase() === 'close';
          continue;
        }
        text += `${name}: ${value}\r\n`;
      }
    }
    if (!length) text += `content-length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\n`;
    const closing = close || this.conn.closesAfterAnswer;
    text += `date: ${httpDate()}\r\n`;
    text += closing ? 'connection: close\r\n\r\n' : this.conn.keepAliveHeader;
    if (this.head || body.length === 0) this.conn.answer(text, closing);
    else if (typeof body === 'string') this.conn.answer(text + body, closing);
    else this.conn.answer(Buffer.concat([Buffer.from(text, 'latin1'), body]), closing);
  }

  destroy(): void {
    this.headersSent = true;
    this.conn.destroy();
  }
}

class LeanHttp {
  readonly connections = new Set<Connection>();
  closing = false;
  readonly maxHeaderBytes: number;
  readonly keepAliveHeader: string;

  constructor(
    readonly options: LeanServerOptions,
    private readonly handler: Handler,
  ) {
    this.maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
    this.keepAliveHeader = `connection: keep-alive\r\nkeep-alive: timeout=${Math.max(1, Math.floor(options.keepAliveTimeoutMs / 1000))}\r\n\r\n`;
  }

  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true); // as node:http does: an answer is one write, never held back
    this.connections.add(new Connection(socket, this));
  }

  dispatch(conn: Connection, head: Head, body: Body): void {
    const req: LeanRequest = {
      method: head.method,
      url: head.url,
      httpVersion: head.version,
      headers: head.headers,
      socket: conn.socket,
      readBody(limit, done) {
        body.setLimit(limit);
        body.read(done);
      },
    };
    try {
      this.handler(req, new Response(conn, head.method === 'HEAD'));
    } catch (err) {
      // Never out of the socket's 'data' listener: that would stop the process for one request.
      conn.destroy();
      this.options.onHandlerError?.(err);
    }
  }

  forget(conn: Connection): void {
    this.connections.delete(conn);
  }

  check(): void {
    const now = performance.now();
    for (const c of this.connections) c.check(now, this.options);
  }
}

/** A `net.Server` (or `tls.Server` with `options.tls`) serving HTTP/1.1 requests to `handler`. */
export function createLeanServer(options: LeanServerOptions, handler: Handler): LeanServer {
  const lean = new LeanHttp(options, handler);
  const onSocket = (socket: Socket) => lean.accept(socket);
  const server = (
    options.tls ? createTlsServer(options.tls, onSocket) : createNetServer({ allowHalfOpen: true }, onSocket)
  ) as LeanServer;
  if (options.tls) server.on('tlsClientError', (_err, socket) => socket.destroy());
  const interval = Math.max(50, Math.min(1_000, options.headersTimeoutMs, options.requestTimeoutMs));
  let timer: NodeJS.Timeout | undefined;
  server.on('listening', () => {
    timer ??= setInterval(() => lean.check(), interval);
    timer.unref();
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    lean.closing = true;
    clearInterval(timer);
    return close(cb);
  }) as typeof server.close;
  server.closeIdleConnections = () => {
    for (const c of lean.connections) if (c.idle) c.destroy();
  };
  server.closeAllConnections = () => {
    for (const c of lean.connections) c.destroy();
  };
  return server;
}
