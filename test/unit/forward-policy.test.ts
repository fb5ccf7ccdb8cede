import { describe, expect, it } from 'vitest';
import { Pacer } from '../../gateway/forward/pacer.js';
import { backoffMs, classify, retryAfterSeconds, upstreamMessage } from '../../gateway/forward/retry-policy.js';

describe('retry policy', () => {
  it('classifies TagoIO answers', () => {
    expect(classify(200)).toBe('delivered');
    expect(classify(202)).toBe('delivered');
    expect(classify(429)).toBe('rate_limited');
    expect(classify(400)).toBe('dead_letter');
    expect(classify(401)).toBe('refused_token');
    expect(classify(403)).toBe('refused_token');
    for (const s of [0, 404, 408, 500, 502, 503, 504]) expect(classify(s)).toBe('retry');
  });

  it('reads Retry-After from the header, an HTTP date, or TagoIO’s message', () => {
    expect(retryAfterSeconds('7', '')).toBe(7);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds('Thu, 01 Jan 2026 00:00:09 GMT', '', now)).toBe(9);
    expect(retryAfterSeconds(undefined, '{"status":false,"message":"Too many requests (Retry-After: 8)"}')).toBe(8);
    expect(retryAfterSeconds(undefined, '{"status":false}')).toBeUndefined();
  });

  it('backs off exponentially with full jitter, capped', () => {
    expect(backoffMs(1, 500, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(3, 500, 60_000, () => 1)).toBe(4000);
    expect(backoffMs(20, 500, 60_000, () => 1)).toBe(60_000);
    expect(backoffMs(3, 500, 60_000, () => 0.5)).toBe(2000);
    expect(backoffMs(3, 500, 60_000, () => 0)).toBe(0);
  });

  it('extracts TagoIO’s message from both envelope shapes', () => {
    expect(upstreamMessage('{"status":false,"message":"Authorization Denied"}')).toBe('Authorization Denied');
    expect(upstreamMessage('{"status":false,"result":{"message":"bad"}}')).toBe('bad');
    expect(upstreamMessage('<html>oops</html>')).toBe('<html>oops</html>');
  });
});

describe('Pacer', () => {
  it('never lets more than the limit through in a wall-clock minute, spread evenly', () => {
    let now = 60_000 * 1000; // a minute boundary
    const pacer = new Pacer(250, 60_000, () => now);
    let sent = 0;
    const sendTimes: number[] = [];
    // Ask as often as allowed for two minutes of simulated time.
    while (now < 60_000 * 1002) {
      const wait = pacer.take();
      if (wait === 0) {
        sent++;
        sendTimes.push(now);
      } else {
        now += wait;
      }
    }
    const perMinute = new Map<number, number>();
    for (const t of sendTimes) perMinute.set(Math.floor(t / 60_000), (perMinute.get(Math.floor(t / 60_000)) ?? 0) + 1);
    for (const n of perMinute.values()) expect(n).toBeLessThanOrEqual(250);
    expect(sent).toBeGreaterThanOrEqual(490);
    // Spread: no second carries more than the bucket (ceil(250/60) = 5) plus one refill.
    const perSecond = new Map<number, number>();
    for (const t of sendTimes) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(10);
  });

  it('holds everything while paused after a 429', () => {
    let now = 1_000_000;
    const pacer = new Pacer(60_000, 60_000, () => now);
    pacer.pause(now + 8000);
    expect(pacer.take()).toBe(8000);
    now += 8000;
    expect(pacer.take()).toBe(0);
  });
});
