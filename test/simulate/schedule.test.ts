import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../simulators/fleet/clock.js';
import { Scheduler } from '../../simulators/fleet/schedule.js';
import { mulberry32 } from '../../simulators/random.js';

// Fake timers drive a virtual clock: no test here sleeps.
const fakeClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

afterEach(() => {
  vi.useRealTimers();
});

function collect(plan: Partial<ConstructorParameters<typeof Scheduler>[0]> & { devices: number[] }) {
  const fired: Array<{ device: number; k: number; at: number; firedAt: number }> = [];
  const s = new Scheduler(
    { t0: Date.now(), periodMs: 1000, totalDevices: plan.devices.length, jitterMs: 0, rng: mulberry32(1), ...plan },
    (device, k, at, firedAt) => fired.push({ device, k, at, firedAt }),
    fakeClock,
  );
  return { s, fired };
}

describe('open-model scheduler', () => {
  it('fires each device once per period, phases spread evenly, on time', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { s, fired } = collect({ devices: [0, 1, 2, 3], count: 5 });
    s.start();
    await vi.advanceTimersByTimeAsync(10_000);
    await s.done;
    expect(fired).toHaveLength(20);
    for (let d = 0; d < 4; d++) {
      const mine = fired.filter((f) => f.device === d);
      expect(mine.map((f) => f.k)).toEqual([0, 1, 2, 3, 4]);
      expect(mine.map((f) => f.at - 1_000_000)).toEqual([0, 1, 2, 3, 4].map((k) => d * 250 + k * 1000));
    }
    // Fired in due-time order and never early; fake timers fire exactly on time.
    for (let i = 1; i < fired.length; i++) expect(fired[i]!.at).toBeGreaterThanOrEqual(fired[i - 1]!.at);
    for (const f of fired) expect(f.firedAt - f.at).toBeGreaterThanOrEqual(0);
    for (const f of fired) expect(f.firedAt - f.at).toBeLessThan(1);
  });

  it('counts points per period: N devices × duration/period, stopping at endAt', async () => {
    vi.useFakeTimers({ now: 0 });
    const devices = Array.from({ length: 100 }, (_, i) => i);
    const { s, fired } = collect({ devices, t0: 0, periodMs: 200, endAt: 1_000 });
    s.start();
    await vi.advanceTimersByTimeAsync(5_000);
    await s.done;
    expect(fired).toHaveLength(500);
    // Every 200 ms window holds exactly one point per device.
    for (let w = 0; w < 5; w++) {
      const inWindow = fired.filter((f) => f.at >= w * 200 && f.at < (w + 1) * 200);
      expect(new Set(inWindow.map((f) => f.device)).size).toBe(100);
    }
  });

  it('uses fleet-wide phases for a shard, so shards interleave', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, fired } = collect({ devices: [2, 3], totalDevices: 4, t0: 0, count: 1 });
    s.start();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(fired.map((f) => f.at)).toEqual([500, 750]);
  });

  it('adds jitter in [0, jitterMs) and keeps the order', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, fired } = collect({ devices: [0, 1, 2, 3, 4], t0: 0, count: 20, jitterMs: 100 });
    s.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fired).toHaveLength(100);
    for (const f of fired) {
      const base = f.device * 200 + f.k * 1000;
      expect(f.at - base).toBeGreaterThanOrEqual(0);
      expect(f.at - base).toBeLessThan(100);
    }
    expect(new Set(fired.map((f) => f.at - (f.device * 200 + f.k * 1000))).size).toBeGreaterThan(50);
  });

  it('does not wait for anything: a slow handler makes later points late, not fewer (lag is measured)', async () => {
    vi.useFakeTimers({ now: 0 });
    const fired: Array<{ at: number; firedAt: number }> = [];
    const s = new Scheduler(
      { t0: 0, periodMs: 100, totalDevices: 1, devices: [0], jitterMs: 0, rng: mulberry32(1), count: 10 },
      (_d, _k, at, firedAt) => {
        fired.push({ at, firedAt });
        if (fired.length === 1) vi.setSystemTime(Date.now() + 450); // the event loop stalls 450 ms
      },
      fakeClock,
    );
    s.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(fired).toHaveLength(10);
    expect(fired.slice(1, 5).map((f) => f.firedAt - f.at)).toEqual([350, 250, 150, 50]);
  });

  it('stop() ends the schedule and resolves done', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, fired } = collect({ devices: [0], t0: 0, periodMs: 100 });
    s.start();
    await vi.advanceTimersByTimeAsync(450);
    s.stop();
    await s.done;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toHaveLength(5);
  });
});
