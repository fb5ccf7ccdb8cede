/**
 * The cluster store (`store.engine: jetstream`) against a real 3-server JetStream cluster, with gateways
 * in this process in front of a real cloud-sim:
 * - HTTP 200 and PUBACK only after the quorum's publish ack, and every acknowledged point forwarded, in
 *   order per device;
 * - two nodes split the partitions; a node that closes hands its partitions over, and order holds;
 * - a token TagoIO refused on one node is refused on every node; dead letters live in the cluster;
 * - with 2 of 3 servers the cluster keeps acknowledging; with 1 of 3 it answers 503 / withholds the PUBACK,
 *   and acknowledges again when the quorum is back.
 * Node failures by SIGKILL, with gateway processes, are in failover.test.ts.
 */

import mqtt from 'mqtt';
import { request } from 'undici';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { JetStreamStore } from '../../gateway/store/jetstream/jetstream-store.js';
import { type NatsCluster, startNatsCluster } from '../../loadtests/lib/nats-cluster.js';
import type { CloudSim } from '../../simulators/cloud-sim/index.js';
import { type ClusterNode, startClusterNode, startSim, useNatsCluster } from '../helpers/cluster.js';
import { ackedOutOfOrder, missing, startSeqLoad } from '../helpers/seq-load.js';
import { waitFor } from '../helpers/stack.js';

let prefixes = 0;
/** The TagoIO outage the cluster rides out under load (TAGO_EDGE_CLUSTER_OUTAGE_MS, default 60 s). */
const OUTAGE_MS = Number(process.env.TAGO_EDGE_CLUSTER_OUTAGE_MS ?? 60_000);

type Node = ClusterNode;

/** A node with the overrides these tests vary: its cluster settings, MQTT and upstream. */
function startNode(
  nats: NatsCluster,
  sim: CloudSim,
  prefix: string,
  over: {
    jetstream?: Record<string, unknown>;
    mqtt?: Record<string, unknown>;
    upstream?: Record<string, unknown>;
  } = {},
): Promise<Node> {
  return startClusterNode(nats, sim, prefix, {
    ...(over.jetstream ? { store: { jetstream: over.jetstream } } : {}),
    ...(over.mqtt ? { mqtt: over.mqtt } : {}),
    ...(over.upstream ? { upstream: over.upstream } : {}),
  });
}

