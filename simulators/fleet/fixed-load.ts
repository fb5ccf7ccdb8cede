/**
 * The fleet's capacity path, for the bench: N MQTT.js 5 clients in this process, QoS 1, each device sending
 * one fixed message (topic + body built once), with no per-point accounting (no sequence numbers, ack
 * ranges or profiles: at 50,000+ messages/s that bookkeeping would make the generator the bound). Two drivers:
 * - `closedWindow`: each connection keeps `window` publishes outstanding and sends the next on each PUBACK.
 *   It measures capacity (messages/s) and PUBACK latency at that load; a closed loop, on purpose.
 * - `openModel`: publishes are scheduled at a fixed total rate (publish k at t0 + k/rate, round-robin over
 *   the connections) whatever the answers do, and latency is measured from the scheduled time, so a stall
 *   in the broker shows up in full (no coordinated omission).
 * Latencies go to an HdrHistogram in microseconds; only answers inside the measured window count.
 */
import type { Histogram } from 'hdr-histogram-js';
import mqtt, { type MqttClient } from 'mqtt';
import { summarize as latency, newHistogram, recordMs } from './histogram.js';

/** The one message every device sends. */
export interface FixedMessage {
  name: string;
  topic: string;
  body: Buffer;
  /** Points the gateway stores per message. */
  points: number;
}

export interface LoadResult {
  msgsPerSec: number;
  pointsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  acked: number;
  errors: number;
  /** open model: publishes still unanswered at the end of the window (backlog). */
  unanswered?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects `n` clients, `rampBatch` at a time; `token(i)` is connection i's password (device token).
 * `noDelay` sets TCP_NODELAY on the clients' sockets (MQTT.js leaves Nagle on): with several publishes in
 * flight per connection, Nagle holds each next publish until the broker's kernel ACKs the previous one,
 * which it delays to ride on the broker's next write, so a broker that answers later also receives later.
 */
export async function connectFixedFleet(
  url: string,
  n: number,
  token: (i: number) => string,
  { rampBatch = 50, noDelay = false }: { rampBatch?: number; noDelay?: boolean } = {},
): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += rampBatch) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + rampBatch); j++) {
      batch.push(
        mqtt.connectAsync(url, {
          clientId: `bench-${process.pid}-${j}-${Date.now().toString(36)}`,
          username: 'Token',
          password: token(j),
          clean: true,
          keepalive: 120,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          protocolVersion: 4,
        }),
      );
    }
    clients.push(...(await Promise.all(batch)));
  }
  for (const c of clients) {
    c.on('error', () => undefined);
    if (noDelay) (c.stream as unknown as { setNoDelay?(v: boolean): void }).setNoDelay?.(true);
  }
  return clients;
}

export async function closeFixedFleet(clients: MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
}

function summarize(h: Histogram, acked: number, points: number, errors: number, seconds: number): LoadResult {
  const l = latency(h);
  return {
    msgsPerSec: acked / seconds,
    pointsPerSec: (acked * points) / seconds,
    p50Ms: l.p50,
    p99Ms: l.p99,
    p999Ms: l.p999,
    maxMs: l.max,
    acked,
    errors,
  };
}

export async function closedWindow(
  clients: MqttClient[],
  payload: FixedMessage,
  opts: {
    window: number;
    warmupMs: number;
    durationMs: number;
    /** Called when the measured window opens and when it closes (CPU and machine samples). */
    onWindow?: (edge: 'start' | 'end') => void;
  },
): Promise<LoadResult> {
  const h = newHistogram();
  const t0 = performance.now();
  const start = t0 + opts.warmupMs;
  const end = start + opts.durationMs;
  if (opts.onWindow) {
    setTimeout(() => opts.onWindow?.('start'), opts.warmupMs);
    setTimeout(() => opts.onWindow?.('end'), opts.warmupMs + opts.durationMs);
  }
  let running = true;
  let acked = 0;
  let errors = 0;
  let outstanding = 0;
  const send = (c: MqttClient) => {
    const sentAt = performance.now();
    outstanding++;
    c.publish(payload.topic, payload.body, { qos: 1 }, (err) => {
      outstanding--;
      const now = performance.now();
      if (err) errors++;
      else if (sentAt >= start && now <= end) {
        acked++;
        recordMs(h, now - sentAt);
      } else if (now > start && now <= end) acked++; // sent in warm-up, answered in the window: counts as throughput
      if (running && !err) send(c);
    });
  };
  for (const c of clients) for (let k = 0; k < opts.window; k++) send(c);
  await sleep(end - performance.now());
  running = false;
  const drainUntil = Date.now() + 10_000;
  while (outstanding > 0 && Date.now() < drainUntil) await sleep(20);
  const r = summarize(h, acked, payload.points, errors, opts.durationMs / 1000);
  h.destroy();
  return r;
}

export async function openModel(
  clients: MqttClient[],
  payload: FixedMessage,
  opts: { ratePerSec: number; warmupMs: number; durationMs: number },
): Promise<LoadResult> {
  const h = newHistogram();
  const t0 = performance.now() + 5;
  const start = t0 + opts.warmupMs;
  const end = start + opts.durationMs;
  const periodMs = 1000 / opts.ratePerSec;
  let k = 0;
  let acked = 0;
  let errors = 0;
  let unanswered = 0;
  let measuredSent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; t0 + k * periodMs <= now && t0 + k * periodMs < end; k++) {
        const scheduled = t0 + k * periodMs;
        const c = clients[k % clients.length] as MqttClient;
        const inWindow = scheduled >= start;
        if (inWindow) {
          measuredSent++;
          unanswered++;
        }
        c.publish(payload.topic, payload.body, { qos: 1 }, (err) => {
          if (!inWindow) return;
          unanswered--;
          if (err) errors++;
          else {
            acked++;
            recordMs(h, performance.now() - scheduled);
          }
        });
      }
      if (t0 + k * periodMs >= end) resolve();
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 5);
  });
  // Answers for publishes scheduled in the window still count (with their full latency); wait for them.
  const drainUntil = Date.now() + 30_000;
  while (unanswered > 0 && Date.now() < drainUntil) await sleep(20);
  const r = summarize(h, acked, payload.points, errors, opts.durationMs / 1000);
  r.msgsPerSec = measuredSent / (opts.durationMs / 1000); // the offered rate actually scheduled
  r.pointsPerSec = r.msgsPerSec * payload.points;
  r.unanswered = unanswered;
  h.destroy();
  return r;
}
