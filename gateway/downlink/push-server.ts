/**
 * The downlink listener (`downlink.port`), TagoIO's MQTT relay contract:
 *   POST /publish        {"topic","message","qos","retain"[,"device"|"serial"]}
 *                        → 200 {"status":true,"result":{"id"}} once stored (downlink.sqlite, or the cluster's quorum)
 *   GET  /downlink/{id}  → 200 {"status":true,"result":{id,status,…}}
 *   GET  /downlink?status=expired|dead_letter|queued|delivered[&limit=N]  → the latest ones, newest first
 * Both need the secret: `Authorization: <secret>` (as the relay's callers send it) or `Bearer <secret>`.
 *   401 ◀─ secret   413 ◀─ body or message too large   400 ◀─ a body field (named)
 *   404 ◀─ unknown device (registry mode) or id   503 ◀─ downlink.maxQueued reached (Retry-After)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import {
  DownlinkInvalidError,
  DownlinkNotFoundError,
  DownlinkTooLargeError,
  DownlinkUnauthorizedError,
  type EdgeError,
  MethodNotAllowedError,
  NotFoundError,
  toEdgeError,
} from '../errors.js';
import type { Logger } from '../log.js';
import { downlinkEvents } from './downlink-events.js';
import type { DownlinkMessage, DownlinkStatus } from './downlink-store.js';
import { type PublishLimits, type PublishRequest, parsePublishRequest } from './publish-request.js';

export interface PushServerDeps {
  secret: string;
  limits: PublishLimits;
  log: Logger;
  /** Resolves the target and queues durably; throws an EdgeError to refuse. */
  accept(req: PublishRequest): Promise<DownlinkMessage>;
  status(id: string): DownlinkMessage | undefined;
  list(status: DownlinkStatus, limit: number): DownlinkMessage[];
  tls?: SecureContextOptions;
}

const STATUSES: readonly DownlinkStatus[] = ['queued', 'delivered', 'expired', 'dead_letter'];

const digest = (s: string) => createHash('sha256').update(s).digest();

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** What `GET /downlink/{id}` answers: the outcome, never the payload. */
export function statusView(m: DownlinkMessage) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: m.id,
    status: m.status,
    topic: m.topic,
    qos: m.qos,
    retain: m.retain,
    source: m.source,
    reason: m.reason,
    created_at: iso(m.createdAt),
    expires_at: iso(m.expiresAt),
    finished_at: iso(m.finishedAt),
  };
}

export function createPushServer(deps: PushServerDeps): Server {
  const want = digest(deps.secret);
  // A JSON string may escape every byte as \uXXXX: room for that plus the other fields.
  const bodyLimit = deps.limits.maxMessageBytes * 6 + 4_096;

  function authorize(req: IncomingMessage): void {
    const h = req.headers.authorization;
    const given = h === undefined ? undefined : h.startsWith('Bearer ') ? h.slice(7) : h;
    // Digests of equal length: the comparison takes the same time whatever the secret's prefix.
    if (given === undefined || !timingSafeEqual(digest(given), want)) {
      throw new DownlinkUnauthorizedError(
        'Authorization Denied: send Authorization: <downlink.secret> (or Bearer <downlink.secret>)',
      );
    }
  }

  function fail(res: ServerResponse, raw: unknown): void {
    const err: EdgeError = toEdgeError(raw);
    if (err.code === 'EDGE_ERR_INTERNAL') deps.log.error({ err: raw }, 'internal error on the downlink listener');
    else deps.log.info({ code: err.code, message: err.message }, 'downlink request refused');
    downlinkEvents.refused.publish({ code: err.code });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = {};
    if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
    if (err.statusCode === 413) headers.connection = 'close';
    const message = err.code === 'EDGE_ERR_INTERNAL' ? 'internal error' : err.message;
    send(res, err.code === 'EDGE_ERR_INTERNAL' ? 500 : err.statusCode, { status: false, message }, headers);
  }

  function publish(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > bodyLimit) {
      throw new DownlinkTooLargeError(
        `body: ${declared} bytes is over ${bodyLimit} (downlink.maxMessageBytes ${deps.limits.maxMessageBytes})`,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > bodyLimit) {
        over = true;
        fail(
          res,
          new DownlinkTooLargeError(
            `body: over ${bodyLimit} bytes (downlink.maxMessageBytes ${deps.limits.maxMessageBytes})`,
          ),
        );
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      (async () => {
        const msg = await deps.accept(parsePublishRequest(Buffer.concat(chunks), deps.limits));
        send(res, 200, { status: true, result: { id: msg.id, status: msg.status } });
      })().catch((err: unknown) => fail(res, err));
    });
    req.on('error', (err) => fail(res, err));
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    try {
      authorize(req);
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (path === '/publish') {
        if (req.method !== 'POST') throw new MethodNotAllowedError(`${req.method} /publish is not supported (POST)`);
        publish(req, res);
        return;
      }
      if (path === '/downlink') {
        if (req.method !== 'GET') throw new MethodNotAllowedError(`${req.method} /downlink is not supported (GET)`);
        req.resume();
        const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        const st = q.get('status') ?? 'dead_letter';
        if (!STATUSES.includes(st as DownlinkStatus)) {
          throw new DownlinkInvalidError(`status: "${st}" is not one of ${STATUSES.join(', ')}`);
        }
        const limit = Math.min(1_000, Math.max(1, Number(q.get('limit') ?? 100) || 100));
        send(res, 200, { status: true, result: deps.list(st as DownlinkStatus, limit).map(statusView) });
        return;
      }
      const m = /^\/downlink\/([^/]+)$/.exec(path);
      if (m) {
        if (req.method !== 'GET') throw new MethodNotAllowedError(`${req.method} ${path} is not supported (GET)`);
        req.resume();
        const id = decodeURIComponent(m[1] as string);
        const msg = deps.status(id);
        if (!msg) throw new DownlinkNotFoundError(`no downlink message ${id}`);
        send(res, 200, { status: true, result: statusView(msg) });
        return;
      }
      throw new NotFoundError(`no route ${req.method} ${path} (POST /publish, GET /downlink/{id})`);
    } catch (err) {
      req.resume();
      fail(res, err);
    }
  };
  const server = deps.tls ? createHttpsServer(deps.tls, handler) : createHttpServer(handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
