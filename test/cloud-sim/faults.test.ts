import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { call, post, sim } from './sim-fixture.js';

describe('cloud-sim faults', () => {
  it('adds latency before answering', async () => {
    const s = await sim({ latencyMs: 150 });
    const t0 = performance.now();
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('errorRate 1 answers 503 Service Unavailable, and errorStatus changes the code', async () => {
    const s = await sim({ errorRate: 1 });
    const res = await post(s.url, 't', { variable: 'a' });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: false, message: 'Service Unavailable' });
    s.setFaults({ errorStatus: 500 });
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(500);
    expect(s.stats().points).toBe(0);
  });

  it('decides errors deterministically for a given seed', async () => {
    const pattern = async () => {
      const s = await sim({ errorRate: 0.5, seed: 42 });
      const out: number[] = [];
      for (let i = 0; i < 20; i++) out.push((await post(s.url, 't', { variable: 'a' })).status);
      return out;
    };
    const first = await pattern();
    expect(first).toEqual(await pattern());
    expect(new Set(first)).toEqual(new Set([200, 503]));
  });

  it('outage destroys sockets without answering while the control API keeps working', async () => {
    const s = await sim();
    await call(s.url, 'POST', '/_sim/faults', { body: { outage: true } });
    await expect(request(`${s.url}/data`, { method: 'POST', body: '{"variable":"a"}' })).rejects.toThrow();
    await expect(fetch(`${s.url}/info`, { headers: { token: 't' } })).rejects.toThrow();
    const faults = await call(s.url, 'GET', '/_sim/faults');
    expect(faults.body).toMatchObject({ outage: true, outageActive: true });
    expect(s.stats().requests.destroyed).toBe(2);
    await call(s.url, 'POST', '/_sim/faults', { body: { outage: false } });
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
  });

  it('outageForMs is a window that ends by itself', async () => {
    let now = 1_000_000;
    const s = await sim({ now: () => now });
    s.setFaults({ outageForMs: 5000 });
    await expect(request(`${s.url}/info`, { headers: { token: 't' } })).rejects.toThrow();
    expect((await call(s.url, 'GET', '/_sim/faults')).body.outageForMs).toBe(5000);
    now += 5000;
    expect((await call(s.url, 'GET', '/info', { token: 't' })).status).toBe(200);
  });

  it('dropRate answers 200 but stores nothing', async () => {
    const s = await sim({ seed: 1 });
    await call(s.url, 'POST', '/_sim/faults', { body: { dropRate: 1 } });
    const res = await post(s.url, 't', [{ variable: 'a', metadata: { sim_device: 'd1', sim_seq: 1 } }]);
    expect(res.body).toEqual({ status: true, result: '1 Data Added' });
    const stats = s.stats();
    expect(stats.points).toBe(0);
    expect(stats.requests.dropped).toBe(1);
    expect(stats.sequences).toEqual({});
    expect((await call(s.url, 'GET', '/data?query=count', { token: 't' })).body.result).toBe(0);
  });

  it('rejects an invalid fault patch with 400 naming the field', async () => {
    const s = await sim();
    const res = await call(s.url, 'POST', '/_sim/faults', { body: { errorRate: 2 } });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/faults\.errorRate/);
    expect((await call(s.url, 'POST', '/_sim/faults', { body: { nope: 1 } })).body.message).toMatch(/faults\.nope/);
    expect(() => s.setFaults({ latencyMs: -1 })).toThrow(/latencyMs/);
  });
});
