/**
 * Routes under the durability rules: acknowledge only what is durable, and a point leaves the store only when
 * every route delivered it.
 * - PostgreSQL stopped for 30 s under load: TagoIO keeps receiving every point as it arrives; once
 *   PostgreSQL returns, every acknowledged point is in the table exactly once.
 * - The real gateway process killed with SIGKILL three times under load with three routes (TagoIO,
 *   PostgreSQL, a TLS broker): every acknowledged point reaches every route; duplicates on the wire are
 *   counted, none in the table.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { type Spawned, spawnCli } from '../helpers/cli.js';
import { routeServers, simReceived, subscribeBroker, tableTally } from '../helpers/route-sinks.js';
import { missing, startSeqLoad } from '../helpers/seq-load.js';
import { startStack, tempDir, waitFor } from '../helpers/stack.js';

const PG_DOWN_MS = Number(process.env.TAGO_EDGE_PG_DOWN_MS ?? 30_000);

const servers = routeServers();

const count = (acked: Map<string, Set<number>>) => [...acked.values()].reduce((n, s) => n + s.size, 0);

describe('routes: durability', () => {
  it(`PostgreSQL down ${PG_DOWN_MS / 1000} s under load: TagoIO at full rate, then every point in the table once`, {
    timeout: PG_DOWN_MS + 90_000,
  }, async () => {
    const { sim, http, mqtt, gw } = await startStack({
      routes: [
        { name: 'cloud', destination: { type: 'tagoio' } },
        {
          name: 'plant',
          destination: { type: 'postgres', url: servers.pg.url, table: 'pg_outage', timeoutMs: 2_000 },
          delivery: { retryMaxMs: 2_000 },
        },
      ],
    });
    const load = startSeqLoad(() => ({ http, mqtt }), { httpWriters: 2, mqttClients: 2, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 1_000));
    await servers.pg.stop();
    const stoppedAt = Date.now();
    let checks = 0;
    while (Date.now() - stoppedAt < PG_DOWN_MS) {
      await new Promise((r) => setTimeout(r, Math.min(5_000, PG_DOWN_MS / 4)));
      const snapshot = new Map([...load.acked].map(([d, s]) => [d, new Set(s)]));
      await new Promise((r) => setTimeout(r, 1_000));
      // What was acknowledged a second ago is at TagoIO: the dead route holds nothing back.
      expect(missing(snapshot, await simReceived(sim.url))).toEqual({});
      checks++;
    }
    const plant = gw.routes.status()[1];
    expect(plant?.state).toBe('down');
    expect(plant?.depthPoints).toBeGreaterThan(0);
    expect(checks).toBeGreaterThan(1);
    await servers.pg.start();
    await new Promise((r) => setTimeout(r, 1_000));
    await load.stop();
    const acked = count(load.acked);
    await waitFor(
      async () => Object.keys(missing(load.acked, (await tableTally(servers.pg, 'pg_outage')).received())).length === 0,
      30_000,
      200,
    );
    const table = await tableTally(servers.pg, 'pg_outage');
    expect(table.rows).toBe(table.points);
    expect(table.duplicates).toBe(0);
    await waitFor(() => gw.routes.status().every((r) => r.depthPoints === 0), 10_000);
    console.info(
      `postgres outage: ${acked} acknowledged, PostgreSQL down ${PG_DOWN_MS / 1000} s; ` +
        `${table.rows} rows for ${table.points} points; plant retried ${gw.routes.status()[1]?.retries} times`,
    );
  });

  it('delivers every acknowledged point to all three routes across three SIGKILLs', { timeout: 120_000 }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    const sink = await subscribeBroker(servers.broker);
    const dir = tempDir();
    const configFile = join(dir, 'tago-edge.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        upstream: { url: sim.url, batchWaitMs: 5, requestsPerMinute: 60_000, retryBaseMs: 50, retryMaxMs: 1_000 },
        routes: [
          { name: 'cloud', destination: { type: 'tagoio' } },
          { name: 'plant', destination: { type: 'postgres', url: servers.pg.url, table: 'crash_points' } },
          {
            name: 'azure',
            destination: {
              type: 'mqtt',
              url: servers.broker.url,
              caFile: servers.broker.caFile,
              certFile: servers.broker.certFile,
              keyFile: servers.broker.keyFile,
            },
          },
        ],
      }),
    );
    let ports = { http: 0, mqtt: 0 };
    let gw: Spawned | null = null;
    const start = async () => {
      gw = spawnCli(['gateway'], {
        env: {
          TAGO_EDGE_CONFIG: configFile,
          TAGO_EDGE_HTTP_PORT: String(ports.http),
          TAGO_EDGE_MQTT_PORT: String(ports.mqtt),
          TAGO_EDGE_DATA_DIR: join(dir, 'data'),
          TAGO_EDGE_LOG_LEVEL: 'warn',
        },
      });
      const line = await gw.waitForEvent('listening');
      ports = { http: line.http as number, mqtt: line.mqtt as number };
    };
    await start();
    const target = () => ({ http: `http://127.0.0.1:${ports.http}`, mqtt: `mqtt://127.0.0.1:${ports.mqtt}` });
    const load = startSeqLoad(target, { httpWriters: 3, mqttClients: 3, intervalMs: 5 });
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 1_500));
      const g = gw as unknown as Spawned;
      process.kill(g.child.pid as number, 'SIGKILL');
      await g.exit();
      await new Promise((r) => setTimeout(r, 200));
      await start();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    await load.stop();
    const acked = count(load.acked);
    expect(acked).toBeGreaterThan(500);
    const complete = async () => {
      const [cloud, table] = await Promise.all([simReceived(sim.url), tableTally(servers.pg, 'crash_points')]);
      return {
        cloud: missing(load.acked, cloud),
        plant: missing(load.acked, table.received()),
        azure: missing(load.acked, sink.tally.received()),
        table,
      };
    };
    await waitFor(
      async () => {
        const c = await complete();
        return [c.cloud, c.plant, c.azure].every((m) => Object.keys(m).length === 0);
      },
      30_000,
      200,
    ).catch(() => undefined);
    const c = await complete();
    const stats = sim.stats();
    const cloudDuplicates = Object.values(stats.sequences).reduce((n, s) => n + s.duplicates, 0);
    console.info(
      `routes crash test: ${acked} acknowledged, ${load.sent()} sent; duplicates on the wire: TagoIO ` +
        `${cloudDuplicates}, broker ${sink.tally.duplicates}; table ${c.table.rows} rows for ${c.table.points} points`,
    );
    expect(c.cloud).toEqual({});
    expect(c.plant).toEqual({});
    expect(c.azure).toEqual({});
    expect(c.table.rows).toBe(c.table.points); // none twice in the table
    (gw as unknown as Spawned).child.kill('SIGTERM');
    await (gw as unknown as Spawned).exit();
    await sim.close();
  });
});
