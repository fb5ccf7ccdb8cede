/**
 * Where the cluster keeps things, all named from `store.jetstream.prefix`:
 * - stream `<prefix>_POINTS`, subjects `<prefix>.points.<partition>.<device id>`: one message per stored
 *   entry (an append's records, split to fit a request), the token in a header, never in the subject;
 * - KV buckets `<prefix>_dead` (dead letters), `<prefix>_refused` (tokens TagoIO refused) and
 *   `<prefix>_leases` (which node forwards which partition, and which nodes are alive).
 * A device's partition is a hash of its id, so every node agrees on it without asking.
 */
import { createHash } from 'node:crypto';

export interface ClusterNames {
  stream: string;
  subjectOf(partition: number, deviceId: string): string;
  partitionFilter(partition: number): string;
  deadBucket: string;
  refusedBucket: string;
  leaseBucket: string;
}

export function clusterNames(prefix: string): ClusterNames {
  return {
    stream: `${prefix}_POINTS`,
    subjectOf: (partition, deviceId) => `${prefix}.points.${partition}.${deviceId}`,
    partitionFilter: (partition) => `${prefix}.points.${partition}.>`,
    deadBucket: `${prefix}_dead`,
    refusedBucket: `${prefix}_refused`,
    leaseBucket: `${prefix}_leases`,
  };
}

export function partitionOf(deviceId: string, partitions: number): number {
  return createHash('sha256').update(deviceId).digest().readUInt32BE(0) % partitions;
}

/** A KV key for a token (keys are visible to operators; the token is kept only in the value). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
