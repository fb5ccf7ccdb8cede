/**
 * The forwarder's timing on a clock moved by hand: back-off after a failure, the pause after a 429, and the
 * per-device batching interval. TagoIO is a real HTTP server on loopback answering what each test scripts;
 * no test waits on wall-clock time.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../gateway/auth/device-directory.js';
import { parseConfig } from '../../gateway/config/load.js';
import { Forwarder } from '../../gateway/forward/forwarder.js';
import { createLogger } from '../../gateway/log.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { ManualClock } from '../helpers/manual-clock.js';

interface Upstream {
  url: string;
  /** Requests received so far: the device token and the values sent. */
  received: Array<{ token: string; values: unknown[] }>;
  /** While set, every request is answered with this status (an outage), script or not. */
  failWith: number | null;
  close(): Promise<void>;
}

/** Answers each request with the next scripted [status, body, headers]; 200 once the script runs out. */
async function upstream(script: Array<[number, string?, Record<string, string>?]>): Promise<Upstream> {
  const received: Upstream['received'] = [];
  const state = { failWith: null as number | null };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      received.push({
        token: String(req.headers['device-token']),
        values: (JSON.parse(body) as Array<{ value: unknown }>).map((r) => r.value),
      });
      const [status, text, headers] =
        state.failWith !== null ? [state.failWith] : (script.shift() ?? [200, '{"status":true,"result":"ok"}']);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(text ?? '{"status":false,"message":"scripted"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    get failWith() {
      return state.failWith;
    },
    set failWith(v) {
      state.failWith = v;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Lets real I/O (the loopback request and its answer) run until `done()` holds; time on the clock stands still. */
async function ioUntil(done: () => boolean, turns = 2_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (done()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('the condition did not hold after the I/O settled');
}

/** Lets real I/O run for a while, for asserting that nothing more happens. */
async function ioSettles(turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

const rec = (value: number) => ({ variable: 'v', value, time: '2026-01-01T00:00:00.000Z' });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  script: Array<[number, string?, Record<string, string>?]>,
  upstreamOverrides = {},
  random: () => number = () => 1,
) {
  const up = await upstream(script);
  const config = parseConfig({
    upstream: {
      url: up.url,
      requestsPerMinute: 60_000,
      batchWaitMs: 0,
      retryBaseMs: 1_000,
      retryMaxMs: 8_000,
      ...upstreamOverrides,
    },
    log: { level: 'silent' },
  });
  const clock = new ManualClock();
  const store = new MemoryStore({ maxBytes: 1_000_000 });
  // By default full jitter at its ceiling: the back-off is exactly min(max, base · 2^attempt).
  const fwd = Forwarder.toTagoio(
    config.upstream,
    store,
    new DeviceDirectory('passthrough', []),
    createLogger('silent'),
    clock,
    random,
  );
  cleanups.push(up.close, () => fwd.stop(0));
  return { up, clock, store, fwd };
}

describe('forwarder timing (hand-driven clock)', () => {
  it('retries a 503 only once its back-off has passed on the clock, then delivers the points once', async () => {
    const { up, clock, store, fwd } = await setup([[503]]);
    await store.append('tok', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await ioUntil(() => fwd.state().consecutiveFailures === 1 && clock.pending > 0);
    expect(up.received).toHaveLength(1);
    // Attempt 1 waits min(8 s, 1 s · 2¹) = 2 s.
    clock.advance(1_999);
    await ioSettles();
    expect(up.received).toHaveLength(1);
    clock.advance(1);
    await ioUntil(() => store.stats().depthPoints === 0);
    expect(up.received).toEqual([
      { token: 'tok', values: [1] },
      { token: 'tok', values: [1] },
    ]);
    expect(fwd.state()).toMatchObject({ state: 'ok', consecutiveFailures: 0 });
  });

  it('holds every device after a 429 until its Retry-After has passed', async () => {
    const { up, clock, store, fwd } = await setup([
      [429, '{"status":false,"message":"Too many requests (Retry-After: 8)"}'],
    ]);
    await store.append('a', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await ioUntil(() => up.received.length === 1 && clock.pending > 0);
    await store.append('b', [rec(2)]);
    clock.advance(7_999);
    await ioSettles();
    expect(up.received).toHaveLength(1); // neither a nor b before TagoIO's 8 s
    clock.advance(1);
    await ioUntil(() => up.received.length === 2);
    // One request at a time for a minute after a 429: the next device goes once this one has answered
    // (time stands still meanwhile: only the forwarder's zero-delay wake-ups run).
    await ioUntil(() => {
      clock.advance(0);
      return store.stats().depthPoints === 0;
    });
    expect(up.received.map((r) => r.token).sort()).toEqual(['a', 'a', 'b']);
  });

  it('holds a device that has sent everything for batchWaitMs; a new point then waits for the interval', async () => {
    const { up, clock, store, fwd } = await setup([], { batchWaitMs: 60_000 });
    fwd.start();
    clock.advance(0); // the start's first look: nothing pending yet
    await store.append('tok', [rec(1)]);
    // New points wait batchWaitMs to fill a batch.
    clock.advance(59_999);
    await ioSettles();
    expect(up.received).toHaveLength(0);
    clock.advance(1);
    await ioUntil(() => store.stats().depthPoints === 0);
    expect(up.received).toHaveLength(1);
    // Everything sent: the next point waits out the interval, not a request of its own.
    await store.append('tok', [rec(2)]);
    clock.advance(59_000);
    await ioSettles();
    expect(up.received).toHaveLength(1);
    clock.advance(1_000);
    await ioUntil(() => store.stats().depthPoints === 0);
    expect(up.received.map((r) => r.values)).toEqual([[1], [2]]);
  });

  it('drains a backlog as soon as TagoIO answers again, not when each device’s back-off runs out', async () => {
    // Jitter that differs per retry, so the devices' back-offs end at different times.
    let seed = 7;
    const jitter = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return 0.2 + 0.8 * (seed / 2_147_483_647);
    };
    const { up, clock, store, fwd } = await setup([], { retryBaseMs: 500, retryMaxMs: 20_000 }, jitter);
    up.failWith = 503;
    const devices = 10;
    for (let d = 0; d < devices; d++) await store.append(`rec-${d}`, [rec(d)]);
    fwd.start();
    // The outage goes on: the devices fail again and again, their back-offs grow towards 20 s.
    for (let round = 0; round < 8; round++) {
      await ioUntil(() => {
        clock.advance(0);
        return fwd.state().inFlight === 0;
      });
      clock.advance(10_000);
    }
    expect(fwd.state().state).toBe('down');
    const failed = up.received.length;
    expect(failed).toBeGreaterThan(devices);
    up.failWith = null;
    // The next probe (once its own back-off is over) gets through ...
    await ioUntil(() => {
      clock.advance(1_000);
      return up.received.length > failed;
    });
    // ... and every other device follows with the clock standing still: their back-offs were released.
    await ioUntil(() => {
      clock.advance(0);
      return store.stats().depthPoints === 0;
    });
    expect(new Set(up.received.slice(failed).map((r) => r.token)).size).toBe(devices);
  });
});
