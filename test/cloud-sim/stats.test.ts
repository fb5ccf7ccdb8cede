import { describe, expect, it } from 'vitest';
import { call, post, sim } from './sim-fixture.js';

const point = (device: string, seq: number) => ({
  variable: 'x',
  value: seq,
  metadata: { sim_device: device, sim_seq: seq },
});

describe('cloud-sim stats and sequences', () => {
  it('counts received, unique and duplicate sequences per simulated device', async () => {
    const s = await sim();
    await post(s.url, 'ta', [point('d1', 1), point('d1', 2), point('d2', 7)]);
    await post(s.url, 'ta', [point('d1', 2), point('d1', 5)]); // a retry re-sends seq 2
    await post(s.url, 'ta', [point('d1', 4)]); // a first arrival after a newer one: out of order
    await post(s.url, 'tb', [{ variable: 'plain', value: 1 }]);

    const stats = (await call(s.url, 'GET', '/_sim/stats')).body;
    expect(stats.sequences).toEqual({
      d1: { received: 5, unique: 4, duplicates: 1, outOfOrder: 1, maxSeq: 5 },
      d2: { received: 1, unique: 1, duplicates: 0, outOfOrder: 0, maxSeq: 7 },
    });
    expect(stats.points).toBe(7);
    expect(stats.tokens).toEqual({ ta: { requests: 3, points: 6 }, tb: { requests: 1, points: 1 } });
    expect(stats.requests).toMatchObject({ total: 4, byStatus: { '200': 4 }, rateLimited: 0 });
    expect(Date.parse(stats.startedAt)).not.toBeNaN();
    expect(stats.uptimeMs).toBeGreaterThanOrEqual(0);

    expect((await call(s.url, 'GET', '/_sim/received')).body).toEqual({ d1: [1, 2, 4, 5], d2: [7] });
    expect((await call(s.url, 'GET', '/_sim/received?device=d2')).body).toEqual({ d2: [7] });
    expect((await call(s.url, 'GET', '/_sim/received?order=arrival')).body).toEqual({ d1: [1, 2, 5, 4], d2: [7] });
  });

  it('counts every status, not the control routes, and resets', async () => {
    const s = await sim({ tokens: ['ok'] });
    await post(s.url, 'ok', { variable: 'a' });
    await post(s.url, 'nope', { variable: 'a' });
    await post(s.url, 'ok', { variable: 'a-b' });
    await call(s.url, 'GET', '/_sim/stats');
    expect(s.stats().requests).toMatchObject({ total: 3, byStatus: { '200': 1, '401': 1, '400': 1 } });

    expect((await call(s.url, 'POST', '/_sim/reset')).status).toBe(200);
    const after = s.stats();
    expect(after).toMatchObject({ points: 0, tokens: {}, sequences: {}, requests: { total: 0, byStatus: {} } });
    expect((await call(s.url, 'GET', '/data?query=count', { token: 'ok' })).body.result).toBe(0);
  });

  it('keeps exact sequence accounting across many points', async () => {
    const s = await sim({ keepRecordsPerToken: 100 });
    const batch = (from: number) => Array.from({ length: 1000 }, (_, i) => point('bulk', from + i));
    for (let k = 0; k < 10; k++) await post(s.url, 't', batch(k * 1000));
    await post(s.url, 't', batch(9000)); // a whole batch re-sent
    expect(s.stats().sequences.bulk).toEqual({
      received: 11_000,
      unique: 10_000,
      duplicates: 1000,
      outOfOrder: 0,
      maxSeq: 9999,
    });
    expect((await call(s.url, 'GET', '/_sim/received')).body.bulk).toHaveLength(10_000);
  });
});
