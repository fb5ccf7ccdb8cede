/**
 * Partition leases (gateway/store/jetstream/leases.ts) against a real nats-server: two nodes, each with its
 * own connection, share the lease bucket that provision() creates. The tests drive `tick()` by hand (no
 * `start()`, and a hand-moved clock whose timers never fire on their own); only the expiry test waits, for
 * a 1 s lease, because there the servers' TTL is the thing under test.
 */

import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import { createLogger } from '../../gateway/log.js';
import { PartitionLeases } from '../../gateway/store/jetstream/leases.js';
import { clusterNames } from '../../gateway/store/jetstream/names.js';
import { provision } from '../../gateway/store/jetstream/provision.js';
import { type NatsCluster, startNatsCluster } from '../../loadtests/lib/nats-cluster.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/stack.js';

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

let cluster: NatsCluster;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(1);
});
afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => {});
  await cluster?.destroy();
});

async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: cluster.servers });
  connections.push(nc);
  return nc;
}

let buckets = 0;

/** A lease bucket of its own, created as a node's first start creates it; `open` binds another node to it. */
async function leaseBucket(partitions: number, leaseMs: number) {
  const config = parseConfig({
    store: {
      engine: 'jetstream',
      jetstream: { servers: cluster.servers, replicas: 1, prefix: `LEASES_${++buckets}`, partitions, leaseMs },
    },
  }).store.jetstream;
  const names = clusterNames(config.prefix);
  const { leases } = await provision(await jetstreamManager(await connection()), names, config, 64 * 1024 * 1024);
  return {
    kv: leases,
    config,
    open: async (): Promise<KV> => new Kvm(await connection()).open(names.leaseBucket),
  };
}

interface TestNode {
  name: string;
  leases: PartitionLeases;
  /** `+p` gained, `-p` lost, in the order the callbacks ran. */
  events: string[];
  clock: ManualClock;
}

function node(kv: KV, name: string, config: { partitions: number; leaseMs: number }): TestNode {
  const events: string[] = [];
  const clock = new ManualClock();
  const leases = new PartitionLeases(
    kv,
    name,
    config.partitions,
    config.leaseMs,
    { gained: (p) => void events.push(`+${p}`), lost: (p) => void events.push(`-${p}`) },
    log,
    clock,
  );
  onTestFinished(() => leases.stop());
  return { name, leases, events, clock };
}

/** Which node the bucket says holds partition p (undefined: nobody). */
async function holderOf(kv: KV, p: number): Promise<string | undefined> {
  const e = await kv.get(`p.${p}`);
  return e && e.operation === 'PUT' ? e.string() : undefined;
}

async function keys(kv: KV): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys()) out.push(k);
  return out.sort();
}

/** The callbacks that ran, in partition order (a node takes free partitions rotated by its name's hash). */
const set = (events: string[]) => [...events].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1)));

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** No partition held by two nodes, and each node's view agrees with the bucket. */
async function expectConsistent(kv: KV, nodes: TestNode[], partitions: number): Promise<void> {
  const seen = new Map<number, string>();
  for (const n of nodes) {
    for (const p of n.leases.held) {
      expect(seen.get(p), `partition ${p} held by ${seen.get(p)} and ${n.name}`).toBeUndefined();
      seen.set(p, n.name);
    }
  }
  for (const p of range(partitions)) expect(await holderOf(kv, p)).toBe(seen.get(p));
}

