/**
 * HTTP ingest, TagoIO-compatible: a device or the official SDK points here unchanged.
 *   POST /data  → 200 {"status":true,"result":"N Data Added"} only after the durable commit
 *   GET  /info  → the device as the gateway knows it
 *   GET  /data  → the device's queued downlinks, when the downlink is on (gateway/downlink/http-read.ts)
 *   GET  /healthz, /readyz, /metrics
 * Errors answer {"status":false,"message":"…"} with the status of the EdgeError's code.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { assertJsonDepth } from '../../admission/json-depth.js';
import type { DeviceDirectory } from '../../auth/device-directory.js';
import type { Config } from '../../config/schema.js';
import {
  type EdgeError,
  InvalidBodyError,
  MethodNotAllowedError,
  NotFoundError,
  ShuttingDownError,
  toEdgeError,
  UnsupportedMediaTypeError,
} from '../../errors.js';
import { events } from '../../events.js';
import type { Logger } from '../../log.js';
import type { Device } from '../../model.js';
import type { IngestInput, IngestPipeline } from '../pipeline.js';
import { createLeanServer, type LeanRequest, type LeanResponse } from './lean/server.js';
import { tokenFromHeaders } from './token.js';

/** What admission and mTLS use of a request. */
export interface HttpRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
}

/** The ingest server: a `net.Server` (or `tls.Server`) that can drop idle and all connections on shutdown. */
export type HttpIngestServer = NetServer & { closeIdleConnections(): void; closeAllConnections(): void };

export interface HttpIngestDeps {
  config: Config['http'];
  directory: DeviceDirectory;
  pipeline: IngestPipeline;
  log: Logger;
  /** Prometheus text for GET /metrics. */
  metrics(): Promise<{ contentType: string; body: string }>;
  readiness(): { ready: boolean; [k: string]: unknown };
  isShuttingDown(): boolean;
  /** mTLS: the device a verified client certificate stands for, if any. */
  deviceFromCertificate?(req: HttpRequest): Device | undefined;
  /** Admission before the token is looked at (address lists, auth cool-down); throws an EdgeError to refuse. */
  admit?(req: HttpRequest): void;
  /** An authenticated device's upload (POST /data): its upload rate; throws an EdgeError to refuse. */
  limit?(req: HttpRequest, device: Device): void;
  /** The token was missing or refused (per-address auth-failure cool-down). */
  onAuthFailure?(req: HttpRequest): void;
  tls?: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean };
  /** Downlink: GET /data answers this device's queued messages as TagoIO records (absent: 405). */
  readData?(device: Device, search: string): Promise<{ status: number; body: unknown }>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function send(res: LeanResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The 200 for `n` points: the same bytes `send(res, 200, {status: true, result: "n Data Added"})` writes,
 * built once per n (the hot path answers the same few counts over and over).
 */
const okCache: Array<{ text: string; headers: Record<string, string | number> }> = [];
const OK_CACHE_MAX = 1_024;

function sendOk(res: LeanResponse, n: number): void {
  let ok = okCache[n];
  if (ok === undefined) {
    const text = JSON.stringify({ status: true, result: `${n} Data Added` });
    ok = { text, headers: { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text) } };
    if (n < OK_CACHE_MAX) okCache[n] = ok;
  }
  res.writeHead(200, ok.headers);
  res.end(ok.text);
}

function sendError(res: LeanResponse, err: EdgeError): void {
  const headers: Record<string, string> = {};
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  // The body may still be arriving (413, 401): ask the client to close rather than drain it.
  if (err.statusCode === 413) headers.connection = 'close';
  send(res, err.statusCode, { status: false, message: err.message }, headers);
}

function bodyKind(contentType: string | undefined): 'json' | 'raw' | 'sniff' | 'unsupported' {
  if (!contentType) return 'sniff';
  if (contentType === 'application/json') return 'json';
  const ct = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (ct === 'application/json' || ct.endsWith('+json')) return 'json';
  if (ct.startsWith('text/') || ct === 'application/octet-stream') return 'raw';
  if (ct === 'application/x-www-form-urlencoded') return 'sniff';
  return 'unsupported';
}

function toInput(kind: 'json' | 'raw' | 'sniff', body: Buffer): IngestInput {
  if (kind === 'raw') return { kind: 'raw', payload: body };
  if (kind === 'json') assertJsonDepth(body, 'body');
  if (kind === 'sniff') {
    try {
      assertJsonDepth(body, 'body');
    } catch {
      return { kind: 'raw', payload: body };
    }
  }
  try {
    return { kind: 'json', body: JSON.parse(body.toString('utf8')), raw: body };
  } catch (err) {
    if (kind === 'sniff') return { kind: 'raw', payload: body };
    throw new InvalidBodyError(`body is not valid JSON: ${(err as Error).message}`);
  }
}

