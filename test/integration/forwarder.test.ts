import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/log.js';
import { startStack, testConfig, waitFor } from '../helpers/stack.js';

async function post(base: string, token: string, body: unknown) {
  const res = await request(`${base}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'device-token': token },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as { status: boolean; message?: string } };
}

describe('forwarding to TagoIO', () => {
  it('waits out a 429 with Retry-After in the message, then delivers everything once', async () => {
    // cloud-sim allows 3 requests per 1 s window; the gateway would send 10 at once.
    const { http, sim } = await startStack({}, { requestsPerMinute: 3, rateWindowMs: 1000 });
    const started = Date.now();
    for (let i = 0; i < 10; i++) expect((await post(http, `rl-${i}`, { variable: 'n', value: i })).status).toBe(200);
    await waitFor(() => sim.stats().points === 10, 15_000);
    const s = sim.stats();
    expect(s.requests.rateLimited).toBeGreaterThan(0);
    // 10 requests at 3 per window need at least 3 window boundaries after the first refusal.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    for (let i = 0; i < 10; i++) expect(s.tokens[`rl-${i}`]?.points).toBe(1);
  });

  it('retries through 5xx and an outage, and delivers each point once when TagoIO recovers', async () => {
    const { http, sim } = await startStack();
    sim.setFaults({ errorRate: 1, errorStatus: 503 });
    for (let i = 0; i < 5; i++) await post(http, 'flaky', { variable: 'seq', value: i });
    await waitFor(() => (sim.stats().requests.byStatus['503'] ?? 0) >= 3);
    sim.setFaults({ errorRate: 0, outage: true });
    await waitFor(() => sim.stats().requests.destroyed >= 2);
    expect(sim.stats().points).toBe(0);
    sim.setFaults({ outage: false });
    await waitFor(() => sim.stats().points === 5, 15_000);
    const res = await request(`${sim.url}/data?variable=seq&qty=10&ordination=ascending`, {
      headers: { 'device-token': 'flaky' },
    });
    const values = ((await res.body.json()) as { result: Array<{ value: number }> }).result.map((r) => r.value);
    expect(values).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps a batch TagoIO answers 400 as a dead letter with TagoIO’s message', async () => {
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: false, message: 'Invalid data: value too long' }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => upstream.close(() => r())));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const gw = await startGateway(testConfig(url), { log: createLogger('silent') });
    onTestFinished(() => gw.close());
    const base = `http://127.0.0.1:${gw.ports.http}`;
    const res = await post(base, 'tok-400', [
      { variable: 'a', value: 1 },
      { variable: 'b', value: 2 },
    ]);
    expect(res.status).toBe(200);
    const dead = await waitFor(async () => {
      const list = await gw.store.listDeadLetters();
      return list.length === 1 ? list : null;
    });
    expect(dead[0]).toMatchObject({ reason: 'upstream_400', message: 'Invalid data: value too long' });
    expect(gw.store.stats().depthPoints).toBe(0);
    // The dead-letter counter counts each point once.
    const metrics = await (await request(`${base}/metrics`)).body.text();
    expect(metrics).toMatch(/^tago_edge_dead_letters_total\{reason="upstream_400"\} 2$/m);
  });

  it('refuses a token at ingest (HTTP and MQTT) once TagoIO answered 401 for it', async () => {
    const { http, sim, mqtt: mqttUrl, gw } = await startStack();
    sim.setFaults({ refuseTokens: ['revoked'] });
    expect((await post(http, 'revoked', { variable: 'a', value: 1 })).status).toBe(200);
    await waitFor(async () => (await gw.store.listDeadLetters()).some((d) => d.reason === 'upstream_401'));
    const again = await post(http, 'revoked', { variable: 'a', value: 2 });
    expect(again.status).toBe(401);
    await expect(
      mqtt.connectAsync(mqttUrl, { username: 'Token', password: 'revoked', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Not authorized/i);
    // Other devices are unaffected.
    expect((await post(http, 'fine', { variable: 'a', value: 3 })).status).toBe(200);
    await waitFor(() => sim.stats().tokens.fine?.points === 1);
  });

  it('drains a backlog back to back whatever batchWaitMs is', async () => {
    // One request per device per minute, 2 kB per request: the interval would hold a backlog for minutes.
    const { http, sim } = await startStack({ upstream: { batchWaitMs: 60_000, batchMaxBytes: 2_000 } });
    sim.setFaults({ outage: true });
    for (let i = 0; i < 100; i++) expect((await post(http, 'backlog', { variable: 'seq', value: i })).status).toBe(200);
    await waitFor(() => sim.stats().requests.destroyed >= 1);
    sim.setFaults({ outage: false });
    await waitFor(() => sim.stats().tokens.backlog?.points === 100, 10_000);
    const requests = sim.stats().tokens.backlog?.requests ?? 0;
    expect(requests).toBeGreaterThanOrEqual(4); // ~8 kB of points in requests of at most 2 kB
    const res = await request(`${sim.url}/data?variable=seq&qty=1000`, { headers: { 'device-token': 'backlog' } });
    const got = ((await res.body.json()) as { result: Array<{ value: number }> }).result.map((r) => r.value);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Everything sent, the next point waits for the interval: on a hand-driven clock in
    // test/unit/forwarder-timing.test.ts.
  });

  it('batches a device’s points into few requests, in order', async () => {
    const { http, sim } = await startStack({ upstream: { batchWaitMs: 200 } });
    await Promise.all(Array.from({ length: 50 }, (_, i) => post(http, 'batcher', { variable: 'i', value: i })));
    await waitFor(() => sim.stats().points === 50);
    expect(sim.stats().tokens.batcher?.requests).toBeLessThanOrEqual(3);
  });
});
