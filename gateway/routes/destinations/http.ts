/**
 * The webhook destination: `POST {url}` with `{"device":{"id","name"},"records":[…]}` as JSON (the records
 * exactly as stored, never the device token), the configured headers, and optionally a client certificate.
 *
 * 2xx = delivered. 429 = rate limited (Retry-After honoured, the route pauses). 400, 413 and 422 = the
 * receiver refused this body for good: dead letter `http_<status>` with its answer. Everything else — 401/403
 * (credentials an operator fixes), 404 (a wrong URL), 408, 5xx, timeouts, refused connections — is retried:
 * a misconfigured receiver must not turn a backlog into dead letters.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { DestinationConfig } from '../../config/routes-schema.js';
import { retryAfterSeconds } from '../../forward/retry-policy.js';
import type { Delivery, DeliveryOutcome, Destination } from '../destination.js';

type HttpConfig = Extract<DestinationConfig, { type: 'http' }>;

const REFUSED_FOR_GOOD = new Set([400, 413, 422]);

/** A PEM file of a route's destination, read at start: an unreadable one stops the gateway with its path. */
export function readRouteFile(route: string, field: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(
      `routes[${route}].destination.${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

export class HttpDestination implements Destination {
  readonly type = 'http';
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly config: HttpConfig,
    opts: { route: string; connections: number; now: () => number },
  ) {
    this.now = opts.now;
    const ca = readRouteFile(opts.route, 'caFile', config.caFile);
    const cert = readRouteFile(opts.route, 'certFile', config.certFile);
    const key = readRouteFile(opts.route, 'keyFile', config.keyFile);
    this.agent = new Agent({
      connections: opts.connections,
      keepAliveTimeout: 10_000,
      connect: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
    });
    this.headers = {
      'user-agent': 'tago-edge',
      ...Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k.toLowerCase(), v])),
      'content-type': 'application/json',
    };
  }

  private readonly now: () => number;

  async deliver({ device, batch }: Delivery): Promise<DeliveryOutcome> {
    const body = `{"device":${JSON.stringify({ id: device.id, name: device.name })},"records":${batch.body}}`;
    let status = 0;
    let text = '';
    let retryAfterHeader: string | string[] | undefined;
    try {
      const res = await request(this.config.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: this.headers,
        body,
        headersTimeout: this.config.timeoutMs,
        bodyTimeout: this.config.timeoutMs,
      });
      status = res.statusCode;
      retryAfterHeader = res.headers['retry-after'];
      text = (await res.body.text()).slice(0, 500);
    } catch (err) {
      return { kind: 'retry', error: (err as Error).message };
    }
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    const retryAfter = retryAfterSeconds(retryAfterHeader, '', this.now());
    if (status === 429) {
      return { kind: 'rate_limited', error: `429 ${text}`, retryAfterMs: (retryAfter ?? 60) * 1000 };
    }
    if (REFUSED_FOR_GOOD.has(status)) return { kind: 'dead_letter', reason: `http_${status}`, message: text };
    return {
      kind: 'retry',
      error: `${status} ${text}`,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter * 1000 }),
    };
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
