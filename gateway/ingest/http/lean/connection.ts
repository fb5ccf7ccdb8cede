/**
 * One client connection's state machine: a head is parsed once complete, its body read as it arrives, the
 * request handed to the handler, and the next request parsed only after this one is answered (pipelined
 * requests answered in order). Keep-alive, `Expect: 100-continue`, deadlines (checked by the server) and
 * back-pressure (reading pauses while answers wait for the client, or while too much is pipelined) live here.
 */
import type { Socket } from 'node:net';
import {
  BadRequestError,
  type EdgeError,
  ExpectationFailedError,
  HeadersTooLargeError,
  InvalidBodyError,
  RequestTimeoutError,
} from '../../../errors.js';
import { Body } from './body.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { type Framing, framingOf, type Head, parseHead } from './head-parser.js';
import { type AnswerSink, bare } from './response.js';
import type { LeanServerOptions } from './types.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Bytes kept for requests pipelined behind one being answered before the socket is paused. */
const PIPELINE_BUFFER_BYTES = 64 * 1024;

/** What a connection needs of its server. */
export interface ConnectionHost {
  readonly options: LeanServerOptions;
  readonly maxHeaderBytes: number;
  readonly keepAliveHeader: string;
  readonly closing: boolean;
  dispatch(conn: Connection, head: Head, body: Body): void;
  forget(conn: Connection): void;
}

/** What parsing throws for a request it refuses (anything else thrown is a bug and propagates). */
function isHttpRefusal(err: unknown): err is EdgeError {
  return err instanceof BadRequestError || err instanceof ExpectationFailedError || err instanceof HeadersTooLargeError;
}

export class Connection implements AnswerSink {
  private buf: Buffer | null = null;
  private scanFrom = 0;
  private state: 'head' | 'body' | 'answering' | 'closed' = 'head';
  /** performance.now() of the current request's first byte; 0 while idle. */
  private started = 0;
  private idleSince = performance.now();
  private framing: Framing = { kind: 'none' };
  private remaining = 0;
  private chunked = new ChunkedDecoder();
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
    private readonly server: ConnectionHost,
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
      // Over the limit only once the head's end cannot be within it: its CRLF CRLF may be arriving in pieces.
      if (buf.length > max + 3) throw new HeadersTooLargeError('request head over the 16 KiB limit');
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
    // A request asking to upgrade is answered as HTTP (no protocol is switched to) and is the connection's
    // last: what follows it is the other protocol's bytes, never read as requests (llhttp stops there too).
    if (head.headers.upgrade !== undefined && /(^|,)\s*upgrade\s*(,|$)/.test(conn)) this.keepAlive = false;
    this.framing = framing;
    const limit = this.server.options.bodyLimitBytes;
    const body = new Body(limit, framing.kind === 'length' ? framing.length : null);
    this.body = body;
    if (framing.kind === 'none') {
      body.end();
      this.state = 'answering';
    } else {
      this.remaining = framing.kind === 'length' ? framing.length : 0;
      this.chunked = new ChunkedDecoder();
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
    const buf = this.buf;
    if (buf === null) return false;
    if (this.framing.kind === 'length') {
      const n = Math.min(this.remaining, buf.length);
      body.add(n === buf.length ? buf : buf.subarray(0, n));
      this.remaining -= n;
      this.buf = n === buf.length ? null : buf.subarray(n);
      if (this.remaining > 0) return false;
    } else {
      const step = this.chunked.decode(buf, (data) => {
        body.add(data);
        return !body.refused;
      });
      this.buf = step.rest;
      if (body.refused) return this.readBody();
      if (!step.done) return false;
    }
    // 'answering' before the reader hears of the body: an answer given from inside its callback must see
    // the body as read (else it would close the connection) and leave the state at 'head' for the next request.
    this.state = 'answering';
    body.end();
    return true;
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
