/**
 * A group commit's job for the commit thread, built from the appends and acks queued for it: the appends
 * grouped by device into rows (sealed by the codec; a device's token sealed only the first time the file
 * sees it), the ids to delete, and for `drop_oldest` how many bytes are over the limit.
 */
import type { Codec } from './codec.js';
import type { CommitJob } from './commit-thread.js';
import type { QueuedAck, QueuedAppend } from './group-commit.js';
import { type DeviceGroup, groupByDevice } from './row-packing.js';

export interface CommitJobContext {
  rowMaxBytes: number;
  codec: Codec;
  /** Token keys the file already has. */
  tokenOf: ReadonlyMap<string, string>;
  /** Whether a device's new rows stay out of the index (row-cache.ts's rule); `fresh`: it had no queue. */
  willCache(tkey: string, token: string): boolean;
  /** drop_oldest: bytes over `store.maxBytes` once `bytes` more are in; null with `block`. */
  over(bytes: number): number | null;
  now: number;
}

export function commitJob(
  batch: readonly QueuedAppend[],
  acks: readonly QueuedAck[],
  ctx: CommitJobContext,
): { job: CommitJob; groups: DeviceGroup[]; rows: number; ackIds: number[] } {
  const groups = groupByDevice(batch, ctx.rowMaxBytes);
  let rows = 0;
  let bytes = 0;
  for (const g of groups) {
    rows += g.rows.length;
    bytes += g.bytes;
  }
  const ackIds: number[] = [];
  for (const a of acks) for (const id of a.ids) ackIds.push(id);
  const job: CommitJob = {
    acks: ackIds,
    groups: groups.map((g) => ({
      tkey: g.tkey,
      ...(ctx.tokenOf.has(g.tkey) ? {} : { sealedToken: ctx.codec.sealToken(g.token, g.tkey) }),
      rows: g.rows.map((r) => ({ payload: ctx.codec.sealPayload(r.text, g.tkey), bytes: r.bytes, points: r.points })),
      inIndex: ctx.willCache(g.tkey, g.token) ? 0 : 1,
    })),
    now: ctx.now,
    over: ctx.over(bytes),
  };
  return { job, groups, rows, ackIds };
}
