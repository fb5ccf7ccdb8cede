/**
 * Cluster failover with real processes: two gateway processes on one 3-server JetStream cluster (R3) under
 * steady HTTP and MQTT QoS 1 load, devices spread over both nodes. In turn: one gateway node is killed with
 * SIGKILL and started again, then one nats-server is, while the load runs. Every point a client saw
 * acknowledged must reach cloud-sim (0 lost), per device in order; duplicates are counted and reported
 * (a partition taken over resends what the dead node had sent but not yet acked), not failed. A point the
 * gateway refused may still be stored (a node cut off from its server sends the publish it had buffered
 * once it reconnects, after it answered 503): it is not lost, and it is left out of the order check, as a
 * device told to send it again would put it out of order itself.
 *
 * TAGO_EDGE_FAILOVER_STEP_MS sets how long the load runs between faults (default 2 s).
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { beforeEach, describe, expect, it } from 'vitest';
import type { NatsCluster } from '../../loadtests/lib/nats-cluster.js';
import { type CloudSim, startCloudSim } from '../../simulators/cloud-sim/index.js';
import { type Spawned, spawnCli } from '../helpers/cli.js';
import { useNatsCluster } from '../helpers/cluster.js';
import { ackedOutOfOrder, missing, startSeqLoad, type Target } from '../helpers/seq-load.js';
import { tempDir, waitFor } from '../helpers/stack.js';

const STEP_MS = Number(process.env.TAGO_EDGE_FAILOVER_STEP_MS ?? 2_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface GatewayNode {
  name: string;
  target: Target | null;
  proc: Spawned | null;
  start(): Promise<void>;
  kill(): Promise<void>;
}

function gatewayNode(name: string, nats: NatsCluster, sim: CloudSim): GatewayNode {
  const dir = tempDir();
  const configFile = join(dir, 'gateway.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { host: '127.0.0.1', port: 0, fullWaitMs: 1_000 },
      upstream: { url: sim.url, batchWaitMs: 5, requestsPerMinute: 60_000, retryBaseMs: 50, retryMaxMs: 1_000 },
      store: {
        dir: join(dir, 'data'),
        engine: 'jetstream',
        retryAfterSeconds: 1,
        jetstream: {
          servers: nats.servers,
          prefix: 'FAILOVER',
          replicas: 3,
          partitions: 8,
          node: name,
          ackTimeoutMs: 3_000,
          leaseMs: 2_000,
        },
      },
      log: { level: 'warn' },
    }),
  );
  const node: GatewayNode = {
    name,
    target: null,
    proc: null,
    async start() {
      const proc = spawnCli(['gateway'], { env: { ...process.env, TAGO_EDGE_CONFIG: configFile } });
      node.proc = proc;
      const line = await proc.waitForEvent('listening', 30_000).catch((err) => {
        throw new Error(`${name} did not start: ${(err as Error).message}\n${proc.stderr()}\n${proc.stdout()}`);
      });
      node.target = { http: `http://127.0.0.1:${line.http}`, mqtt: `mqtt://127.0.0.1:${line.mqtt}` };
    },
    async kill() {
      const p = node.proc;
      node.target = null;
      if (!p) return;
      process.kill(p.child.pid as number, 'SIGKILL');
      await p.exit();
      node.proc = null;
    },
  };
  return node;
}

describe('cluster failover (SIGKILL under load)', () => {
  const cluster = useNatsCluster(3);
  let nats: NatsCluster;
  beforeEach(() => {
    nats = cluster();
  });

  it('loses no acknowledged point when a gateway node, then a nats-server, is killed', {
    timeout: 180_000,
  }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    try {
      const gws = [gatewayNode('gw-a', nats, sim), gatewayNode('gw-b', nats, sim)];
      for (const g of gws) await g.start();

      // Each new request goes to the next live node, as a TCP load balancer would send it.
      let turn = 0;
      const pick = (): Target => {
        for (let i = 0; i < gws.length; i++) {
          const t = gws[turn++ % gws.length]?.target;
          if (t) return t;
        }
        return { http: 'http://127.0.0.1:9', mqtt: 'mqtt://127.0.0.1:9' };
      };
      const load = startSeqLoad(pick, { httpWriters: 4, mqttClients: 4, intervalMs: 10 });
      await sleep(STEP_MS);

      // A gateway node dies: its devices reconnect to the other, and its partitions move after the lease.
      const [a] = gws as [GatewayNode, GatewayNode];
      await a.kill();
      await sleep(STEP_MS + 2_000);
      await a.start();
      await sleep(STEP_MS);

      // A nats-server dies: the cluster keeps acknowledging with 2 of 3.
      const victim = nats.nodes[2] as NatsCluster['nodes'][0];
      await victim.kill();
      await sleep(STEP_MS + 2_000);
      await victim.start();
      await sleep(STEP_MS);
      await load.stop();

      const acked = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
      const lost = await waitFor(
        async () => {
          const res = await request(`${sim.url}/_sim/received`);
          const m = missing(load.acked, (await res.body.json()) as Record<string, number[]>);
          return Object.keys(m).length === 0 ? m : null;
        },
        60_000,
        250,
      ).catch(async () => {
        const res = await request(`${sim.url}/_sim/received`);
        return missing(load.acked, (await res.body.json()) as Record<string, number[]>);
      });
      const seqs = Object.values(sim.stats().sequences);
      const arrived = seqs.reduce((n, s) => n + s.unique, 0);
      const duplicates = seqs.reduce((n, s) => n + s.duplicates, 0);
      const outOfOrder = seqs.reduce((n, s) => n + s.outOfOrder, 0);
      const res = await request(`${sim.url}/_sim/received?order=arrival`);
      const ackedOoo = ackedOutOfOrder(load.acked, (await res.body.json()) as Record<string, number[]>);
      const lostCount = Object.values(lost).reduce((n, l) => n + l.length, 0);
      console.info(
        `cluster failover: ${acked} acknowledged, ${arrived} arrived, ${lostCount} lost, ${duplicates} duplicated, ` +
          `${ackedOoo} acknowledged out of order (${outOfOrder} of all arrivals), ` +
          `${load.errors()} client errors of ${load.sent()} sent`,
      );
      expect(acked).toBeGreaterThan(200);
      expect(lost).toEqual({});
      expect(ackedOoo).toBe(0);
    } finally {
      await sim.close();
    }
  });
});
