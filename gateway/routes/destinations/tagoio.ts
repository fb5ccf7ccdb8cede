/**
 * The TagoIO destination: `POST {url}/data` with the device's `Device-Token`, the batch's JSON array as the
 * body. 2xx = delivered; 429 = rate limited (TagoIO's limit is per profile, so the whole route pauses);
 * 400/422 = dead letter with TagoIO's message; 401/403 = dead letter and the token refused; everything else
 * (5xx, timeouts, network errors, an unexpected 404) = retry, honouring Retry-After.
 */
import { Agent, request } from 'undici';
import { events } from '../../events.js';
import { classify, retryAfterSeconds, upstreamMessage } from '../../forward/retry-policy.js';
import type { Delivery, DeliveryOutcome, Destination } from '../destination.js';

export interface TagoioOptions {
  url: string;
  timeoutMs: number;
  /** Connections kept to TagoIO (the route's maxInFlight). */
  connections: number;
  now: () => number;
  monotonic: () => number;
}

export class TagoioDestination implements Destination {
  readonly type = 'tagoio';
  private readonly agent: Agent;
  private readonly url: string;

  constructor(private readonly opts: TagoioOptions) {
    this.agent = new Agent({ connections: opts.connections, keepAliveTimeout: 10_000, pipelining: 1 });
    this.url = `${opts.url.replace(/\/+$/, '')}/data`;
  }

  async deliver({ token, device, batch }: Delivery): Promise<DeliveryOutcome> {
    const started = this.opts.monotonic();
    let status = 0;
    let text = '';
    let retryAfterHeader: string | string[] | undefined;
    try {
      const res = await request(this.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'device-token': token, 'content-type': 'application/json', 'user-agent': 'tago-edge' },
        body: batch.body,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      status = res.statusCode;
      retryAfterHeader = res.headers['retry-after'];
      text = await res.body.text();
    } catch (err) {
      text = (err as Error).message;
    }
    events.forwardResponse.publish({
      deviceId: device.id,
      status,
      points: batch.points,
      durationMs: this.opts.monotonic() - started,
    });
    const outcome = classify(status);
    const retryAfter = retryAfterSeconds(retryAfterHeader, text, this.opts.now());
    switch (outcome) {
      case 'delivered':
        return { kind: 'delivered' };
      case 'rate_limited':
        return { kind: 'rate_limited', error: `429 ${upstreamMessage(text)}`, retryAfterMs: (retryAfter ?? 60) * 1000 };
      case 'dead_letter':
      case 'refused_token':
        return {
          kind: 'dead_letter',
          reason: `upstream_${status}`,
          message: upstreamMessage(text),
          refuseToken: outcome === 'refused_token',
        };
      case 'retry':
        return {
          kind: 'retry',
          error: status === 0 ? text : `${status} ${upstreamMessage(text)}`,
          ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter * 1000 }),
        };
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
