/**
 * `tago-edge queue` on a cluster store where no gateway node runs on the machine: it reads the stream as it
 * is, and neither creates a missing one nor rewrites its limits with its own config.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { NatsCluster } from '../../loadtests/lib/nats-cluster.js';
import { runCli } from '../helpers/cli.js';
import { startClusterNode, startSim, useNatsCluster } from '../helpers/cluster.js';
import { tempDir, waitFor } from '../helpers/stack.js';

function configFile(nats: NatsCluster, prefix: string, maxBytes: number): string {
  const dir = tempDir();
  const file = join(dir, 'queue.json');
  writeFileSync(
    file,
    JSON.stringify({
      store: { dir: join(dir, 'data'), engine: 'jetstream', jetstream: { servers: nats.servers, prefix, maxBytes } },
    }),
  );
  return file;
}

describe('tago-edge queue on a cluster store', () => {
  const cluster = useNatsCluster(3);

  it('reads the stream a node made, without changing its limits', { timeout: 60_000 }, async () => {
    const nats = cluster();
    const sim = await startSim({ outage: true });
    const node = await startClusterNode(nats, sim, 'QCLI', { store: { jetstream: { maxBytes: 8 * 1024 * 1024 } } });
    await waitFor(() => node.store.clusterStatus().partitions.held.length === 4, 15_000);

    const stats = await runCli(['queue', 'stats', '--json', '--config', configFile(nats, 'QCLI', 4 * 1024 * 1024)]);
    expect(stats.stderr).toBe('');
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ cluster: { stream: { name: 'QCLI_POINTS', replicas: 3 } } });

    const nc = await connect({ servers: nats.servers });
    onTestFinished(() => nc.close());
    const info = await (await jetstreamManager(nc)).streams.info('QCLI_POINTS');
    expect(info.config.max_bytes).toBe(8 * 1024 * 1024);
  });

  it('refuses, creating nothing, where no node has made the store', { timeout: 60_000 }, async () => {
    const nats = cluster();
    const r = await runCli(['queue', 'stats', '--config', configFile(nats, 'NOBODY', 4 * 1024 * 1024)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no cluster store named NOBODY_POINTS/);
    const nc = await connect({ servers: nats.servers });
    onTestFinished(() => nc.close());
    const names: string[] = [];
    for await (const s of (await jetstreamManager(nc)).streams.list()) names.push(s.config.name);
    expect(names.filter((n) => n.includes('NOBODY'))).toEqual([]);
  });
});
