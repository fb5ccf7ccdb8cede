/**
 * The group commit's scheduling rules (gateway/store/sqlite/group-commit.ts), on fake timers: the
 * groupCommitMs wait, the full-group rule, one commit at a time with the next starting as soon as it
 * ends, and the retry that keeps one bad append from failing its neighbours.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../gateway/clock.js';
import {
  FULL_GROUP_APPENDS,
  GroupCommit,
  type QueuedAck,
  type QueuedAppend,
} from '../../gateway/store/sqlite/group-commit.js';

interface Call {
  appends: string[];
  acks: number;
  done(): void;
  fail(err: Error): void;
}

/** A GroupCommit whose commits the test answers by hand (each call waits for done/fail). */
function harness(groupCommitMs: number, autoAnswer?: (appends: QueuedAppend[], acks: QueuedAck[]) => Error | null) {
  const calls: Call[] = [];
  const failed: string[] = [];
  const gc = new GroupCommit({
    groupCommitMs,
    clock: systemClock,
    commit: (appends, acks) =>
      new Promise<void>((resolve, reject) => {
        const call = { appends: appends.map((a) => a.token), acks: acks.length, done: resolve, fail: reject };
        calls.push(call);
        if (autoAnswer) {
          const err = autoAnswer(appends, acks);
          if (err) reject(err);
          else resolve();
        }
      }),
    appendFailed: (a, err) => {
      gc.forget(a);
      failed.push(a.token);
      a.reject(err);
    },
    acksFailed: (acks, err) => {
      for (const a of acks) a.reject(err);
    },
  });
  const append = (token: string): Promise<void> =>
    new Promise((resolve, reject) =>
      gc.append({ token, tkey: token, rows: [], points: 1, bytes: 10, resolve, reject }),
    );
  const ack = (ids: number[]): Promise<void> => new Promise((resolve, reject) => gc.ack({ ids, resolve, reject }));
  return { gc, calls, failed, append, ack };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('group commit scheduling', () => {
  it('commits groupCommitMs after the oldest queued item, with everything queued by then', async () => {
    const h = harness(5);
    void h.append('a');
    await vi.advanceTimersByTimeAsync(3);
    void h.append('b');
    void h.ack([1]);
    await vi.advanceTimersByTimeAsync(1.9);
    expect(h.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(0.2);
    expect(h.calls.map((c) => [c.appends, c.acks])).toEqual([[['a', 'b'], 1]]);
  });

  it(`commits a group of ${FULL_GROUP_APPENDS} appends at the end of the turn, with that turn's later appends`, async () => {
    const h = harness(1_000);
    for (let i = 0; i < FULL_GROUP_APPENDS - 1; i++) void h.append(`t${i}`);
    await vi.advanceTimersByTimeAsync(10);
    expect(h.calls).toHaveLength(0); // not full: waits out groupCommitMs
    void h.append('full');
    void h.append('same-turn');
    expect(h.calls).toHaveLength(0); // not before the end of this turn
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]?.appends).toHaveLength(FULL_GROUP_APPENDS + 1);
    expect(h.calls[0]?.appends.at(-1)).toBe('same-turn');
  });

  it('runs one commit at a time; the next group starts as soon as the one in flight has committed', async () => {
    const h = harness(50);
    const first = h.append('a');
    await vi.advanceTimersByTimeAsync(50);
    expect(h.calls).toHaveLength(1);
    const second = h.append('b');
    await vi.advanceTimersByTimeAsync(200); // long past groupCommitMs: still waiting for the one in flight
    expect(h.calls).toHaveLength(1);
    h.calls[0]?.done();
    await first;
    expect(h.calls.map((c) => c.appends)).toEqual([['a'], ['b']]); // no second groupCommitMs wait
    h.calls[1]?.done();
    await second;
  });

  it('retries a failed group: the acks together, then each append alone; only the bad append fails', async () => {
    const bad = new Error('SQLITE_CONSTRAINT');
    const h = harness(1, (appends) => (appends.some((a) => a.token === 'bad') ? bad : null));
    const results = Promise.allSettled([h.append('ok1'), h.append('bad'), h.append('ok2'), h.ack([7, 8])]);
    await vi.advanceTimersByTimeAsync(1);
    const settled = await results;
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(h.calls.map((c) => [c.appends, c.acks])).toEqual([
      [['ok1', 'bad', 'ok2'], 1],
      [[], 1],
      [['ok1'], 0],
      [['bad'], 0],
      [['ok2'], 0],
    ]);
    expect(h.failed).toEqual(['bad']);
    // 3 appends of 10 bytes; the failed one left the queue. (The store forgets committed appends itself, when
    // their rows reach the ledger; this harness does not.)
    expect(h.gc.queuedBytes).toBe(20);
  });

  it('fails a group of one at once, without a retry', async () => {
    const h = harness(0, () => new Error('disk I/O error'));
    const p = h.append('only');
    const settled = Promise.allSettled([p]);
    await vi.advanceTimersByTimeAsync(0);
    expect((await settled)[0]?.status).toBe('rejected');
    expect(h.calls).toHaveLength(1);
  });
});
