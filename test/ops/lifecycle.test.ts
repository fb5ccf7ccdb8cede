/**
 * Operations on the real CLI process: graceful shutdown under load loses nothing acknowledged and exits 0;
 * SIGHUP reloads devices without dropping connections, and refuses an invalid config while keeping the
 * running one.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { spawnCli } from '../helpers/cli.js';
import { missing, startSeqLoad } from '../helpers/seq-load.js';
import { tempDir, waitFor } from '../helpers/stack.js';

async function received(simUrl: string) {
  const res = await request(`${simUrl}/_sim/received`);
  return (await res.body.json()) as Record<string, number[]>;
}

describe('graceful shutdown', () => {
  it('SIGTERM under load: in-flight acknowledgements finish, exit 0, nothing acknowledged lost', {
    timeout: 60_000,
  }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    const env = {
      TAGO_EDGE_HTTP_PORT: '0',
      TAGO_EDGE_MQTT_PORT: '0',
      TAGO_EDGE_UPSTREAM_URL: sim.url,
      TAGO_EDGE_DATA_DIR: dir,
      TAGO_EDGE_LOG_LEVEL: 'warn',
      TAGO_EDGE_CONFIG: '',
    };
    const gw = spawnCli(['gateway'], { env });
    const line = await gw.waitForEvent('listening');
    const target = { http: `http://127.0.0.1:${line.http}`, mqtt: `mqtt://127.0.0.1:${line.mqtt}` };
    // TagoIO slow: forwarding lags, so the store holds a backlog at shutdown.
    sim.setFaults({ latencyMs: 200 });
    const load = startSeqLoad(() => target, { httpWriters: 3, mqttClients: 3, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 2000));
    gw.child.kill('SIGTERM');
    expect(await gw.exit()).toBe(0);
    await load.stop();
    expect(gw.stdout()).toContain('"event":"stopped"');

    // Whatever was not forwarded before the stop is still in the store: a restart delivers it.
    sim.setFaults({ latencyMs: 0 });
    const again = spawnCli(['gateway'], { env });
    await again.waitForEvent('listening');
    await waitFor(async () => Object.keys(missing(load.acked, await received(sim.url))).length === 0, 20_000, 100);
    const ackedCount = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
    expect(ackedCount).toBeGreaterThan(200);
    again.child.kill('SIGTERM');
    expect(await again.exit()).toBe(0);
  });
});

describe('reload (SIGHUP)', () => {
  it('adds a device without dropping connections; refuses an invalid config and keeps the running one', async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    const file = join(dir, 'gw.yaml');
    const write = (devices: string) =>
      writeFileSync(
        file,
        `http: { port: 0, host: 127.0.0.1 }\nmqtt: { port: 0, host: 127.0.0.1 }\nupstream: { url: "${sim.url}" }\nstore: { dir: "${dir}/data" }\nauth: { mode: registry }\ndevices:\n${devices}`,
      );
    write('  - { name: a, token: tok-a }\n');
    const gw = spawnCli(['gateway', '--config', file], { env: { TAGO_EDGE_CONFIG: '' } });
    const line = await gw.waitForEvent('listening');
    const http = `http://127.0.0.1:${line.http}`;
    const post = async (token: string) => {
      const res = await request(`${http}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'device-token': token },
        body: '{"variable":"x","value":1}',
      });
      await res.body.dump();
      return res.statusCode;
    };
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${line.mqtt}`, {
      username: 'Token',
      password: 'tok-a',
      reconnectPeriod: 0,
    });
    onTestFinished(() => client.endAsync(true));
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    expect(await post('tok-b')).toBe(401);

    write('  - { name: a, token: tok-a }\n  - { name: b, token: tok-b }\n');
    gw.child.kill('SIGHUP');
    await gw.waitForEvent('reloaded');
    expect(await post('tok-b')).toBe(200);
    await client.publishAsync('tago/data/post', '{"variable":"still","value":1}', { qos: 1 });
    expect(closed).toBe(false);

    writeFileSync(file, 'upstream: { url: nope }\n');
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.stdout().includes('new configuration refused'));
    expect(gw.stdout()).toContain('upstream.url: Invalid URL');
    expect(await post('tok-b')).toBe(200);
    expect(await post('tok-a')).toBe(200);
  });

  it('--watch reloads when the file changes', async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    const file = join(dir, 'gw.yaml');
    const base = `http: { port: 0, host: 127.0.0.1 }\nmqtt: { port: 0, host: 127.0.0.1 }\nupstream: { url: "${sim.url}" }\nstore: { dir: "${dir}/data" }\nauth: { mode: registry }\n`;
    writeFileSync(file, `${base}devices:\n  - { name: a, token: tok-a }\n`);
    const gw = spawnCli(['gateway', '--config', file, '--watch'], { env: { TAGO_EDGE_CONFIG: '' } });
    const line = await gw.waitForEvent('listening');
    const post = async (token: string) => {
      const res = await request(`http://127.0.0.1:${line.http}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'device-token': token },
        body: '{"variable":"x","value":1}',
      });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await post('tok-c')).toBe(401);
    writeFileSync(file, `${base}devices:\n  - { name: a, token: tok-a }\n  - { name: c, token: tok-c }\n`);
    await gw.waitForEvent('reloaded', 10_000);
    expect(await post('tok-c')).toBe(200);
  });
});