export function createHttpIngest(deps: HttpIngestDeps): HttpIngestServer {
  const { config, directory, pipeline, log } = deps;

  /** POST /data: the ingest stages (pipeline.ts) with what HTTP supplies; 200 only after the commit. */
  function postData(req: LeanRequest, res: LeanResponse, arrivedAtMs: number): void {
    pipeline.run({
      protocol: 'http',
      arrivedAtMs,
      admit() {
        if (deps.isShuttingDown()) {
          throw new ShuttingDownError('gateway is shutting down; retry shortly', { retryAfterSeconds: 5 });
        }
        deps.admit?.(req);
      },
      authenticate: () => authenticate(req),
      limit: (device) => deps.limit?.(req, device),
      decode(_device, done) {
        const kind = bodyKind(req.headers['content-type']);
        if (kind === 'unsupported') {
          throw new UnsupportedMediaTypeError(
            `content-type ${req.headers['content-type']} is not supported (use application/json, text/plain or application/octet-stream)`,
          );
        }
        // A body that cannot be read is answered in the same turn, before the connection closes.
        req.readBody(config.bodyLimitBytes, (err, body) => {
          if (err !== null || body === null) return done(err ?? new InvalidBodyError('body could not be read'));
          let input: IngestInput;
          try {
            input = toInput(kind, body);
          } catch (e) {
            return done(e);
          }
          done(null, input);
        });
      },
      ack: (points) => sendOk(res, points),
      refuse(err) {
        fail(req, res, err);
        return undefined;
      },
    });
  }

  /** The device a request stands for (client certificate, or token); a failed lookup is counted. */
  function authenticate(req: LeanRequest): Device {
    try {
      // HTTPS with mTLS: a verified client certificate mapped to a device stands for its token.
      const fromCert = deps.deviceFromCertificate?.(req);
      if (fromCert) return fromCert;
      return directory.resolve(tokenFromHeaders(req.headers));
    } catch (err) {
      deps.onAuthFailure?.(req);
      throw err;
    }
  }

  function info(req: LeanRequest, res: LeanResponse): void {
    deps.admit?.(req);
    const device = authenticate(req);
    send(res, 200, {
      status: true,
      result: {
        id: device.id,
        name: device.name,
        tags: device.tags,
        params: device.params.map((p) => ({ key: p.key, value: p.value })),
        payload_parser: device.parser ?? null,
        gateway: 'tago-edge',
      },
    });
  }

  async function metrics(req: LeanRequest, res: LeanResponse): Promise<void> {
    try {
      const m = await deps.metrics();
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
    } catch (raw) {
      fail(req, res, raw);
    }
  }

  /** Routes throw what they refuse at once; what goes wrong later (a body, the pipeline, metrics) they answer themselves. */
  function route(req: LeanRequest, res: LeanResponse): void {
    const arrivedAt = Date.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    switch (path) {
      case '/data':
        if (req.method === 'GET' && deps.readData) {
          deps.admit?.(req);
          const device = authenticate(req);
          deps.readData(device, q === -1 ? '' : url.slice(q)).then(
            (answer) => send(res, answer.status, answer.body),
            (raw) => fail(req, res, raw),
          );
          return;
        }
        if (req.method !== 'POST')
          throw new MethodNotAllowedError(`${req.method} /data is not supported here (POST only)`);
        postData(req, res, arrivedAt);
        return;
      case '/info':
        if (req.method !== 'GET') throw new MethodNotAllowedError(`${req.method} /info is not supported (GET only)`);
        info(req, res);
        return;
      case '/healthz':
        send(res, 200, { status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
        return;
      case '/readyz': {
        const r = deps.readiness();
        send(res, r.ready ? 200 : 503, r);
        return;
      }
      case '/metrics':
        void metrics(req, res);
        return;
      default:
        deps.admit?.(req);
        throw new NotFoundError(`no route ${req.method} ${path}`);
    }
  }

  /** Answers a refused or failed request: an EdgeError with its status, anything else a logged 500. */
  function fail(req: LeanRequest, res: LeanResponse, raw: unknown): void {
    const err = toEdgeError(raw);
    if (err.statusCode >= 500 && err.code === 'EDGE_ERR_INTERNAL') {
      log.error({ err: raw, path: req.url }, 'internal error on HTTP ingest');
    } else {
      log.debug({ code: err.code, path: req.url, message: err.message }, 'HTTP request refused');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err.code === 'EDGE_ERR_INTERNAL') {
      send(res, 500, { status: false, message: 'internal error' });
      return;
    }
    sendError(res, err);
  }

  /** A request refused before any route saw it (malformed, head too large, too slow): logged and counted. */
  function refused(err: EdgeError, address: string | undefined): void {
    log.debug({ code: err.code, address, message: err.message }, 'HTTP request refused before routing');
    events.ingestRejected.publish({ protocol: 'http', code: err.code, points: 0 });
  }

  const handler = (req: LeanRequest, res: LeanResponse) => {
    try {
      route(req, res);
    } catch (raw) {
      fail(req, res, raw);
    }
  };

  return createLeanServer(
    {
      bodyLimitBytes: config.bodyLimitBytes,
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      ...(deps.tls ? { tls: deps.tls } : {}),
      onHandlerError: (err) => log.error({ err }, 'internal error on HTTP ingest; connection closed'),
      onRefused: (err, socket) => refused(err, socket.remoteAddress),
    },
    handler,
  );
}
