/**
 * A route's forwarder on a hand-driven clock, with a scripted destination: a 429 pauses the whole route
 * (every device) for its Retry-After; a retry waits at least the destination's retryAfterMs; with
 * `deadLetterAfterMs` a batch older than it moves to the dead letters undelivered, and a dead letter from a
 * non-primary route never refuses the token. The store is a real MemoryStore behind the route's queue view.
 */
import { describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../gateway/auth/device-directory.js';
import { type DeliverySettings, Forwarder } from '../../gateway/forward/forwarder.js';
import { createLogger } from '../../gateway/log.js';
import type { Delivery, DeliveryOutcome, Destination } from '../../gateway/routes/destination.js';
import { RouteQueue } from '../../gateway/routes/route-queue.js';
import { routeSpace } from '../../gateway/routes/route-space.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** Answers each delivery with the next scripted outcome (delivered once the script runs out). */
class ScriptedDestination implements Destination {
  readonly type = 'scripted';
  readonly seen: Array<{ device: string; values: unknown[] }> = [];
  constructor(private readonly script: DeliveryOutcome[]) {}
  async deliver(d: Delivery): Promise<DeliveryOutcome> {
    this.seen.push({ device: d.token, values: d.batch.records.map((r) => r.value) });
    return this.script.shift() ?? { kind: 'delivered' };
  }
  async close(): Promise<void> {}
}

const settings: DeliverySettings = {
  maxInFlight: 4,
  batchMaxBytes: 100_000,
  batchWaitMs: 0,
  requestsPerMinute: 0,
  retryBaseMs: 1_000,
  retryMaxMs: 8_000,
};

async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

function setup(script: DeliveryOutcome[], deadLetterAfterMs?: number) {
  const clock = new ManualClock();
  const store = new MemoryStore({ maxBytes: 1_000_000, clock });
  const queue = new RouteQueue(store, routeSpace('hook', false));
  const dest = new ScriptedDestination(script);
  const directory = new DeviceDirectory('passthrough', []);
  const route = {
    name: 'hook',
    primary: false,
    delivery: settings,
    ...(deadLetterAfterMs ? { deadLetterAfterMs } : {}),
  };
  const fwd = new Forwarder(route, queue, directory, dest, createLogger('silent'), clock, () => 1);
  return { clock, store, queue, dest, directory, fwd };
}

const rec = (value: number) => ({ variable: 'v', value, time: '2026-01-01T00:00:00.000Z' });

describe('a route forwarder (hand-driven clock)', () => {
  it('a 429 pauses every device of the route for its Retry-After', async () => {
    const { clock, queue, dest, fwd } = setup([{ kind: 'rate_limited', error: '429', retryAfterMs: 5_000 }]);
    await queue.append('a', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await turns();
    expect(dest.seen).toHaveLength(1);
    await queue.append('b', [rec(2)]);
    clock.advance(4_999);
    await turns();
    expect(dest.seen).toHaveLength(1); // b waits too: the limit is the destination's
    clock.advance(1);
    for (let i = 0; i < 5; i++) {
      clock.advance(0);
      await turns();
    }
    expect(dest.seen.map((s) => s.device).sort()).toEqual(['a', 'a', 'b']);
    expect(queue.share().depthPoints).toBe(0);
    await fwd.stop(0);
  });

  it("a retry waits the destination's retryAfterMs when it is longer than the back-off", async () => {
    const { clock, queue, dest, fwd } = setup([{ kind: 'retry', error: 'broker down', retryAfterMs: 30_000 }]);
    await queue.append('a', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await turns();
    clock.advance(29_999); // the back-off alone would have been 2 s
    await turns();
    expect(dest.seen).toHaveLength(1);
    clock.advance(1);
    await turns();
    expect(dest.seen).toHaveLength(2);
    expect(fwd.totals()).toEqual({ delivered: 1, retries: 1, deadLettered: 0 });
    await fwd.stop(0);
  });

  it('moves a batch older than deadLetterAfterMs to the dead letters instead of delivering it', async () => {
    const { clock, store, queue, dest, fwd } = setup(
      [
        { kind: 'retry', error: 'down' },
        { kind: 'retry', error: 'down' },
      ],
      10_000,
    );
    await queue.append('a', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await turns();
    expect(dest.seen).toHaveLength(1);
    clock.advance(10_000); // the retry, 2 s later, was still in time; the one after 10 s is not
    await turns();
    expect(dest.seen).toHaveLength(2);
    expect(store.listDeadLetters()).toEqual([]);
    clock.advance(8_000);
    await turns();
    expect(dest.seen).toHaveLength(2);
    expect(store.listDeadLetters()).toMatchObject([{ reason: 'lagging', route: 'hook' }]);
    expect(queue.share().depthPoints).toBe(0);
    await fwd.stop(0);
  });

  it('a refused token on a route that is not the primary is a dead letter, never a refusal at ingest', async () => {
    const { clock, store, queue, directory, fwd } = setup([
      { kind: 'dead_letter', reason: 'upstream_401', message: 'Authorization Denied', refuseToken: true },
    ]);
    await queue.append('a', [rec(1)]);
    fwd.start();
    clock.advance(0);
    await turns();
    expect(store.listDeadLetters()).toMatchObject([{ reason: 'upstream_401', route: 'hook' }]);
    expect(directory.isRefused('a')).toBe(false);
    expect(store.isRefused('a')).toBe(false);
    await fwd.stop(0);
  });
});
