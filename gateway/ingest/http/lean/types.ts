import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { EdgeError } from '../../../errors.js';

export interface LeanRequest {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1';
  /** Lower-cased names; duplicates joined with ", " (the first kept for the headers in head-parser.ts's FIRST_WINS). */
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

export type LeanHandler = (req: LeanRequest, res: LeanResponse) => void;
