/**
 * The ingest port's HTTP/1.1 server: requests parsed straight off the socket and each answer written as one
 * buffer, without `node:http`'s per-request streams and objects. Measured on the bench's `POST /data`
 * (docs/design/lean-http.md): a bare responder on `node:net` costs ~11 µs per request where a bare
 * `node:http` server costs ~20; the gateway's whole path went from 28–29k to 35–36k req/s.
 *
 * Strict by design: what a device, the TagoIO SDK or a monitoring probe sends is plain HTTP/1.1 (or 1.0), and
 * anything ambiguous is refused with 400 and the connection closed, never guessed at:
 * - request line `METHOD SP target SP HTTP/1.x`; header names are tokens; no obs-fold, no control characters
 *   (a bare CR or LF included) in names or values; the head is at most `maxHeaderBytes` (431 past it)
 *   (head-parser.ts);
 * - the body is framed by one Content-Length, or by `Transfer-Encoding: chunked` alone: both at once, two
 *   different lengths, another transfer coding or chunked on HTTP/1.0 are refused (request smuggling)
 *   (head-parser.ts, chunked-decoder.ts);
 * - `Expect: 100-continue` is answered 100 before the body is read (417 for any other expectation).
 * Connections (connection.ts): keep-alive (HTTP/1.1 unless `Connection: close`; 1.0 only with
 * `Connection: keep-alive`), pipelined requests answered in order (the next is parsed only after the current
 * one is answered), idle keep-alive connections closed after `keepAliveTimeoutMs`; a head not complete within
 * `headersTimeoutMs`, or a body not complete within `requestTimeoutMs` of the request's first byte, is
 * answered 408 (slowloris). A response sent before its request's body was read closes the connection. While
 * the server is closing, answers carry `Connection: close`.
 * test/security/http-differential.test.ts checks the parser against Node's own (llhttp), docs/design/lean-http.md says how.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Body } from './body.js';
import { Connection, type ConnectionHost } from './connection.js';
import type { Head } from './head-parser.js';
import { Response } from './response.js';
import type { LeanHandler, LeanRequest, LeanServerOptions } from './types.js';

export type { LeanRequest, LeanResponse, LeanServerOptions } from './types.js';

export type LeanServer = NetServer & {
  closeIdleConnections(): void;
  closeAllConnections(): void;
};

class LeanHttp implements ConnectionHost {
  readonly connections = new Set<Connection>();
  closing = false;
  readonly maxHeaderBytes: number;
  readonly keepAliveHeader: string;

  constructor(
    readonly options: LeanServerOptions,
    private readonly handler: LeanHandler,
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
export function createLeanServer(options: LeanServerOptions, handler: LeanHandler): LeanServer {
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
