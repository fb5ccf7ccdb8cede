import { describe, expect, it } from 'vitest';
import { call, post, sim } from './sim-fixture.js';

describe('cloud-sim tokens', () => {
  it('401 Authorization Denied for a missing or unknown token', async () => {
    const s = await sim({ tokens: ['good'] });
    for (const token of [undefined, 'bad']) {
      const res = await call(s.url, 'POST', '/data', { body: { variable: 'a' }, ...(token ? { token } : {}) });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ status: false, message: 'Authorization Denied' });
    }
    expect((await post(s.url, 'good', { variable: 'a' })).status).toBe(200);
  });

  it('accepts any non-empty token when no list is given', async () => {
    const s = await sim();
    expect((await post(s.url, 'anything', { variable: 'a' })).status).toBe(200);
    expect((await call(s.url, 'POST', '/data', { body: { variable: 'a' } })).status).toBe(401);
  });

  it('refuses a token from the moment it is refused, and forbids with 403', async () => {
    const s = await sim();
    expect((await post(s.url, 'x', { variable: 'a' })).status).toBe(200);
    const set = await call(s.url, 'POST', '/_sim/faults', { body: { refuseTokens: ['x'], forbidTokens: ['y'] } });
    expect(set.body).toMatchObject({ refuseTokens: ['x'], forbidTokens: ['y'] });
    expect((await post(s.url, 'x', { variable: 'a' })).body).toEqual({
      status: false,
      message: 'Authorization Denied',
    });
    const forbidden = await post(s.url, 'y', { variable: 'a' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.status).toBe(false);
    expect(typeof forbidden.body.message).toBe('string');
    expect((await call(s.url, 'GET', '/info', { token: 'x' })).status).toBe(401);
  });
});

describe('cloud-sim rate limit', () => {
  it('answers 429 with Retry-After to the next minute boundary once the per-minute limit is hit', async () => {
    let now = Date.parse('2026-05-01T12:45:09.000Z');
    const s = await sim({ requestsPerMinute: 3, now: () => now });
    for (let i = 0; i < 3; i++) expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
    const limited = await post(s.url, 't', { variable: 'a' });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ status: false, message: 'Too many requests (Retry-After: 51)' });
    expect(limited.headers['retry-after']).toBe('51');
    // The limit is per profile: another token is limited too.
    expect((await post(s.url, 'other', { variable: 'a' })).status).toBe(429);
    now = Date.parse('2026-05-01T12:45:59.400Z');
    expect((await post(s.url, 't', { variable: 'a' })).headers['retry-after']).toBe('1');
    now = Date.parse('2026-05-01T12:46:00.000Z');
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);

    const stats = s.stats();
    expect(stats.requests.rateLimited).toBe(3);
    expect(stats.requests.byStatus).toEqual({ '200': 4, '429': 3 });
    expect(stats.points).toBe(4);
  });

  it('aligns shorter test windows to multiples of rateWindowMs and only limits POST /data', async () => {
    let now = 10_250;
    const s = await sim({ requestsPerMinute: 1, rateWindowMs: 1000, now: () => now });
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
    const limited = await post(s.url, 't', { variable: 'a' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect((await call(s.url, 'GET', '/data', { token: 't' })).status).toBe(200);
    now = 11_000;
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
  });

  it('can be changed at runtime through the control API', async () => {
    const s = await sim();
    s.setFaults({ requestsPerMinute: 1 });
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(429);
    await call(s.url, 'POST', '/_sim/faults', { body: { requestsPerMinute: 0 } });
    expect((await post(s.url, 't', { variable: 'a' })).status).toBe(200);
  });
});
