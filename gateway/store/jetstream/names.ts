/**
 * Where the cluster keeps things, all named from `store.jetstream.prefix`:
 * - stream `<prefix>_POINTS` (work-queue retention: a message leaves when its forwarder acks it), subjects
 *   `<prefix>.points.<partition>.<device id>`: one message per append of one queue key, the key (token,
 *   route) in a header, never in the subject; consumer `<prefix>_p<partition>` per partition;
 * - stream `<prefix>_DEAD` (subject `<prefix>.dead`): dead letters, one message each;
 * - KV buckets `<prefix>_refused` (tokens TagoIO refused, keyed by a hash of the token) and
 *   `<prefix>_leases` (which node forwards which partition, and which nodes are alive), and
 *   `<prefix>_downlink` (commands to devices, shared by every node: gateway/downlink/jetstream-downlink-store.ts).
 * A device's partition is a hash of its id, so every node agrees on it without asking, and every route's
 * copy of a device's points is forwarded by the same node.
 */
import { createHash } from 'node:crypto';

export interface ClusterNames {
  stream: string;
  subjects: string;
  subjectOf(partition: number, deviceId: string): string;
  partitionFilter(partition: number): string;
  consumer(partition: number): string;
  deadStream: string;
  deadSubject: string;
  refusedBucket: string;
  leaseBucket: string;
  downlinkBucket: string;
}

export function clusterNames(prefix: string): ClusterNames {
  return {
    stream: `${prefix}_POINTS`,
    subjects: `${prefix}.points.>`,
    subjectOf: (partition, deviceId) => `${prefix}.points.${partition}.${deviceId}`,
    partitionFilter: (partition) => `${prefix}.points.${partition}.>`,
    consumer: (partition) => `${prefix}_p${partition}`,
    deadStream: `${prefix}_DEAD`,
    deadSubject: `${prefix}.dead`,
    refusedBucket: `${prefix}_refused`,
    leaseBucket: `${prefix}_leases`,
    downlinkBucket: `${prefix}_downlink`,
  };
}

export function partitionOf(deviceId: string, partitions: number): number {
  return createHash('sha256').update(deviceId).digest().readUInt32BE(0) % partitions;
}

/** A KV key for a token (keys are visible to operators; the token is kept only in the value). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Header carrying a message's queue key (base64url: keys hold NULs, headers may not). */
export const KEY_HEADER = 'Tago-Edge-Key';
/** Header carrying how many points a message holds and when it was appended. */
export const POINTS_HEADER = 'Tago-Edge-Points';
export const APPENDED_HEADER = 'Tago-Edge-Appended';

export const encodeKey = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
export const decodeKey = (value: string): string => Buffer.from(value, 'base64url').toString('utf8');
