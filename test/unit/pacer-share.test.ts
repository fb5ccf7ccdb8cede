/**
 * The forward pacer's shared budget (gateway/forward/pacer.ts): a cluster node forwarding part of the
 * partitions gets that part of the profile's requests per minute, read from `share()` on every request.
 */
import { describe, expect, it } from 'vitest';
import { Pacer } from '../../gateway/forward/pacer.js';
import { ManualClock } from '../helpers/manual-clock.js';

const MINUTE = 60_000;

/** Asks as often as the pacer allows until `untilMs`, waiting what it says; the times of the requests sent. */
function drive(pacer: Pacer, clock: ManualClock, untilMs: number): number[] {
  const sent: number[] = [];
  while (clock.now() < untilMs) {
    const wait = pacer.take();
    if (wait === 0) sent.push(clock.now());
    else {
      expect(wait).toBeGreaterThan(0);
      clock.advance(wait);
    }
  }
  return sent;
}

/** Requests sent per wall-clock minute, in order. */
function perMinute(times: number[], from: number, minutes: number): number[] {
  const counts = Array.from({ length: minutes }, () => 0);
  for (const t of times) {
    const i = Math.floor((t - from) / MINUTE);
    if (i >= 0 && i < minutes) counts[i] = (counts[i] ?? 0) + 1;
  }
  return counts;
}

describe('Pacer share', () => {
  it('sends the whole limit per minute with share 1, and half of it with share 0.5', () => {
    const full = new ManualClock(); // starts on a minute boundary
    const start = full.now();
    const whole = drive(
      new Pacer(
        600,
        MINUTE,
        () => full.now(),
        () => 1,
      ),
      full,
      start + 3 * MINUTE,
    );
    expect(perMinute(whole, start, 3)).toEqual([600, 600, 600]);

    const halfClock = new ManualClock();
    const half = drive(
      new Pacer(
        600,
        MINUTE,
        () => halfClock.now(),
        () => 0.5,
      ),
      halfClock,
      start + 3 * MINUTE,
    );
    expect(perMinute(half, start, 3)).toEqual([300, 300, 300]);
    // Still spread through the minute: the bucket is a second's worth of the share (ceil(300 / 60) = 5).
    const firstSecond = half.filter((t) => t < start + 1_000).length;
    expect(firstSecond).toBeLessThanOrEqual(5 + 5);
    expect(Math.max(...half) - start).toBeGreaterThan(2 * MINUTE + 50_000);
  });

  it('rounds a fractional share down, never above the node’s part', () => {
    const clock = new ManualClock();
    const start = clock.now();
    // 250 × 0.25 = 62.5 per minute: 62.
    const sent = drive(
      new Pacer(
        250,
        MINUTE,
        () => clock.now(),
        () => 0.25,
      ),
      clock,
      start + 2 * MINUTE,
    );
    expect(perMinute(sent, start, 2)).toEqual([62, 62]);
  });

  it('sends one request a minute when its part is below one (a tiny budget over many nodes)', () => {
    const clock = new ManualClock();
    const start = clock.now();
    // 10 × 1/16 = 0.625 per minute: rounded down it would be 0, and this node's points would never go.
    const sent = drive(
      new Pacer(
        10,
        MINUTE,
        () => clock.now(),
        () => 1 / 16,
      ),
      clock,
      start + 3 * MINUTE,
    );
    expect(perMinute(sent, start, 3)).toEqual([1, 1, 1]);
  });

  it('sends nothing with share 0 (a node holding no partition)', () => {
    const clock = new ManualClock();
    const start = clock.now();
    const pacer = new Pacer(
      600,
      MINUTE,
      () => clock.now(),
      () => 0,
    );
    const sent = drive(pacer, clock, start + 5 * MINUTE);
    expect(sent).toEqual([]);
    // It asks to be asked again soon, so it starts sending as soon as it gains a partition.
    expect(pacer.take()).toBe(1_000);
  });

  it('follows the share as it changes: the budget is read on every request', () => {
    const clock = new ManualClock();
    const start = clock.now();
    let share = 0;
    const pacer = new Pacer(
      600,
      MINUTE,
      () => clock.now(),
      () => share,
    );
    const none = drive(pacer, clock, start + MINUTE);
    expect(none).toEqual([]);
    // Gains half the partitions: half the budget from the next request on.
    share = 0.5;
    const half = drive(pacer, clock, start + 2 * MINUTE);
    expect(perMinute(half, start + MINUTE, 1)).toEqual([300]);
    // Takes over all of them (the other node stopped).
    share = 1;
    const whole = drive(pacer, clock, start + 3 * MINUTE);
    expect(perMinute(whole, start + 2 * MINUTE, 1)).toEqual([600]);
    // Drops to a quarter mid-minute, after 300 were already sent in it: nothing more in that minute.
    share = 1;
    const before = drive(pacer, clock, start + 3 * MINUTE + 30_000);
    expect(before.length).toBeGreaterThanOrEqual(290);
    share = 0.25;
    const after = drive(pacer, clock, start + 4 * MINUTE);
    expect(after).toEqual([]);
    const next = drive(pacer, clock, start + 5 * MINUTE);
    expect(perMinute(next, start + 4 * MINUTE, 1)).toEqual([150]);
    // And back to nothing: the bucket's tokens are not spent once the share is gone.
    share = 0;
    expect(drive(pacer, clock, start + 6 * MINUTE)).toEqual([]);
  });
});
