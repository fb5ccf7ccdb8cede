/**
 * Bounded store and upstream outages, with the real gateway and cloud-sim:
 * - a small store cap: HTTP gets 503 + Retry-After and MQTT QoS 1 PUBACKs are withheld; after the drain
 *   ingest resumes, and nothing acknowledged is lost;
 * - cloud-sim down (sockets destroyed), then answering 503, under steady load: nothing lost, and the
 *   backlog drains afterwards.
 */
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { missing, startSeqLoad } from '../helpers/seq-load.js';
import { startStack, waitFor } from '../helpers/stack.js';

async function received(simUrl: string) {
  const res = await request(`${simUrl}/_sim/received`);
  return (await res.body.json()) as Record<string, number[]>;
}

describe('bounded store', () => {
  it('pushes back when full (503 / withheld PUBACK) and resumes after the drain', async () => {
    const {
      http,
      mqtt: mqttUrl,
      sim,
      gw,
    } = await startStack(
      { store: { maxBytes: 4096, retryAfterSeconds: 2 }, mqtt: { fullWaitMs: 20_000 } },
      { outage: true },
    );
    const body = JSON.stringify(
      Array.from({ length: 10 }, (_, i) => ({ variable: 'v', value: i, metadata: { pad: 'x'.repeat(20) } })),
    );
    let accepted = 0;
    let full: { status: number; retryAfter: unknown; message: string } | null = null;
    for (let i = 0; i < 50 && !full; i++) {
      const res = await request(`${http}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'device-token': 'filler' },
        body,
      });
      const json = (await res.body.json()) as { message: string };
      if (res.statusCode === 200) accepted++;
      else full = { status: res.statusCode, retryAfter: res.headers['retry-after'], message: json.message };
    }
    expect(accepted).toBeGreaterThan(0);
    expect(full).toMatchObject({ status: 503, retryAfter: '2' });
    expect(full?.message).toMatch(/store full/);
    const ready = await request(`${http}/readyz`);
    expect(ready.statusCode).toBe(503);
    await ready.body.dump();

    // MQTT QoS 1: the PUBACK is withheld while the store is full...
    const client = await mqtt.connectAsync(mqttUrl, { username: 'Token', password: 'mq', reconnectPeriod: 0 });
    onTestFinished(() => client.endAsync(true));
    let pubacked = false;
    const pub = client.publishAsync('tago/data/post', body, { qos: 1 }).then(() => {
      pubacked = true;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(pubacked).toBe(false);

    // ...and released once TagoIO is back and the backlog drains.
    sim.setFaults({ outage: false });
    await pub;
    expect(pubacked).toBe(true);
    await waitFor(() => sim.stats().tokens.mq?.points === 10);
    await waitFor(() => sim.stats().tokens.filler?.points === accepted * 10);
    expect(gw.store.stats().depthPoints).toBe(0);
    const after = await request(`${http}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'device-token': 'filler' },
      body,
    });
    expect(after.statusCode).toBe(200);
    await after.body.dump();
  });
});

describe('upstream outage under steady load', () => {
  const outageMs = Number(process.env.TAGO_EDGE_OUTAGE_MS ?? 8_000);
  it.each([
    ['down (network errors)', { outage: true }],
    ['answering 503', { errorRate: 1, errorStatus: 503 }],
  ])(
    `loses nothing while TagoIO is %s for ${outageMs / 1000} s, then drains`,
    { timeout: outageMs + 60_000 },
    async (_name, fault) => {
      const { http, mqtt: mqttUrl, sim, gw } = await startStack({ upstream: { retryMaxMs: 2_000 } });
      const load = startSeqLoad(() => ({ http, mqtt: mqttUrl }), { httpWriters: 2, mqttClients: 2, intervalMs: 20 });
      await new Promise((r) => setTimeout(r, 500));
      sim.setFaults(fault);
      await new Promise((r) => setTimeout(r, outageMs));
      const backlog = gw.store.stats().depthPoints;
      sim.setFaults({ outage: false, errorRate: 0 });
      const t0 = Date.now();
      await load.stop();
      await waitFor(async () => Object.keys(missing(load.acked, await received(sim.url))).length === 0, 30_000, 100);
      const drainMs = Date.now() - t0;
      const ackedCount = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
      console.info(
        `outage (${_name}): ${ackedCount} acknowledged, backlog ${backlog} points, drained in ${drainMs} ms`,
      );
      expect(backlog).toBeGreaterThan(50);
      expect(missing(load.acked, await received(sim.url))).toEqual({});
    },
  );
});

// Recovery after an outage (the backlog drains when TagoIO answers again, not when each device's back-off
// runs out) is tested on a hand-driven clock in test/unit/forwarder-timing.test.ts.
