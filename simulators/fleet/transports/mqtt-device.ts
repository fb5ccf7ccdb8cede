/**
 * One simulated MQTT device (MQTT 3.1.1, username `Token`, password = device token, clean session).
 *
 * Invariants:
 * - A point is either queued here, in flight on the current connection, or reported (exactly once).
 * - When the connection drops, in-flight points go back to the front of the queue, in order, and are sent
 *   again after the reconnect (at-least-once, like real firmware): their latency still counts from schedule.
 * - Reconnects are ours (MQTT.js `reconnectPeriod: 0`): exponential backoff with jitter, a fresh client per
 *   attempt, so no callback of a dead connection can report an outcome (generation check).
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { Rng } from '../../random.js';
import type { OutPoint, TransportEvents } from './transport.js';
import { JSON_TOPIC, uplinkTopic } from './transport.js';

export interface MqttDeviceOptions {
  url: string;
  qos: 0 | 1;
  keepaliveSec: number;
  connectTimeoutMs: number;
  queueLimit: number;
  insecure: boolean;
  ca: string | Buffer | undefined;
  clientSuffix: string;
  backoffBaseMs: number;
  backoffMaxMs: number;
  now: () => number;
  rng: Rng;
}

export interface ConnectionEvents {
  connected(first: boolean): void;
  connectFailed(): void;
  disconnected(): void;
}

export class MqttDevice {
  readonly #o: MqttDeviceOptions;
  readonly #ev: TransportEvents;
  readonly #conn: ConnectionEvents;
  readonly device: OutPoint['device'];
  #client: MqttClient | undefined;
  #gen = 0;
  #connected = false;
  #everConnected = false;
  #stopped = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #immediateReconnect = false;
  readonly #queue: OutPoint[] = [];
  /** In flight on the current connection, in send order. */
  readonly #inflight = new Set<OutPoint>();
  #firstOutcome: ((ok: boolean) => void) | undefined;

  constructor(device: OutPoint['device'], o: MqttDeviceOptions, ev: TransportEvents, conn: ConnectionEvents) {
    this.device = device;
    this.#o = o;
    this.#ev = ev;
    this.#conn = conn;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  /** Connect; resolves true on CONNACK, false when the first attempt fails (retries continue in background). */
  start(): Promise<boolean> {
    return new Promise((resolve) => {
      this.#firstOutcome = resolve;
      this.#connect();
    });
  }

  send(p: OutPoint): void {
    if (this.#connected && this.#queue.length === 0) {
      this.#publish(p);
      return;
    }
    if (this.#queue.length >= this.#o.queueLimit) {
      this.#ev.onOutcome(p, { type: 'error', kind: 'queue-overflow' });
      return;
    }
    this.#queue.push(p);
    this.#flush();
  }

  /** Drop the connection as a network failure would, and reconnect at once (reconnect storm). */
  storm(): void {
    if (!this.#client || this.#stopped) return;
    this.#immediateReconnect = true;
    this.#client.stream?.destroy();
  }

  /** In-flight points older than `olderThan` (send time) stop being waited for: reported as timeouts. */
  expire(olderThan: number): void {
    for (const p of this.#inflight) {
      if (p.sentAt >= olderThan) break; // send order: the rest are younger
      this.#inflight.delete(p);
      this.#ev.onOutcome(p, { type: 'error', kind: 'timeout' });
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#gen++;
    this.#client?.removeAllListeners();
    this.#client?.on('error', () => {});
    this.#client?.end(true);
    this.#client = undefined;
    this.#connected = false;
    this.#firstOutcome?.(false);
    this.#firstOutcome = undefined;
  }

  #connect(): void {
    if (this.#stopped) return;
    const gen = ++this.#gen;
    const o = this.#o;
    const opts: IClientOptions = {
      protocolVersion: 4,
      username: 'Token',
      password: this.device.token,
      clientId: `${this.device.id}-${o.clientSuffix}`,
      keepalive: o.keepaliveSec,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      resubscribe: false,
      rejectUnauthorized: !o.insecure,
      ...(o.ca ? { ca: o.ca } : {}),
    };
    const client = mqtt.connect(o.url, opts);
    this.#client = client;
    client.on('connect', () => {
      if (gen !== this.#gen) return;
      this.#connected = true;
      this.#attempt = 0;
      this.#conn.connected(!this.#everConnected);
      this.#everConnected = true;
      this.#firstOutcome?.(true);
      this.#firstOutcome = undefined;
      this.#flush();
    });
    // Connection refused, DNS, TLS…: 'close' follows and drives the reconnect.
    client.on('error', () => {});
    client.on('close', () => {
      if (gen !== this.#gen) return;
      this.#gen++; // callbacks of this client are dead from here on
      client.removeAllListeners();
      client.on('error', () => {});
      client.end(true);
      if (this.#connected) {
        this.#connected = false;
        this.#conn.disconnected();
      } else {
        this.#conn.connectFailed();
        this.#firstOutcome?.(false);
        this.#firstOutcome = undefined;
      }
      // Back to the queue front, in send order, to go again after the reconnect.
      if (this.#inflight.size > 0) {
        this.#queue.unshift(...this.#inflight);
        this.#inflight.clear();
      }
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    let delay: number;
    if (this.#immediateReconnect) {
      this.#immediateReconnect = false;
      delay = 0;
    } else {
      const cap = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** this.#attempt);
      delay = cap * (0.5 + 0.5 * this.#o.rng());
      this.#attempt++;
    }
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #flush(): void {
    while (this.#connected && this.#queue.length > 0) this.#publish(this.#queue.shift()!);
  }

  #publish(p: OutPoint): void {
    const client = this.#client!;
    const gen = this.#gen;
    const resend = p.wasSent;
    p.sentAt = this.#o.now();
    p.wasSent = true;
    this.#inflight.add(p);
    this.#ev.onSend(p, resend);
    const payload = p.payload;
    const topic = payload.type === 'frame' ? uplinkTopic(this.device.id) : JSON_TOPIC;
    const body =
      payload.type === 'json' ? JSON.stringify(payload.value) : payload.type === 'text' ? payload.text : payload.bytes;
    client.publish(topic, body, { qos: this.#o.qos }, (err) => {
      if (gen !== this.#gen || !this.#inflight.delete(p)) return;
      if (err) {
        // Not a refusal (3.1.1 has none): a local failure while connected. Requeue and let close handle it.
        this.#queue.unshift(p);
        return;
      }
      this.#ev.onOutcome(p, { type: 'ack', at: this.#o.now() });
    });
  }
}
