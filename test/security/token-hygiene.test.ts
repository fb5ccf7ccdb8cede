/**
 * Token hygiene: the real gateway CLI at log level debug, with traffic that makes it log about tokens —
 * refused tokens (registry and upstream 401), missing tokens, bad publishes, dead letters, rate limits,
 * auth cool-down — and no token string in stdout, stderr or GET /metrics. Tokens are looked up in a Map
 * (gateway/auth/device-directory.ts); nothing compares a token character by character.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { spawnCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/stack.js';
import { post } from './fixtures.js';

const GOOD = 'tok-GOOD-5f1c9e0b-secret';
const UPSTREAM_REFUSED = 'tok-UPREFUSED-77aa-secret';
const UNKNOWN = 'tok-UNKNOWN-0042-secret';
const MQTT_BAD = 'tok-MQTTBAD-9999-secret';

async function mqttTry(url: string, password: string, publish?: (c: mqtt.MqttClient) => Promise<void>) {
  const client = mqtt.connect(url, { username: 'Token', password, protocolVersion: 4, reconnectPeriod: 0 });
  onTestFinished(() => client.endAsync(true));
  await new Promise<void>((resolve) => {
    client.once('connect', () => resolve());
    client.once('error', () => resolve());
    client.once('close', () => resolve());
  });
  // A publish the gateway refuses closes the connection without a PUBACK: bound the wait.
  if (client.connected && publish) {
    await Promise.race([publish(client).catch(() => {}), new Promise((r) => setTimeout(r, 1_500))]);
  }
  await client.endAsync(true);
}

describe('token hygiene', () => {
  it('no token reaches stdout, stderr or /metrics of the real gateway at debug level', async () => {
    const sim = await startCloudSim({ port: 0, quiet: true, tokens: [GOOD] });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    const configFile = join(dir, 'gateway.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        http: { port: 0, host: '127.0.0.1' },
        mqtt: { port: 0, host: '127.0.0.1' },
        upstream: { url: sim.url, batchWaitMs: 5, retryBaseMs: 50, retryMaxMs: 500 },
        store: { dir: join(dir, 'data') },
        devices: [{ name: 'good', token: GOOD }],
        limits: { uploadsPerMinute: 3, authFailuresPerMinute: 50 },
      }),
    );
    const gw = spawnCli(['gateway', '--config', configFile], { env: { TAGO_EDGE_LOG_LEVEL: 'debug' } });
    const ready = await gw.waitForEvent('listening');
    const http = `http://127.0.0.1:${ready.http}`;
    const mqttUrl = `mqtt://127.0.0.1:${ready.mqtt}`;

    // Accepted, then over the rate limit.
    for (let i = 0; i < 4; i++) await post(http, { variable: 'v', value: i }, { 'device-token': GOOD });
    // Invalid body, invalid record, unsupported media type: refused with the token in a header.
    await post(http, '{"variable":', { 'device-token': GOOD });
    await post(http, { variable: 'bad-name', value: 1 }, { authorization: `Bearer ${UPSTREAM_REFUSED}` });
    // Passthrough: the gateway accepts it, TagoIO (the sim) refuses it → dead letter, then refused here.
    await post(http, { variable: 'x', value: 1 }, { token: UPSTREAM_REFUSED });
    await waitFor(
      async () => (await post(http, { variable: 'x', value: 2 }, { token: UPSTREAM_REFUSED })).status === 401,
      10_000,
      100,
    );
    await post(http, { variable: 'x', value: 1 }, { 'device-token': '' });
    // MQTT: refused token, bad publishes (dead letters), a topic outside the ACL.
    await mqttTry(mqttUrl, UPSTREAM_REFUSED);
    await mqttTry(mqttUrl, MQTT_BAD, async (c) => {
      await c.publishAsync('tago/data/post', '{not json', { qos: 1 });
      await c.publishAsync('tago/data/post', JSON.stringify({ variable: 'a b', value: 1 }), { qos: 1 });
      await c.publishAsync('$SYS/x', 'x', { qos: 1 });
    });
    await mqttTry(mqttUrl, UNKNOWN, async (c) => {
      for (let i = 0; i < 5; i++) await c.publishAsync('tago/data/post', JSON.stringify({ variable: 'q', value: i }));
    });

    const metrics = await request(`${http}/metrics`);
    const metricsText = await metrics.body.text();
    expect(metricsText).toContain('tago_edge_messages_rejected_total');
    expect(metricsText).toContain('EDGE_ERR_RATE_LIMITED');

    await waitFor(() => gw.stdout().includes('dead letter') || gw.stdout().includes('dead_letter'), 5_000).catch(
      () => undefined,
    );
    gw.child.kill('SIGTERM');
    expect(await gw.exit()).toBe(0);
    const out = gw.stdout() + gw.stderr();
    expect(out.length).toBeGreaterThan(1_000); // it did log, at debug level
    expect(out).toMatch(/"level":"debug"/);
    for (const token of [GOOD, UPSTREAM_REFUSED, UNKNOWN, MQTT_BAD]) {
      expect(out.includes(token), `${token} in the logs`).toBe(false);
      expect(metricsText.includes(token), `${token} in /metrics`).toBe(false);
      // Nor a recognisable fragment of it.
      expect(out.includes(token.slice(4, 14)), `${token} fragment in the logs`).toBe(false);
    }
  });
});