describe('partition leases on a real nats-server', () => {
  it('one node takes every partition; after a second heartbeats they split fairly, none held twice', async () => {
    const { kv, config, open } = await leaseBucket(8, 10_000);
    const a = node(kv, 'a', config);
    const b = node(await open(), 'b', config);

    await a.leases.tick();
    expect(a.leases.held).toEqual(range(8));
    expect(a.leases.nodes).toBe(1);
    expect(a.leases.share()).toBe(1);
    expect(set(a.events)).toEqual(range(8).map((p) => `+${p}`));
    for (const p of range(8)) expect(a.leases.owns(p)).toBe(true);
    await expectConsistent(kv, [a, b], 8);

    // b's first tick: it heartbeats and sees two nodes, but nothing is free yet.
    await b.leases.tick();
    expect(b.leases.nodes).toBe(2);
    expect(b.leases.held).toEqual([]);
    expect(b.leases.share()).toBe(0);
    expect(await keys(kv)).toEqual([...range(8).map((p) => `p.${p}`), 'node.a', 'node.b'].sort());

    // a sees two nodes: its fair share is ceil(8 / 2) = 4, it hands back the rest at once.
    a.events.length = 0;
    await a.leases.tick();
    expect(a.leases.nodes).toBe(2);
    expect(a.leases.held).toEqual([0, 1, 2, 3]);
    expect(set(a.events)).toEqual(['-4', '-5', '-6', '-7']);
    expect(a.leases.owns(5)).toBe(false);
    await expectConsistent(kv, [a, b], 8);

    await b.leases.tick();
    expect(b.leases.held).toEqual([4, 5, 6, 7]);
    expect(set(b.events)).toEqual(['+4', '+5', '+6', '+7']);
    expect(a.leases.share()).toBe(0.5);
    expect(b.leases.share()).toBe(0.5);
    await expectConsistent(kv, [a, b], 8);

    // Settled: more ticks renew and move nothing.
    a.events.length = 0;
    b.events.length = 0;
    for (let i = 0; i < 3; i++) {
      await a.leases.tick();
      await b.leases.tick();
    }
    expect(a.events).toEqual([]);
    expect(b.events).toEqual([]);
    expect(a.leases.held).toEqual([0, 1, 2, 3]);
    expect(b.leases.held).toEqual([4, 5, 6, 7]);
    await expectConsistent(kv, [a, b], 8);
  });

  it('nodes ticking at the same moment never hold one partition together and converge', async () => {
    const { kv, config, open } = await leaseBucket(9, 10_000);
    const a = node(kv, 'node-a', config);
    const b = node(await open(), 'node-b', config);
    let rounds = 0;
    for (; rounds < 10; rounds++) {
      await Promise.all([a.leases.tick(), b.leases.tick()]);
      await expectConsistent(kv, [a, b], 9);
      const held = a.leases.held.length + b.leases.held.length;
      if (held === 9 && a.leases.held.length <= 5 && b.leases.held.length <= 5) break;
    }
    expect(rounds).toBeLessThan(10);
    // ceil(9 / 2) = 5: one node has 5, the other 4.
    expect([a.leases.held.length, b.leases.held.length].sort()).toEqual([4, 5]);
    expect(a.leases.share() + b.leases.share()).toBe(1);
  });

  it('stop() hands every partition back; the other node takes them at its next tick', async () => {
    const { kv, config, open } = await leaseBucket(8, 10_000);
    const a = node(kv, 'a', config);
    const b = node(await open(), 'b', config);
    await a.leases.tick();
    await b.leases.tick();
    await a.leases.tick();
    await b.leases.tick();
    expect(b.leases.held).toEqual([4, 5, 6, 7]);

    b.events.length = 0;
    await b.leases.stop();
    expect(b.leases.held).toEqual([]);
    expect(set(b.events)).toEqual(['-4', '-5', '-6', '-7']);
    // Gone from the bucket at once, not when the lease time runs out.
    expect(await keys(kv)).toEqual(['node.a', 'p.0', 'p.1', 'p.2', 'p.3']);

    a.events.length = 0;
    await a.leases.tick();
    expect(a.leases.nodes).toBe(1);
    expect(a.leases.held).toEqual(range(8));
    expect(set(a.events)).toEqual(['+4', '+5', '+6', '+7']);
    await expectConsistent(kv, [a], 8);
  });

  it('a node whose lease was rewritten or deleted by someone else loses it; one not renewed in time stops', async () => {
    const { kv, config, open } = await leaseBucket(8, 10_000);
    const a = node(kv, 'a', config);
    const other = await open();
    await a.leases.tick();
    expect(a.leases.held).toEqual(range(8));

    // Another node wrote p.2: a's renewal at its old revision is refused.
    await other.put('p.2', 'b');
    a.events.length = 0;
    await a.leases.tick();
    expect(a.events).toEqual(['-2']);
    expect(a.leases.held).toEqual([0, 1, 3, 4, 5, 6, 7]);
    expect(a.leases.owns(2)).toBe(false);
    // It is b's now: a does not take it back while b's lease stands.
    await a.leases.tick();
    expect(a.leases.held).not.toContain(2);
    expect(await holderOf(kv, 2)).toBe('b');

    // p.5 deleted under a: the renewal fails (lost), and the partition is free again, so a takes it anew.
    await other.delete('p.5');
    a.events.length = 0;
    await a.leases.tick();
    expect(a.events).toEqual(['-5', '+5']);
    expect(a.leases.held).toEqual([0, 1, 3, 4, 5, 6, 7]);
    expect(await holderOf(kv, 5)).toBe('a');

    // Not renewed for 60 % of the lease: a stops forwarding by itself, before the servers would let the
    // lease go to anyone else; its next renewal brings it back.
    a.clock.advance(config.leaseMs * 0.6 - 1);
    expect(a.leases.owns(0)).toBe(true);
    a.clock.advance(1);
    expect(a.leases.owns(0)).toBe(false);
    await a.leases.tick();
    expect(a.leases.owns(0)).toBe(true);
  });

  it('a partition whose forwarding cannot start is handed back, not held unforwarded', async () => {
    const { kv, config } = await leaseBucket(4, 10_000);
    const events: string[] = [];
    let failing = true;
    const leases = new PartitionLeases(
      kv,
      'a',
      config.partitions,
      config.leaseMs,
      {
        gained: async (p) => {
          // Starting partition 2's consumer fails once (a JetStream API call timing out).
          if (p === 2 && failing) {
            failing = false;
            throw new Error('timeout');
          }
          events.push(`+${p}`);
        },
        lost: (p) => void events.push(`-${p}`),
      },
      log,
      new ManualClock(),
    );
    onTestFinished(() => leases.stop());
    await leases.tick();
    await leases.started();
    expect(leases.held).toEqual([0, 1, 3]);
    expect(leases.owns(2)).toBe(false);
    // Whatever the failed start left is cleaned up, and the lease is free for any node.
    expect(set(events)).toEqual(['+0', '+1', '-2', '+3']);
    expect(await holderOf(kv, 2)).toBeUndefined();
    events.length = 0;
    await leases.tick();
    await leases.started();
    expect(leases.held).toEqual([0, 1, 2, 3]);
    expect(events).toEqual(['+2']);
  });

  it('a silent node’s leases expire after leaseMs and the survivor takes them; back, it has lost them', async () => {
    const leaseMs = 1_000;
    const { kv, config, open } = await leaseBucket(8, leaseMs);
    const a = node(kv, 'a', config);
    const b = node(await open(), 'b', config);
    await a.leases.tick();
    await b.leases.tick();
    await a.leases.tick();
    await b.leases.tick();
    expect(a.leases.held).toEqual([0, 1, 2, 3]);
    expect(b.leases.held).toEqual([4, 5, 6, 7]);

    // b goes silent (a frozen process, a cut cable): a keeps ticking and, once b's keys expire, takes over.
    const silentSince = Date.now();
    a.events.length = 0;
    await waitFor(
      async () => {
        await a.leases.tick();
        return a.leases.held.length === 8;
      },
      5_000,
      100,
    );
    const tookMs = Date.now() - silentSince;
    expect(tookMs).toBeGreaterThanOrEqual(leaseMs * 0.8);
    expect(tookMs).toBeLessThan(4_000);
    expect(a.leases.nodes).toBe(1);
    expect(set(a.events)).toEqual(['+4', '+5', '+6', '+7']);
    await expectConsistent(kv, [a], 8);

    // b's own clock says it has not renewed for longer than 60 % of the lease: it already stopped.
    b.clock.advance(tookMs);
    for (const p of [4, 5, 6, 7]) expect(b.leases.owns(p)).toBe(false);
    // Its next tick finds the leases in a's hands: every renewal refused, each one lost.
    b.events.length = 0;
    await b.leases.tick();
    expect(set(b.events)).toEqual(['-4', '-5', '-6', '-7']);
    expect(b.leases.held).toEqual([]);
    expect(b.leases.nodes).toBe(2);
    await expectConsistent(kv, [a, b], 8);

    // And the two share again.
    await a.leases.tick();
    await b.leases.tick();
    expect(a.leases.held).toHaveLength(4);
    expect(b.leases.held).toHaveLength(4);
    await expectConsistent(kv, [a, b], 8);
  });

  it("a start with another leaseMs brings the lease bucket's TTL in line", async () => {
    const prefix = `LEASES_${++buckets}`;
    const nc = await connection();
    const jsm = await jetstreamManager(nc);
    const at = async (leaseMs: number) => {
      const config = parseConfig({
        store: { engine: 'jetstream', jetstream: { servers: cluster.servers, replicas: 1, prefix, leaseMs } },
      }).store.jetstream;
      const { leases } = await provision(jsm, clusterNames(prefix), config, 64 * 1024 * 1024);
      return (await leases.status()).ttl;
    };
    expect(await at(2_000)).toBe(2_000);
    expect(await at(5_000)).toBe(5_000);
  });

  it('a node cut off from the servers stops forwarding once its leases are too old to trust', {
    timeout: 30_000,
  }, async () => {
    // A long TTL: the servers keep the leases through the outage, so only this node can pick them up again.
    const { kv, config } = await leaseBucket(4, 60_000);
    const a = node(kv, 'a', config);
    await a.leases.tick();
    expect(a.leases.held).toEqual([0, 1, 2, 3]);

    // The only server goes away: the heartbeat and the renewals cannot be stored.
    const server = cluster.nodes[0] as NatsCluster['nodes'][0];
    await server.kill();
    try {
      a.clock.advance(config.leaseMs * 0.3);
      a.events.length = 0;
      await a.leases.tick();
      // Not yet too old: kept (a short stall need not move the partitions).
      expect(a.leases.held).toEqual([0, 1, 2, 3]);
      a.clock.advance(config.leaseMs * 0.3);
      await a.leases.tick();
      expect(a.leases.held).toEqual([]);
      expect(set(a.events)).toEqual(['-0', '-1', '-2', '-3']);
    } finally {
      await server.start();
      await cluster.waitJetStream(20_000);
    }
    // The servers back, nobody wrote its leases meanwhile: they are its own again at its next round, without
    // waiting for the TTL.
    a.events.length = 0;
    await waitFor(
      async () => {
        await a.leases.tick().catch(() => undefined);
        return a.leases.held.length === 4;
      },
      20_000,
      200,
    );
    expect(set(a.events)).toEqual(['+0', '+1', '+2', '+3']);
  });
});
