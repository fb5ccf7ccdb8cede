/**
 * Test helpers for the cluster store: a real JetStream cluster per test file, a cloud-sim per test, and
 * gateway nodes in this process on that cluster (`store.engine: jetstream`), each closed when its test ends.
 */
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import type { ConfigInput } from '../../gateway/config/schema.js';
import { type RunningGateway, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/log.js';
import type { JetStreamStore } from '../../gateway/store/jetstream/jetstream-store.js';
import { type NatsCluster, startNatsCluster } from '../../loadtests/lib/nats-cluster.js';
import { type CloudSim, type CloudSimOptions, startCloudSim } from '../../simulators/cloud-sim/index.js';
import { merge, testConfig } from './stack.js';

/** Starts a `size`-server cluster before the file's tests and destroys it after; call inside a describe. */
export function useNatsCluster(size = 3): () => NatsCluster {
  let nats: NatsCluster | undefined;
  beforeAll(async () => {
    nats = await startNatsCluster(size);
    await nats.waitJetStream(20_000);
  }, 60_000);
  afterAll(() => nats?.destroy());
  return () => {
    if (!nats) throw new Error('the NATS cluster is not started (useNatsCluster outside a describe?)');
    return nats;
  };
}

export async function startSim(opts: CloudSimOptions = {}): Promise<CloudSim> {
  const sim = await startCloudSim({ port: 0, quiet: true, ...opts });
  onTestFinished(() => sim.close());
  return sim;
}

export interface ClusterNode {
  gw: RunningGateway;
  http: string;
  mqtt: string;
  /** The downlink listener, when `downlink.port` is set. */
  downlink: string;
  store: JetStreamStore;
  close(): Promise<void>;
}

let nodes = 0;

/**
 * A gateway node on `nats` under `prefix` (4 partitions, R3, short ack and lease times), with `over`
 * merged into its config. Nodes in one process get distinct names: the default (host and process id)
 * would be the same for all.
 */
export async function startClusterNode(
  nats: NatsCluster,
  sim: CloudSim,
  prefix: string,
  over: Record<string, unknown> = {},
): Promise<ClusterNode> {
  const base = {
    store: {
      engine: 'jetstream',
      retryAfterSeconds: 2,
      jetstream: {
        servers: nats.servers,
        prefix,
        partitions: 4,
        replicas: 3,
        ackTimeoutMs: 3_000,
        leaseMs: 2_000,
        node: `node-${++nodes}`,
      },
    },
  };
  const config = testConfig(sim.url, merge(base, over) as ConfigInput);
  const gw = await startGateway(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await gw.close();
  };
  onTestFinished(close);
  return {
    gw,
    http: `http://127.0.0.1:${gw.ports.http}`,
    mqtt: `mqtt://127.0.0.1:${gw.ports.mqtt}`,
    downlink: `http://127.0.0.1:${gw.ports.downlink}`,
    store: gw.store as JetStreamStore,
    close,
  };
}
