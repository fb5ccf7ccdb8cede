/**
 * Pull mode, for a gateway TagoIO cannot reach (NAT): each device with `downlink.pull` has its commands
 * polled from a variable in its own TagoIO bucket, `GET {upstream}/data?variable=<v>&qty=N&ordination=
 * ascending` with the device's token, and the records it turned into messages deleted there
 * (`DELETE /data?ids[0]=…`).
 *
 * Invariants:
 * - Exactly once: a record becomes a message in the same transaction that records its id as pulled
 *   (downlink-store.ts), so a record read again — after a crash between the commit and the DELETE, or a
 *   DELETE TagoIO has not applied yet — is skipped, and deleted again. In a cluster the record is claimed
 *   in the shared bucket before its message is written (jetstream-downlink-store.ts): once cluster-wide.
 * - Paced: one request at a time, GET and DELETE together at most `downlink.pull.requestsPerMinute`
 *   (a share of the plan's GET budget, beside forwarding's POST budget `upstream.requestsPerMinute`),
 *   each device about every `intervalMs`. A 429 waits its Retry-After (header, or the number in TagoIO's
 *   message); other failures back off, doubling up to a minute.
 * A record's `value` is the message (a non-string is sent as its JSON); `metadata.topic`, `metadata.qos`
 * (default 1) and `metadata.retain` override the device's topic and the defaults.
 */
import type { Clock, ClockTimer } from '../clock.js';
import type { Logger } from '../log.js';
import { downlinkEvents } from './downlink-events.js';
import type { DownlinkQueue } from './downlink-queue.js';
import type { DownlinkService } from './downlink-service.js';

export interface PullDevice {
  id: string;
  name: string;
  token: string;
  variable: string;
  topic: string;
}

export interface PullPollerDeps {
  upstreamUrl: string;
  devices: PullDevice[];
  service: DownlinkService;
  store: DownlinkQueue;
  clock: Clock;
  log: Logger;
  requestsPerMinute: number;
  intervalMs: number;
  qty: number;
  timeoutMs: number;
}

interface TagoRecord {
  id?: unknown;
  value?: unknown;
  metadata?: Record<string, unknown>;
}

const MAX_BACKOFF_MS = 60_000;

/** Milliseconds a 429 asks to wait: the Retry-After header, or the number in TagoIO's message. */
export function retryAfterMs(header: string | null, text: string): number {
  const h = header === null ? Number.NaN : Number(header);
  if (Number.isFinite(h) && h >= 0) return h * 1000;
  const m = /Retry-After:\s*(\d+)/i.exec(text);
  return m ? Number(m[1]) * 1000 : 60_000;
}

type Outcome = { kind: 'ok' } | { kind: 'failed' } | { kind: 'limited'; waitMs: number };

export class PullPoller {
  readonly #deps: PullPollerDeps;
  /** The spacing between two requests that keeps within the budget. */
  readonly #gapMs: number;
  readonly #base: string;
  #next = 0;
  #timer: ClockTimer | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #failures = 0;
  #wake: (() => void) | undefined;

