/**
 * Acknowledge only what is durable: steady HTTP and MQTT QoS 1 load with sequence-numbered points while
 * the real gateway process is killed with SIGKILL three times and restarted on the same data directory.
 * Every point acknowledged to a client must reach cloud-sim. Duplicates (points delivered but whose
 * delivery was not recorded before the kill) are reported, not failed.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { type Spawned, spawnCli } from '../helpers/cli.js';
import { missing, startSeqLoad } from '../helpers/seq-load.js';
import { tempDir, waitFor } from '../helpers/stack.js';

describe('crash safety (kill -9 under load)', () => {
  it('delivers every acknowledged point across three SIGKILLs', { timeout: 90_000 }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    const dir = tempDir();
    let ports = { http: 0, mqtt: 0 };
    let gw: Spawned | null = null;
    const start = async () => {
      gw = spawnCli(['gateway'], {
        env: {
          TAGO_EDGE_HTTP_PORT: String(ports.http),
          TAGO_EDGE_MQTT_PORT: String(ports.mqtt),
          TAGO_EDGE_UPSTREAM_URL: sim.url,
          TAGO_EDGE_DATA_DIR: dir,
          TAGO_EDGE_LOG_LEVEL: 'warn',
          TAGO_EDGE_CONFIG: '',
        },
      });
      const line = await gw.waitForEvent('listening');
      ports = { http: line.http as number, mqtt: line.mqtt as number };
    };
    await start();
    const load = startSeqLoad(
      () => ({ http: `http://127.0.0.1:${ports.http}`, mqtt: `mqtt://127.0.0.1:${ports.mqtt}` }),
      {
        httpWriters: 4,
        mqttClients: 4,
        intervalMs: 5,
      },
    );
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 1500));
      const g = gw as unknown as Spawned;
      process.kill(g.child.pid as number, 'SIGKILL');
      await g.exit();
      await new Promise((r) => setTimeout(r, 200));
      await start();
    }
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();

    const ackedCount = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
    expect(ackedCount).toBeGreaterThan(500);
    const received = await waitFor(
      async () => {
        const res = await request(`${sim.url}/_sim/received`);
        const got = (await res.body.json()) as Record<string, number[]>;
        return Object.keys(missing(load.acked, got)).length === 0 ? got : null;
      },
      30_000,
      200,
    ).catch(async () => {
      const res = await request(`${sim.url}/_sim/received`);
      return (await res.body.json()) as Record<string, number[]>;
    });
    const lost = missing(load.acked, received);
    const stats = sim.stats();
    const duplicates = Object.values(stats.sequences).reduce((n, s) => n + s.duplicates, 0);
    console.info(
      `crash test: ${ackedCount} acknowledged, ${load.sent()} sent, ${load.errors()} client errors, ` +
        `${duplicates} duplicates delivered, lost ${Object.values(lost).flat().length}`,
    );
    expect(lost).toEqual({});
    (gw as unknown as Spawned).child.kill('SIGTERM');
    await (gw as unknown as Spawned).exit();
    await sim.close();
  });
});
