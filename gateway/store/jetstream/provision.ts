/**
 * Creates the cluster's streams and buckets on first start, and brings their limits in line with the config
 * on every start (replicas, maxBytes, maxAge): the first node to start provisions, the others find them.
 * Every node must be configured with the same `partitions` (a device's partition is a hash modulo it);
 * docs/cluster.md says so.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { StoreOpenError } from '../../errors.js';
import type { JetStreamConfig } from './connect.js';
import type { ClusterNames } from './names.js';

/** How long the stream remembers a publish's Nats-Msg-Id: a retried publish inside it is stored once. */
export const DUPLICATE_WINDOW_MS = 120_000;
/** Messages a partition's consumer hands its node before the first is acknowledged. */
export const MAX_ACK_PENDING = 2_000;
/** Redelivery of an unacknowledged message to the same node: long, the node keeps what it holds. */
export const ACK_WAIT_MS = 30 * 60_000;

export interface Provisioned {
  leases: KV;
  refused: KV;
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name);
    const c = info.config;
    if (
      c.num_replicas !== cfg.num_replicas ||
      c.max_bytes !== cfg.max_bytes ||
      c.max_age !== cfg.max_age ||
      c.discard !== cfg.discard
    ) {
      await jsm.streams.update(cfg.name, { ...c, ...cfg });
    }
  } catch (err) {
    if ((err as { name?: string }).name !== 'StreamNotFoundError' && !/not found/i.test((err as Error).message)) {
      throw err;
    }
    await jsm.streams.add(cfg);
  }
}

/** A KV bucket is the stream `KV_<bucket>`: its max_age is the bucket's TTL. */
async function alignBucket(jsm: JetStreamManager, bucket: string, replicas: number, ttlMs: number): Promise<void> {
  const name = `KV_${bucket}`;
  const c = (await jsm.streams.info(name)).config;
  if (c.num_replicas !== replicas || c.max_age !== nanos(ttlMs)) {
    await jsm.streams.update(name, { ...c, num_replicas: replicas, max_age: nanos(ttlMs) });
  }
}

export async function provision(
  jsm: JetStreamManager,
  names: ClusterNames,
  config: JetStreamConfig,
  maxBytes: number,
): Promise<Provisioned> {
  try {
    await ensureStream(jsm, {
      name: names.stream,
      subjects: [names.subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: config.replicas,
      max_bytes: config.maxBytes ?? maxBytes,
      max_age: nanos(config.maxAgeMs),
      discard: DiscardPolicy.New,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
    await ensureStream(jsm, {
      name: names.deadStream,
      subjects: [names.deadSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: config.replicas,
      max_bytes: -1,
      max_age: 0,
      discard: DiscardPolicy.Old,
    });
    const kvm = new Kvm(jsm.jetstream());
    const leases = await kvm.create(names.leaseBucket, {
      replicas: config.replicas,
      history: 1,
      ttl: config.leaseMs,
      storage: StorageType.File,
    });
    const refused = await kvm.create(names.refusedBucket, {
      replicas: config.replicas,
      history: 1,
      storage: StorageType.File,
    });
    // `create` opens an existing bucket as it is: bring its TTL and replicas in line, as for the streams.
    await alignBucket(jsm, names.leaseBucket, config.replicas, config.leaseMs);
    await alignBucket(jsm, names.refusedBucket, config.replicas, 0);
    return { leases, refused };
  } catch (err) {
    throw new StoreOpenError(
      `store.jetstream: cannot create the streams and buckets (${(err as Error).message}); JetStream must be enabled on the servers and ${config.replicas} of them reachable (store.jetstream.replicas)`,
      { cause: err },
    );
  }
}

/** The downlink's bucket (created when the downlink is on): replicated like the stream, no TTL. */
/**
 * The streams and buckets as they are, for a command that only reads or replays (`tago-edge queue` where no
 * node runs): nothing is created and no limit is changed. Refused when no node has made them yet.
 */
export async function attach(jsm: JetStreamManager, names: ClusterNames): Promise<Provisioned> {
  try {
    await jsm.streams.info(names.stream);
    await jsm.streams.info(names.deadStream);
    const kvm = new Kvm(jsm.jetstream());
    return { leases: await kvm.open(names.leaseBucket), refused: await kvm.open(names.refusedBucket) };
  } catch (err) {
    throw new StoreOpenError(
      `store.jetstream: no cluster store named ${names.stream} on the servers (${(err as Error).message}); a gateway node creates it when it starts`,
      { cause: err },
    );
  }
}

export async function provisionDownlinkBucket(
  jsm: JetStreamManager,
  names: ClusterNames,
  config: JetStreamConfig,
): Promise<KV> {
  try {
    const kv = await new Kvm(jsm.jetstream()).create(names.downlinkBucket, {
      replicas: config.replicas,
      history: 1,
      storage: StorageType.File,
    });
    await alignBucket(jsm, names.downlinkBucket, config.replicas, 0);
    return kv;
  } catch (err) {
    throw new StoreOpenError(
      `store.jetstream: cannot create the bucket ${names.downlinkBucket} (${(err as Error).message}); ${config.replicas} servers must be reachable (store.jetstream.replicas)`,
      { cause: err },
    );
  }
}

/** A partition's consumer made anew from the first message no node acknowledged: stream order, per device. */
export async function resetPartitionConsumer(jsm: JetStreamManager, names: ClusterNames, partition: number) {
  const name = names.consumer(partition);
  try {
    await jsm.consumers.delete(names.stream, name);
  } catch {
    // none yet
  }
  await jsm.consumers.add(names.stream, {
    durable_name: name,
    filter_subject: names.partitionFilter(partition),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ACK_WAIT_MS),
    max_ack_pending: MAX_ACK_PENDING,
  });
  return name;
}