  constructor(deps: PullPollerDeps) {
    this.#deps = deps;
    this.#gapMs = Math.max(60_000 / deps.requestsPerMinute, deps.intervalMs / Math.max(1, deps.devices.length));
    this.#base = deps.upstreamUrl.replace(/\/+$/, '');
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#deps.clock.clearTimeout(this.#timer);
    this.#wake?.();
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    const t = this.#deps.clock.setTimeout(() => {
      this.#running = this.#pollNext().then(
        (waitMs) => this.#schedule(waitMs),
        (err: unknown) => {
          this.#deps.log.error({ err }, 'downlink pull failed');
          this.#schedule(this.#backoff());
        },
      );
    }, ms);
    t.unref?.();
    this.#timer = t;
  }

  /** Polls the next device (and deletes what it consumed); resolves with the wait before the next request. */
  async #pollNext(): Promise<number> {
    const { devices, qty } = this.#deps;
    const device = devices[this.#next++ % devices.length] as PullDevice;
    const url = `${this.#base}/data?variable=${encodeURIComponent(device.variable)}&qty=${qty}&ordination=ascending`;
    const got = await this.#request('get', device, url);
    if (got.outcome.kind !== 'ok') return this.#wait(got.outcome);
    this.#failures = 0;
    let records: TagoRecord[] = [];
    try {
      const body = JSON.parse(got.text) as { result?: unknown };
      if (Array.isArray(body.result)) records = body.result as TagoRecord[];
    } catch {
      this.#deps.log.warn({ device: device.id }, 'downlink pull: GET /data answered something that is not JSON');
    }
    const { fresh, consumed } = await this.#consume(device, records);
    downlinkEvents.pull.publish({ method: 'get', status: got.status, commands: fresh });
    if (consumed.length === 0) return this.#gapMs;
    // The DELETE takes a slot of the budget too.
    await this.#sleep(this.#gapMs);
    if (this.#stopped) return this.#gapMs;
    const q = consumed.map((id, i) => `ids[${i}]=${encodeURIComponent(id)}`).join('&');
    const del = await this.#request(
      'delete',
      device,
      `${this.#base}/data?variable=${encodeURIComponent(device.variable)}&${q}&qty=${consumed.length}`,
    );
    downlinkEvents.pull.publish({ method: 'delete', status: del.status, commands: 0 });
    // A record left upstream is skipped next time (it is recorded as pulled) and deleted again.
    return del.outcome.kind === 'ok' ? this.#gapMs : this.#wait(del.outcome);
  }

  /** Queues every record not pulled before, oldest first; returns how many, and every pulled id seen. */
  async #consume(device: PullDevice, records: TagoRecord[]): Promise<{ fresh: number; consumed: string[] }> {
    const { store, service, log } = this.#deps;
    const consumed: string[] = [];
    let fresh = 0;
    for (const r of records) {
      if (typeof r.id !== 'string' || r.id === '') continue;
      if (store.isPulled(device.id, r.id)) {
        consumed.push(r.id);
        continue;
      }
      const meta = r.metadata ?? {};
      const message = typeof r.value === 'string' ? r.value : JSON.stringify(r.value ?? null);
      try {
        await service.accept(
          {
            target: device.id,
            topic: typeof meta.topic === 'string' && meta.topic !== '' ? meta.topic : device.topic,
            payload: Buffer.from(message, 'utf8'),
            qos: meta.qos === 0 ? 0 : 1,
            retain: meta.retain === true,
            source: 'pull',
          },
          { deviceId: device.id, recordId: r.id },
        );
      } catch (err) {
        // Queue full (or the cluster unreachable): the record stays upstream, read again at a later poll.
        log.warn({ device: device.id, record: r.id, err: (err as Error).message }, 'downlink pull: not queued');
        break;
      }
      consumed.push(r.id);
      fresh++;
    }
    return { fresh, consumed };
  }

  async #request(
    method: 'get' | 'delete',
    device: PullDevice,
    url: string,
  ): Promise<{ status: number; text: string; outcome: Outcome }> {
    const { log, timeoutMs } = this.#deps;
    let res: Response;
    try {
      res = await fetch(url, {
        method: method.toUpperCase(),
        headers: { 'device-token': device.token },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if (method === 'get') downlinkEvents.pull.publish({ method, status: 0, commands: 0 });
      log.warn({ device: device.id, method, err: (err as Error).message }, 'downlink pull: TagoIO unreachable');
      return { status: 0, text: '', outcome: { kind: 'failed' } };
    }
    const text = await res.text().catch(() => '');
    if (res.status === 429) {
      if (method === 'get') downlinkEvents.pull.publish({ method, status: 429, commands: 0 });
      const waitMs = retryAfterMs(res.headers.get('retry-after'), text);
      log.warn({ device: device.id, method, waitMs }, 'downlink pull: rate limited by TagoIO');
      return { status: 429, text, outcome: { kind: 'limited', waitMs } };
    }
    if (!res.ok) {
      if (method === 'get') downlinkEvents.pull.publish({ method, status: res.status, commands: 0 });
      log.warn(
        { device: device.id, method, status: res.status, body: text.slice(0, 200) },
        `downlink pull: ${method.toUpperCase()} /data failed`,
      );
      return { status: res.status, text, outcome: { kind: 'failed' } };
    }
    return { status: res.status, text, outcome: { kind: 'ok' } };
  }

  #wait(outcome: Outcome): number {
    if (outcome.kind === 'limited') return Math.max(outcome.waitMs, this.#gapMs);
    return this.#backoff();
  }

  /** A wait that stop() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#deps.clock.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      t.unref?.();
      this.#wake = () => {
        this.#deps.clock.clearTimeout(t);
        resolve();
      };
    });
  }

  #backoff(): number {
    this.#failures++;
    return Math.min(MAX_BACKOFF_MS, this.#gapMs * 2 ** Math.min(this.#failures, 10));
  }
}
