/**
 * The simulator fleet against the real gateway and cloud-sim: exact loss accounting end to end, the
 * hex profile through the example parser, and devices reconnecting after the gateway restarts.
 */
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { countMissing, runFleet, seededToken } from '../../simulators/fleet/index.js';
import { type Spawned, spawnCli } from '../helpers/cli.js';
import { startStack, tempDir, waitFor } from '../helpers/stack.js';

async function received(simUrl: string) {
  const res = await request(`${simUrl}/_sim/received`);
  return (await res.body.json()) as Record<string, number[]>;
}

describe('simulator fleet → gateway → cloud-sim', () => {
  it('MQTT and HTTP fleets: every acknowledged point arrives, none lost', async () => {
    const { http, mqtt, sim } = await startStack();
    const common = { devices: 20, ratePerSec: 200, durationMs: 2000, profile: 'env' as const };
    const [m, h] = await Promise.all([
      runFleet({ ...common, protocol: 'mqtt', targetMqtt: mqtt, seed: 1 }),
      runFleet({ ...common, protocol: 'http', targetHttp: http, seed: 2 }),
    ]);
    expect(m.counts.acked).toBeGreaterThan(300);
    expect(h.counts.acked).toBeGreaterThan(300);
    await waitFor(async () => countMissing({ ...m.acked, ...h.acked }, await received(sim.url)) === 0, 15_000, 100);
  });

  it('hex profile frames are decoded by the example parser at the gateway', async () => {
    const parser = fileURLToPath(new URL('../../parsers/examples/hex-sensor.js', import.meta.url));
    const devices = 3;
    const tokens = Array.from({ length: devices }, (_, i) => seededToken(7, i));
    const { mqtt, sim } = await startStack({
      auth: { mode: 'registry' },
      // Named as the simulator names them: registry devices publish under devices/<name>/#.
      devices: tokens.map((token, i) => ({ name: `sim-7-${i}`, token, parser })),
    });
    const s = await runFleet({
      protocol: 'mqtt',
      targetMqtt: mqtt,
      devices,
      ratePerSec: 30,
      count: 5,
      profile: 'hex',
      seed: 7,
    });
    expect(s.counts.acked).toBe(devices * 5);
    // Each frame becomes battery, temperature and humidity records.
    await waitFor(() => sim.stats().points === devices * 5 * 3, 10_000);
  });

  it('devices reconnect after the gateway restarts, and nothing acknowledged is lost', {
    timeout: 60_000,
  }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    let mqttPort = 0;
    const start = async (): Promise<Spawned> => {
      const gw = spawnCli(['gateway'], {
        env: {
          TAGO_EDGE_HTTP_PORT: '0',
          TAGO_EDGE_MQTT_PORT: String(mqttPort),
          TAGO_EDGE_UPSTREAM_URL: sim.url,
          TAGO_EDGE_DATA_DIR: dir,
          TAGO_EDGE_LOG_LEVEL: 'warn',
          TAGO_EDGE_CONFIG: '',
        },
      });
      mqttPort = (await gw.waitForEvent('listening')).mqtt as number;
      return gw;
    };
    const first = await start();
    const fleet = runFleet({
      protocol: 'mqtt',
      targetMqtt: `mqtt://127.0.0.1:${mqttPort}`,
      devices: 20,
      ratePerSec: 100,
      durationMs: 5000,
      drainMs: 5000,
      profile: 'env',
      seed: 3,
    });
    await new Promise((r) => setTimeout(r, 1500));
    first.child.kill('SIGTERM');
    await first.exit();
    await start();
    const s = await fleet;
    expect(s.counts.acked).toBeGreaterThan(300);
    await waitFor(async () => countMissing(s.acked, await received(sim.url)) === 0, 15_000, 100);
  });
});
