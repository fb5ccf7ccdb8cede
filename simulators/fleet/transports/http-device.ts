/**
 * HTTP(S) devices: `POST <target>/data` with `Device-Token`, JSON as `application/json`, hex frames as a
 * `text/plain` hex string. One undici Pool with keep-alive shared by the fleet, bounded to `connections`.
 *
 * Open model: points never wait for earlier answers, but at most `connections` requests are in flight; the
 * rest wait in a FIFO here, where we can see them. Latency from schedule therefore includes that wait (what a
 * device would experience), and latency from send is the target's own response time.
 */
import { Pool } from 'undici';
import type { Payload } from '../profiles/payload.js';
import type { OutPoint, Transport, TransportEvents } from './transport.js';

export interface HttpTransportOptions {
  target: string;
  connections: number;
  timeoutMs: number;
  /** Bound on the FIFO; beyond it a point is a `queue-overflow` error. */
  queueLimit: number;
  insecure: boolean;
  ca: string | Buffer | undefined;
  now: () => number;
}

function encode(p: Payload): { contentType: string; body: string | Buffer } {
  switch (p.type) {
    case 'json':
      return { contentType: 'application/json', body: JSON.stringify(p.value) };
    case 'text':
      return { contentType: 'application/json', body: p.text };
    case 'frame':
      return { contentType: 'text/plain', body: p.bytes.toString('hex') };
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export class HttpTransport implements Transport {
  readonly #o: HttpTransportOptions;
  readonly #ev: TransportEvents;
  readonly #pool: Pool;
  readonly #path: string;
  readonly #fifo: OutPoint[] = [];
  #head = 0;
  #inFlight = 0;

  constructor(o: HttpTransportOptions, ev: TransportEvents) {
    this.#o = o;
    this.#ev = ev;
    const url = new URL(o.target);
    this.#path = `${url.pathname.replace(/\/+$/, '')}/data`;
    const connect = url.protocol === 'https:' ? { rejectUnauthorized: !o.insecure, ...(o.ca ? { ca: o.ca } : {}) } : {};
    this.#pool = new Pool(url.origin, {
      connections: o.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      connect,
    });
  }

  async open(): Promise<void> {}

  send(p: OutPoint): void {
    if (this.#inFlight < this.#o.connections) {
      this.#dispatch(p);
      return;
    }
    if (this.queued() >= this.#o.queueLimit) {
      this.#ev.onOutcome(p, { type: 'error', kind: 'queue-overflow' });
      return;
    }
    this.#fifo.push(p);
  }

  #dispatch(p: OutPoint): void {
    this.#inFlight++;
    p.sentAt = this.#o.now();
    p.wasSent = true;
    this.#ev.onSend(p, false);
    const { contentType, body } = encode(p.payload);
    this.#pool
      .request({
        path: this.#path,
        method: 'POST',
        headers: { 'device-token': p.device.token, 'content-type': contentType },
        body,
      })
      .then(
        async (res) => {
          const at = this.#o.now();
          await res.body.dump().catch(() => {});
          if (res.statusCode >= 200 && res.statusCode < 300) this.#ev.onOutcome(p, { type: 'ack', at });
          else if (res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 429)
            this.#ev.onOutcome(p, { type: 'refused', status: res.statusCode, at });
          else this.#ev.onOutcome(p, { type: 'error', kind: `http-${res.statusCode}` });
        },
        (err: { code?: string }) => {
          this.#ev.onOutcome(p, { type: 'error', kind: TIMEOUT_CODES.has(err.code ?? '') ? 'timeout' : 'network' });
        },
      )
      .finally(() => {
        this.#inFlight--;
        this.#next();
      });
  }

  #next(): void {
    while (this.#inFlight < this.#o.connections && this.#head < this.#fifo.length) {
      const p = this.#fifo[this.#head]!;
      this.#fifo[this.#head++] = undefined as unknown as OutPoint; // release for GC
      if (this.#head > 1024 && this.#head * 2 > this.#fifo.length) {
        this.#fifo.splice(0, this.#head);
        this.#head = 0;
      }
      this.#dispatch(p);
    }
  }

  outstanding(): number {
    return this.#inFlight + this.queued();
  }

  queued(): number {
    return this.#fifo.length - this.#head;
  }

  connectedCount(): number {
    const s = this.#pool.stats;
    return s.connected;
  }

  storm(): void {
    // HTTP devices hold no session: nothing to storm.
  }

  async close(): Promise<void> {
    this.#fifo.length = 0;
    this.#head = 0;
    await this.#pool.destroy().catch(() => {});
  }
}