async function post(http: string, token: string, body: unknown) {
  const res = await request(`${http}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'device-token': token },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

async function received(sim: CloudSim) {
  const res = await request(`${sim.url}/_sim/received`);
  return (await res.body.json()) as Record<string, number[]>;
}

/** Acknowledged points that reached TagoIO after a newer acknowledged point of their device. */
async function outOfOrder(sim: CloudSim, acked: Map<string, Set<number>>): Promise<number> {
  const res = await request(`${sim.url}/_sim/received?order=arrival`);
  return ackedOutOfOrder(acked, (await res.body.json()) as Record<string, number[]>);
}

describe('cluster store on a 3-server JetStream cluster', () => {
  const cluster = useNatsCluster(3);
  let nats: NatsCluster;
  beforeEach(() => {
    nats = cluster();
  });

  it('acknowledges after the quorum and forwards every point, in order per device', async () => {
    const sim = await startSim();
    const node = await startNode(nats, sim, `S${++prefixes}`);
    await waitFor(() => node.store.clusterStatus().partitions.held.length === 4, 15_000);

    const load = startSeqLoad(() => node, { httpWriters: 3, mqttClients: 3, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 2_000));
    await load.stop();
    const acked = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
    expect(acked).toBeGreaterThan(100);
    await waitFor(async () => Object.keys(missing(load.acked, await received(sim))).length === 0, 20_000, 100);
    expect(await outOfOrder(sim, load.acked)).toBe(0);

    // The stream is a work queue: what TagoIO took is gone from it.
    await waitFor(async () => {
      await node.store.refresh();
      return node.store.stats().depthPoints === 0;
    }, 10_000);
    const ready = await request(`${node.http}/readyz`);
    const body = (await ready.body.json()) as { ready: boolean; cluster: ReturnType<JetStreamStore['clusterStatus']> };
    expect(ready.statusCode).toBe(200);
    expect(body.cluster.stream.replicas).toBe(3);
    expect(body.cluster.stream.current).toBe(3);
    expect(body.cluster.stream.messages).toBe(0);
    expect(body.cluster.partitions).toEqual({ total: 4, held: [0, 1, 2, 3] });
    expect(body.cluster.lastError).toBe('');
  });

  it('two nodes share the partitions; a node that stops hands its partitions over, in order', async () => {
    const sim = await startSim();
    const prefix = `S${++prefixes}`;
    const a = await startNode(nats, sim, prefix);
    const b = await startNode(nats, sim, prefix);
    await waitFor(() => {
      const ha = a.store.clusterStatus().partitions.held;
      const hb = b.store.clusterStatus().partitions.held;
      return ha.length === 2 && hb.length === 2 && new Set([...ha, ...hb]).size === 4;
    }, 20_000);
    expect(a.store.forwardShare()).toBe(0.5);

    // Devices spread over both nodes; then one node stops in the middle of the load.
    let n = 0;
    const load = startSeqLoad(() => (n++ % 2 === 0 ? a : b), { httpWriters: 4, mqttClients: 0, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 1_000));
    await a.close();
    await waitFor(() => b.store.clusterStatus().partitions.held.length === 4, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    await waitFor(async () => Object.keys(missing(load.acked, await received(sim))).length === 0, 20_000, 100);
    expect(await outOfOrder(sim, load.acked)).toBe(0);
  });

  it(`rides out a ${OUTAGE_MS / 1000} s TagoIO outage under load and drains inside the budget the nodes share`, {
    timeout: OUTAGE_MS + 240_000,
  }, async () => {
    // Each node alone may send the whole profile's budget; together they must not send more than it.
    const perMinute = 30;
    const sim = await startSim({ requestsPerMinute: perMinute });
    const prefix = `S${++prefixes}`;
    const upstream = { requestsPerMinute: perMinute, retryMaxMs: 2_000 };
    const a = await startNode(nats, sim, prefix, { upstream });
    const b = await startNode(nats, sim, prefix, { upstream });
    await waitFor(
      () =>
        a.store.clusterStatus().partitions.held.length === 2 && b.store.clusterStatus().partitions.held.length === 2,
      20_000,
    );
    let n = 0;
    // More devices with points waiting than the budget serves: each node always has something to send, so a
    // node sending more than its share would exceed the profile's limit within a minute.
    const load = startSeqLoad(() => (n++ % 2 === 0 ? a : b), { httpWriters: 6, mqttClients: 6, intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 1_000));
    sim.setFaults({ outage: true });
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await a.store.refresh();
    const backlog = a.store.stats().depthPoints;
    sim.setFaults({ outage: false });
    const recovered = Date.now();
    // Load goes on through the recovery: the drain shares the budget with the new points.
    await new Promise((r) => setTimeout(r, 45_000));
    await load.stop();
    await waitFor(async () => Object.keys(missing(load.acked, await received(sim))).length === 0, 90_000, 250);
    const drainMs = Date.now() - recovered;
    const st = sim.stats();
    const acked = [...load.acked.values()].reduce((k, s) => k + s.size, 0);
    console.info(
      `cluster outage: ${acked} acknowledged, backlog ${backlog} points at recovery, all arrived ${drainMs} ms after it; ` +
        `${st.requests.byStatus['200'] ?? 0} requests answered 200, ${st.requests.rateLimited} answered 429`,
    );
    expect(backlog).toBeGreaterThan(100);
    expect(st.requests.rateLimited).toBe(0);
    expect(await outOfOrder(sim, load.acked)).toBe(0);
  });

  it('refuses everywhere a token TagoIO refused on one node, and keeps its points as a dead letter', async () => {
    const sim = await startSim({ tokens: ['good'] });
    const prefix = `S${++prefixes}`;
    const a = await startNode(nats, sim, prefix);
    await waitFor(() => a.store.clusterStatus().partitions.held.length === 4, 15_000);
    const b = await startNode(nats, sim, prefix, { jetstream: { node: 'b-second' } });

    // Passthrough: the gateway stores it; TagoIO then refuses the token on forward.
    expect((await post(b.http, 'bad', [{ variable: 't', value: 1 }])).status).toBe(200);
    await waitFor(() => a.store.isRefused('bad') && b.store.isRefused('bad'), 15_000);
    const refusedAtB = await waitFor(async () => {
      const r = await post(b.http, 'bad', [{ variable: 't', value: 2 }]);
      return r.status === 401 ? r : null;
    });
    expect(refusedAtB.text).toMatch(/TagoIO refused this token/);
    expect((await post(b.http, 'good', [{ variable: 't', value: 3 }])).status).toBe(200);
    // Its partition may be on its way from a to b (b's consumer made anew): give the handover time.
    await waitFor(() => sim.stats().tokens.good?.points === 1, 30_000, 100);

    // The dead letter is in the cluster: the other node lists it.
    const letters = await waitFor(async () => {
      const l = await b.store.listDeadLetters();
      return l.length > 0 ? l : null;
    });
    expect(letters).toHaveLength(1);
    expect(letters[0]?.records).toEqual([expect.objectContaining({ variable: 't', value: 1 })]);
    await b.store.refresh();
    expect(b.store.stats().deadLetters).toBe(1);
    // A node that started after the refusal knows it too.
    const c = await startNode(nats, sim, prefix, { jetstream: { node: 'c-late' } });
    expect((await post(c.http, 'bad', [{ variable: 't', value: 4 }])).status).toBe(401);
  });

  it('replays a dead letter into the stream, and it is forwarded once TagoIO takes it', async () => {
    const sim = await startSim({ errorRate: 1, errorStatus: 400 });
    const node = await startNode(nats, sim, `S${++prefixes}`);
    await waitFor(() => node.store.clusterStatus().partitions.held.length === 4, 15_000);
    expect(
      (await post(node.http, 'dev', [{ variable: 'x', value: 1, metadata: { sim_device: 'd', sim_seq: 0 } }])).status,
    ).toBe(200);
    const [letter] = await waitFor(async () => {
      const l = await node.store.listDeadLetters();
      return l.length > 0 ? l : null;
    });
    expect(letter?.reason).toMatch(/rejected|400/);

    sim.setFaults({ errorRate: 0 });
    expect(await node.store.replayDeadLetters([letter?.id as number])).toBe(1);
    expect(await node.store.listDeadLetters()).toEqual([]);
    await waitFor(async () => (await received(sim)).d?.length === 1, 15_000);
  });
});

describe('cluster store when servers are lost', () => {
  it('does not send forwarded points again while their stream ack cannot be confirmed', {
    timeout: 120_000,
  }, async () => {
    const nats = await startNatsCluster(3);
    onTestFinished(() => nats.destroy());
    await nats.waitJetStream(20_000);
    // TagoIO answers slowly: the quorum goes while the request is on its way, so its 2xx comes with no
    // quorum to confirm the stream ack. A long lease keeps the partition on this node meanwhile.
    const sim = await startSim({ latencyMs: 3_000 });
    const node = await startNode(nats, sim, 'U', { jetstream: { ackTimeoutMs: 1_000, leaseMs: 60_000 } });
    await waitFor(() => node.store.clusterStatus().partitions.held.length === 4, 15_000);
    const body = [{ variable: 'u', value: 1, metadata: { sim_device: 'u', sim_seq: 0 } }];
    expect((await post(node.http, 'u', body)).status).toBe(200);
    await waitFor(() => sim.stats().requests.total >= 1, 10_000);
    const [, n2, n3] = nats.nodes as [NatsCluster['nodes'][0], NatsCluster['nodes'][0], NatsCluster['nodes'][0]];
    await n2.kill();
    await n3.kill();
    // TagoIO took the point; its stream ack goes unconfirmed (no quorum).
    await waitFor(() => (sim.stats().requests.byStatus['200'] ?? 0) >= 1, 20_000, 100);
    // Ten seconds without a quorum: the point is not sent again (its ack is).
    await new Promise((r) => setTimeout(r, 10_000));
    expect(sim.stats().tokens.u?.requests).toBe(1);

    await n2.start();
    await n3.start();
    // The quorum back: the ack is confirmed and the stream empties. Had the partition moved meanwhile (its
    // consumer started over), its new consumer delivers the point once more: at most one duplicate.
    await waitFor(
      async () => {
        await node.store.refresh();
        return node.store.clusterStatus().acksUnconfirmed === 0 && node.store.stats().depthPoints === 0;
      },
      60_000,
      200,
    ).catch((err) => {
      console.log(
        'DIAG',
        JSON.stringify(node.store.clusterStatus()),
        JSON.stringify(node.store.stats()),
        JSON.stringify(sim.stats().sequences),
      );
      throw err;
    });
    expect(sim.stats().sequences.u?.unique).toBe(1);
    expect(sim.stats().sequences.u?.duplicates).toBeLessThanOrEqual(1);
  });

  it('keeps acknowledging with 2 of 3 servers, refuses with 1 of 3, and acknowledges again after', async () => {
    const nats = await startNatsCluster(3);
    onTestFinished(() => nats.destroy());
    await nats.waitJetStream(20_000);
    const sim = await startSim();
    const node = await startNode(nats, sim, 'Q', {
      jetstream: { ackTimeoutMs: 2_000 },
      mqtt: { fullWaitMs: 500 },
    });
    const point = (seq: number) => [{ variable: 's', value: seq, metadata: { sim_device: 'q', sim_seq: seq } }];
    let seq = 0;
    const acked: number[] = [];
    const send = async () => {
      const n = seq++;
      const r = await post(node.http, 'q', point(n));
      if (r.status === 200) acked.push(n);
      return r;
    };
    expect((await send()).status).toBe(200);

    // One server gone: after the stream's leader election (if it led), every append is acknowledged.
    const [n1, n2, n3] = nats.nodes as [NatsCluster['nodes'][0], NatsCluster['nodes'][0], NatsCluster['nodes'][0]];
    await n3.kill();
    await waitFor(async () => (await send()).status === 200, 20_000, 200);
    for (let i = 0; i < 20; i++) expect((await send()).status).toBe(200);

    // Two gone: no quorum, no acknowledgement.
    await n2.kill();
    const refused = await waitFor(
      async () => {
        const r = await send();
        return r.status === 503 ? r : null;
      },
      20_000,
      0,
    );
    expect(refused.headers['retry-after']).toBe('2');
    expect(refused.text).toMatch(/did not acknowledge/);
    expect((await send()).status).toBe(503);
    const client = await mqtt.connectAsync(node.mqtt, { username: 'Token', password: 'q-mqtt', reconnectPeriod: 0 });
    onTestFinished(() => client.endAsync(true));
    let pubacked = false;
    const pub = client
      .publishAsync('tago/data/post', JSON.stringify({ variable: 'm', value: 1 }), { qos: 1 })
      .then(() => {
        pubacked = true;
      })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(pubacked).toBe(false);
    const ready = await request(`${node.http}/readyz`);
    expect(ready.statusCode).toBe(503);
    const readyBody = (await ready.body.json()) as { store: { writable: boolean }; cluster: { lastError: string } };
    expect(readyBody.store.writable).toBe(false);
    expect(readyBody.cluster.lastError).not.toBe('');

    // Quorum back: acknowledged again, and every point acknowledged at any time arrives.
    await n2.start();
    await n3.start();
    await nats.waitJetStream(30_000, n1);
    await waitFor(async () => (await send()).status === 200, 30_000, 200);
    void pub;
    await waitFor(
      async () => {
        const got = new Set((await received(sim)).q ?? []);
        return acked.every((s) => got.has(s));
      },
      // The partitions went back to the lease bucket during the outage: retaking them makes their
      // consumers anew, which on a busy machine takes a few lease rounds.
      60_000,
      200,
    );
    expect(await outOfOrder(sim, new Map([['q', new Set(acked)]]))).toBe(0);
  }, 180_000);
});
