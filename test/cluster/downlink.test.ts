/**
 * The downlink in a cluster (`store.engine: jetstream`): two gateway nodes in this process on a real
 * 3-server JetStream cluster share the `<prefix>_downlink` bucket.
 * - A command posted to node A reaches the MQTT device connected to node B (QoS 1, PUBACK), once, and
 *   `GET /downlink/{id}` says `delivered` on both nodes.
 * - A command for a device that is offline waits in the bucket and is delivered when the device connects
 *   to the other node.
 * - A command whose `downlink.ttlMs` passes reads `expired` on both nodes.
 * - A TagoIO record both nodes pull becomes one message (pull mode's exactly once, cluster-wide).
 */

import { request } from 'undici';
import { beforeEach, describe, expect, it } from 'vitest';
import type { NatsCluster } from '../../loadtests/lib/nats-cluster.js';
import type { CloudSim } from '../../simulators/cloud-sim/index.js';
import { device, publish, SECRET, status, waitForStatus } from '../downlink/downlink-fixture.js';
import { type ClusterNode, startClusterNode, startSim, useNatsCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/stack.js';

let prefixes = 0;

type Node = ClusterNode;

const DEVICES = [{ name: 'pump-1', token: 'tok-pump-1' }];

/** A node with the downlink listener on, the devices given and `downlink` merged into its settings. */
function startNode(
  nats: NatsCluster,
  sim: CloudSim,
  prefix: string,
  downlink: Record<string, unknown> = {},
  devices: unknown[] = DEVICES,
): Promise<Node> {
  return startClusterNode(nats, sim, prefix, {
    devices,
    downlink: { port: 0, host: '127.0.0.1', secret: SECRET, ...downlink },
  });
}

describe('downlink on a 3-server JetStream cluster', () => {
  const cluster = useNatsCluster(3);
  let nats: NatsCluster;
  beforeEach(() => {
    nats = cluster();
  });

  it('a command posted to node A reaches the device on node B once; both nodes say delivered', async () => {
    const sim = await startSim();
    const prefix = `D${++prefixes}`;
    const a = await startNode(nats, sim, prefix);
    const b = await startNode(nats, sim, prefix);
    const pump = await device(b.mqtt, 'tok-pump-1');
    await pump.client.subscribeAsync('devices/pump-1/cmd', { qos: 1 });

    const res = await publish(a.downlink, { topic: 'devices/pump-1/cmd', message: 'open-valve', qos: 1 });
    expect(res.status).toBe(200);
    const id = res.body.result?.id as string;
    // Acknowledged means stored in the bucket: node B knows it at once or delivers it.
    await waitFor(() => pump.received.length === 1, 10_000);
    expect(pump.received[0]).toMatchObject({ topic: 'devices/pump-1/cmd', payload: 'open-valve', qos: 1 });
    await waitForStatus(b.downlink, id, 'delivered');
    await waitForStatus(a.downlink, id, 'delivered');
    // Once: no second copy arrives from the other node.
    await new Promise((r) => setTimeout(r, 300));
    expect(pump.received).toHaveLength(1);
  }, 60_000);

  it('a command for an offline device waits in the cluster and is delivered when it connects to the other node', async () => {
    const sim = await startSim();
    const prefix = `D${++prefixes}`;
    const a = await startNode(nats, sim, prefix);
    const b = await startNode(nats, sim, prefix);
    const res = await publish(a.downlink, { topic: 'devices/pump-1/cmd', message: 'reboot', qos: 1 });
    expect(res.status).toBe(200);
    const id = res.body.result?.id as string;
    expect(await status(a.downlink, id)).toBe('queued');
    await waitForStatus(b.downlink, id, 'queued');

    const pump = await device(b.mqtt, 'tok-pump-1');
    await pump.client.subscribeAsync('devices/pump-1/cmd', { qos: 1 });
    await waitFor(() => pump.received.length === 1, 10_000);
    expect(pump.received[0]).toMatchObject({ payload: 'reboot', qos: 1 });
    await waitForStatus(a.downlink, id, 'delivered');
    await waitForStatus(b.downlink, id, 'delivered');
  }, 60_000);

  it('a command whose time is up reads expired on both nodes, and is not delivered after', async () => {
    const sim = await startSim();
    const prefix = `D${++prefixes}`;
    const short = { ttlMs: 1_000, sweepIntervalMs: 50 };
    const a = await startNode(nats, sim, prefix, short);
    const b = await startNode(nats, sim, prefix, short);
    const res = await publish(a.downlink, { topic: 'devices/pump-1/cmd', message: 'drain', qos: 1 });
    expect(res.status).toBe(200);
    const id = res.body.result?.id as string;
    await waitForStatus(a.downlink, id, 'expired');
    await waitForStatus(b.downlink, id, 'expired');

    const pump = await device(b.mqtt, 'tok-pump-1');
    await pump.client.subscribeAsync('devices/pump-1/cmd', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(pump.received).toEqual([]);
  }, 60_000);

  it('a record both nodes pull becomes one message, delivered once', async () => {
    const sim = await startSim();
    const prefix = `D${++prefixes}`;
    const token = 'tok-pull-1';
    const res = await request(`${sim.url}/data`, {
      method: 'POST',
      headers: { 'device-token': token, 'content-type': 'application/json' },
      body: JSON.stringify([{ variable: 'command', value: 'reboot' }]),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    // Two requests a minute: a node's DELETE waits 30 s, so the record stays upstream for both to read.
    const pullDevices = [{ name: 'pull-1', token, downlink: { pull: { variable: 'command' } } }];
    const pull = { pull: { requestsPerMinute: 2, intervalMs: 50 } };
    const a = await startNode(nats, sim, prefix, pull, pullDevices);
    await waitFor(async () => (await listed(a.downlink, 'queued')) === 1, 10_000);
    const b = await startNode(nats, sim, prefix, pull, pullDevices);
    const d = await device(b.mqtt, token);
    await d.client.subscribeAsync('devices/pull-1/downlink', { qos: 1 });
    await waitFor(() => d.received.length === 1, 10_000);
    await waitFor(async () => (await listed(b.downlink, 'delivered')) === 1, 10_000);
    // B has polled the record by now (its first GET comes at its start) and skipped it.
    await new Promise((r) => setTimeout(r, 500));
    expect(d.received.map((m) => m.payload)).toEqual(['reboot']);
    for (const n of [a, b]) {
      expect(await listed(n.downlink, 'delivered')).toBe(1);
      expect(await listed(n.downlink, 'queued')).toBe(0);
    }
  }, 60_000);
});

async function listed(base: string, st: string): Promise<number> {
  const res = await request(`${base}/downlink?status=${st}`, { headers: { authorization: SECRET } });
  return ((await res.body.json()) as { result: unknown[] }).result.length;
}
