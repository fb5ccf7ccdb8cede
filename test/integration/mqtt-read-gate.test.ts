/**
 * mqtt.maxPublishesInFlight: past the bound, connections' reads wait (the rest stays in the sockets), and
 * every publish is still answered and delivered: real gateway, real MQTT.js clients, /metrics sampled.
 */
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startStack, waitFor } from '../helpers/stack.js';

async function gauges(http: string): Promise<{ inFlight: number; waiting: number }> {
  const text = await (await request(`${http}/metrics`)).body.text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { inFlight: read('tago_edge_mqtt_publishes_in_flight'), waiting: read('tago_edge_mqtt_reads_waiting') };
}

describe('MQTT publishes in flight', () => {
  it('keeps the publishes inside the gateway near mqtt.maxPublishesInFlight and answers every one', async () => {
    // Slow group commits hold each publish inside for ~150 ms, so 20 clients × 10 publishes pile up.
    const {
      http,
      mqtt: url,
      sim,
    } = await startStack({
      mqtt: { maxPublishesInFlight: 4 },
      store: { groupCommitMs: 150 },
    });
    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        mqtt.connectAsync(url, { username: 'Token', password: `gate-${i}`, protocolVersion: 4, reconnectPeriod: 0 }),
      ),
    );
    onTestFinished(async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    });
    let maxInFlight = 0;
    let maxWaiting = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const g = await gauges(http);
        maxInFlight = Math.max(maxInFlight, g.inFlight);
        maxWaiting = Math.max(maxWaiting, g.waiting);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await Promise.all(
      clients.flatMap((c, i) =>
        Array.from({ length: 10 }, (_, k) =>
          c.publishAsync('tago/data/post', JSON.stringify({ variable: 'seq', value: i * 10 + k }), { qos: 1 }),
        ),
      ),
    );
    sampling = false;
    await sampler;
    // Every publish was answered (its PUBACK resolved publishAsync) and reaches TagoIO.
    await waitFor(() => sim.stats().points === 200, 15_000);
    // A released read brings one chunk (at most one client's 10 publishes) past the bound.
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(4 + 10);
    expect(maxWaiting).toBeGreaterThan(0);
    expect((await gauges(http)).inFlight).toBe(0);
  });
});
