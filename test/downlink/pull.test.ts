/**
 * Pull mode against cloud-sim: a command placed in the device's bucket variable (POST /data with the
 * device token, as a TagoIO Analysis would) is polled by the gateway (GET /data), queued, delivered over
 * MQTT and deleted upstream (DELETE /data). Exactly once across a restart: the first gateway queues the
 * command and stops before its DELETE (pull budget of 2 requests a minute: the DELETE waits 30 s); the
 * second, on the same data directory, reads the record again and must not queue it twice.
 */
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/log.js';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { tempDir, testConfig, waitFor } from '../helpers/stack.js';
import { device, metricValue } from './downlink-fixture.js';

const TOKEN = 'tok-pull-1';

async function bucket(simUrl: string): Promise<Array<{ id: string; value: unknown }>> {
  const res = await request(`${simUrl}/data?variable=command&qty=100`, { headers: { 'device-token': TOKEN } });
  return ((await res.body.json()) as { result: Array<{ id: string; value: unknown }> }).result;
}

async function placeCommand(simUrl: string, value: string): Promise<void> {
  const res = await request(`${simUrl}/data`, {
    method: 'POST',
    headers: { 'device-token': TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify([{ variable: 'command', value }]),
  });
  expect(res.statusCode).toBe(200);
  await res.body.dump();
}

async function gateway(simUrl: string, dir: string, requestsPerMinute: number): Promise<RunningGateway> {
  const config = testConfig(
    simUrl,
    {
      auth: { mode: 'registry' },
      devices: [{ name: 'pull-1', token: TOKEN, downlink: { pull: { variable: 'command' } } }],
      downlink: { pull: { requestsPerMinute, intervalMs: 50 } },
    },
    dir,
  );
  const gw = await startGateway(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  onTestFinished(() => gw.close());
  return gw;
}

describe('downlink pull mode', () => {
  it('delivers a command from the bucket once and deletes it upstream', async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const gw = await gateway(sim.url, tempDir(), 6_000);
    const d = await device(`mqtt://127.0.0.1:${gw.ports.mqtt}`, TOKEN);
    await d.client.subscribeAsync('devices/pull-1/downlink', { qos: 1 });
    await placeCommand(sim.url, 'reboot');
    await waitFor(() => d.received.length === 1);
    expect(d.received[0]).toMatchObject({ topic: 'devices/pull-1/downlink', payload: 'reboot', qos: 1 });
    await waitFor(async () => (await bucket(sim.url)).length === 0);
    await placeCommand(sim.url, 'sleep');
    await waitFor(() => d.received.length === 2);
    // Many polls later nothing came twice.
    const http = `http://127.0.0.1:${gw.ports.http}`;
    const polls = await metricValue(http, 'tago_edge_downlink_pull_requests_total');
    await waitFor(async () => (await metricValue(http, 'tago_edge_downlink_pull_requests_total')) > polls + 5);
    expect(d.received.map((m) => m.payload)).toEqual(['reboot', 'sleep']);
    expect(await metricValue(http, 'tago_edge_downlink_pulled_total')).toBe(2);
  });

  it('a command pulled before a restart is not queued again after it', { timeout: 30_000 }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    await placeCommand(sim.url, 'calibrate');

    const first = await gateway(sim.url, dir, 2);
    const http1 = `http://127.0.0.1:${first.ports.http}`;
    await waitFor(async () => (await metricValue(http1, 'tago_edge_downlink_pulled_total')) === 1);
    await first.close();
    // Stopped between the commit and the DELETE: TagoIO still holds the record.
    expect((await bucket(sim.url)).map((r) => r.value)).toEqual(['calibrate']);

    const second = await gateway(sim.url, dir, 6_000);
    const http2 = `http://127.0.0.1:${second.ports.http}`;
    await waitFor(async () => (await bucket(sim.url)).length === 0);
    const d = await device(`mqtt://127.0.0.1:${second.ports.mqtt}`, TOKEN);
    await d.client.subscribeAsync('devices/pull-1/downlink', { qos: 1 });
    await waitFor(() => d.received.length >= 1);
    const polls = await metricValue(http2, 'tago_edge_downlink_pull_requests_total');
    await waitFor(async () => (await metricValue(http2, 'tago_edge_downlink_pull_requests_total')) > polls + 5);
    expect(d.received.map((m) => m.payload)).toEqual(['calibrate']);
    expect(await metricValue(http2, 'tago_edge_downlink_pulled_total')).toBe(0);
    expect(await metricValue(http2, 'tago_edge_downlink_depth')).toBe(0);
  });
});

describe('downlink pull pacing', () => {
  it('backs off on 429 for the Retry-After TagoIO names, and still delivers', { timeout: 20_000 }, async () => {
    // One GET /data per 1 s window: every other poll inside a window answers 429 "Retry-After: 1".
    const sim = await startCloudSim({ port: 0, quiet: true, getRequestsPerMinute: 1, rateWindowMs: 1_000 });
    onTestFinished(() => sim.close());
    await placeCommand(sim.url, 'ping');
    const gw = await gateway(sim.url, tempDir(), 6_000);
    const http = `http://127.0.0.1:${gw.ports.http}`;
    const d = await device(`mqtt://127.0.0.1:${gw.ports.mqtt}`, TOKEN);
    await d.client.subscribeAsync('devices/pull-1/downlink', { qos: 1 });
    await waitFor(() => d.received.length === 1);
    const t0 = Date.now();
    await waitFor(() => Date.now() - t0 > 2_500, 5_000, 100);
    const limited = sim.stats().requests.rateLimited;
    // Polling every 50 ms without heeding 429 would be ~50 GETs in 2.5 s, most refused; waiting out each
    // Retry-After keeps it to about one allowed and one refused GET per window.
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThanOrEqual(5);
    expect(await metricValue(http, 'tago_edge_downlink_pull_requests_total')).toBeLessThanOrEqual(15);
    expect(d.received.map((m) => m.payload)).toEqual(['ping']);
  });
});
