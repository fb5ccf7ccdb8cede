/**
 * The cluster node's forward window (gateway/store/jetstream/window.ts): what its partitions' consumers
 * delivered and the forwarders have not yet acknowledged, read per key in stream order, oldest key first.
 */
import { describe, expect, it } from 'vitest';
import type { DataRecord } from '../../gateway/model.js';
import { ForwardWindow, type WindowEntry } from '../../gateway/store/jetstream/window.js';

/** An entry as the store builds it from a stream message: the records' JSON objects joined by commas. */
function entry(seq: number, key: string, opts: { partition?: number; points?: number; appendedAt?: number } = {}) {
  const points = opts.points ?? 1;
  const records: DataRecord[] = Array.from({ length: points }, (_, i) => ({
    variable: 'temperature',
    value: seq * 10 + i,
    unit: '°C',
    time: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
  }));
  const text = records.map((r) => JSON.stringify(r)).join(',');
  const e: WindowEntry = {
    seq,
    key,
    partition: opts.partition ?? 0,
    text,
    points,
    bytes: Buffer.byteLength(text) + 1,
    appendedAt: opts.appendedAt ?? 1_000_000 + seq,
  };
  return e;
}

function ids(w: ForwardWindow, key: string): number[] {
  return w.peek(key, Number.MAX_SAFE_INTEGER)?.ids ?? [];
}

describe('ForwardWindow', () => {
  it('adds an entry once: a redelivery returns false and changes no totals', () => {
    const w = new ForwardWindow();
    const a = entry(1, 'dev-a', { points: 3 });
    expect(w.add(a)).toBe(true);
    expect(w.add({ ...a })).toBe(false);
    expect(w.add(entry(1, 'dev-b'))).toBe(false);
    expect(w.size).toBe(1);
    expect(w.totalPoints).toBe(3);
    expect(w.totalBytes).toBe(a.bytes);
    expect(w.pendingBytes('dev-a')).toBe(a.bytes);
    expect(w.pendingBytes('dev-b')).toBe(0);
    expect(w.has(1)).toBe(true);
    expect(w.get(1)).toBe(a);
    expect(w.has(2)).toBe(false);
  });

  it('keeps a key in stream order when an older message arrives after a newer one', () => {
    const w = new ForwardWindow();
    for (const seq of [5, 9, 2, 7, 1, 10]) w.add(entry(seq, 'dev-a'));
    expect(ids(w, 'dev-a')).toEqual([1, 2, 5, 7, 9, 10]);
    const batch = w.peek('dev-a', Number.MAX_SAFE_INTEGER);
    expect(batch?.records.map((r) => r.value)).toEqual([10, 20, 50, 70, 90, 100]);
  });

  it('removes entries by sequence, returns those it held and keeps the totals', () => {
    const w = new ForwardWindow();
    const es = [entry(1, 'dev-a', { points: 2 }), entry(2, 'dev-b'), entry(3, 'dev-a'), entry(4, 'dev-a')];
    for (const e of es) w.add(e);
    const gone = w.remove([3, 99, 1, 3]);
    expect(gone.map((e) => e.seq)).toEqual([3, 1]);
    expect(w.size).toBe(2);
    expect(w.totalPoints).toBe(2);
    expect(w.totalBytes).toBe((es[1] as WindowEntry).bytes + (es[3] as WindowEntry).bytes);
    expect(ids(w, 'dev-a')).toEqual([4]);
    expect(w.pendingBytes('dev-a')).toBe((es[3] as WindowEntry).bytes);
    // The last entry of a key leaves: the key is no longer pending at all.
    w.remove([4]);
    expect(w.peek('dev-a', 1_000)).toBeNull();
    expect(w.pendingKeys(10)).toEqual(['dev-b']);
    expect(w.pendingBytes('dev-a')).toBe(0);
    // A removed entry may be delivered again (after a lease moved back): it is new again.
    expect(w.add(entry(4, 'dev-a'))).toBe(true);
  });

  it('drops every entry of one partition and nothing else', () => {
    const w = new ForwardWindow();
    w.add(entry(1, 'dev-a', { partition: 3 }));
    w.add(entry(2, 'dev-b', { partition: 5 }));
    w.add(entry(3, 'dev-a', { partition: 3 }));
    w.add(entry(4, 'dev-c', { partition: 3, points: 4 }));
    expect(w.dropPartition(3)).toBe(3);
    expect(w.dropPartition(3)).toBe(0);
    expect(w.size).toBe(1);
    expect(w.totalPoints).toBe(1);
    expect(w.pendingKeys(10)).toEqual(['dev-b']);
    expect(w.has(2)).toBe(true);
    expect(w.has(1) || w.has(3) || w.has(4)).toBe(false);
  });

  it('lists pending keys oldest head first, up to the limit, without excluded or foreign keys', () => {
    const w = new ForwardWindow();
    w.add(entry(40, 'dev-c'));
    w.add(entry(10, 'dev-b'));
    w.add(entry(30, 'dev-a'));
    w.add(entry(20, 'dev-d'));
    w.add(entry(5, 'dev-a')); // an older message of dev-a: dev-a's head is now 5
    expect(w.pendingKeys(10)).toEqual(['dev-a', 'dev-b', 'dev-d', 'dev-c']);
    expect(w.pendingKeys(2)).toEqual(['dev-a', 'dev-b']);
    expect(w.pendingKeys(0)).toEqual([]);
    expect(w.pendingKeys(10, new Set(['dev-a', 'dev-d']))).toEqual(['dev-b', 'dev-c']);
    const owns = (k: string) => k !== 'dev-b';
    expect(w.pendingKeys(10, undefined, owns)).toEqual(['dev-a', 'dev-d', 'dev-c']);
    expect(w.pendingKeys(1, new Set(['dev-a']), owns)).toEqual(['dev-d']);
    // Acknowledging dev-a's head moves it behind the others.
    w.remove([5]);
    expect(w.pendingKeys(10)).toEqual(['dev-b', 'dev-d', 'dev-a', 'dev-c']);
  });

  it('peeks the oldest entries up to maxBytes, always at least one, as a valid JSON array', () => {
    const w = new ForwardWindow();
    const es = [entry(1, 'dev-a', { points: 2 }), entry(2, 'dev-a'), entry(3, 'dev-a', { points: 3 })];
    for (const e of es) w.add(e);
    w.add(entry(4, 'dev-b'));
    const [e1, e2, e3] = es as [WindowEntry, WindowEntry, WindowEntry];

    // Smaller than the first entry: still that one entry, alone.
    const one = w.peek('dev-a', 10);
    expect(one?.ids).toEqual([1]);
    expect(one?.points).toBe(2);

    // Exactly the first two: `[` + e1 + `,` + e2 + `]` is 1 + e1.bytes + e2.bytes bytes.
    const exact = 1 + e1.bytes + e2.bytes;
    const two = w.peek('dev-a', exact);
    expect(two?.ids).toEqual([1, 2]);
    expect(two?.bytes).toBe(exact);
    expect(w.peek('dev-a', exact - 1)?.ids).toEqual([1]);

    const all = w.peek('dev-a', 1_000_000);
    if (!all) throw new Error('dev-a has entries');
    expect(all.token).toBe('dev-a');
    expect(all.ids).toEqual([1, 2, 3]);
    expect(all.points).toBe(6);
    expect(all.bytes).toBe(1 + e1.bytes + e2.bytes + e3.bytes);
    // The body is the array the forwarder sends: its byte length is what maxBytes counted (°C is 3 bytes).
    expect(Buffer.byteLength(all.body)).toBe(all.bytes);
    const parsed = JSON.parse(all.body) as DataRecord[];
    expect(parsed).toHaveLength(6);
    expect(parsed.map((r) => r.value)).toEqual([10, 11, 20, 30, 31, 32]);
    expect(all.records).toEqual(parsed);
    expect(all.entries.map((e) => [e.id, e.records.length])).toEqual([
      [1, 2],
      [2, 1],
      [3, 3],
    ]);
    expect(all.entries[1]?.records[0]).toEqual(parsed[2]);
    // Peeking takes nothing away.
    expect(w.size).toBe(4);
    expect(w.peek('nobody', 1_000)).toBeNull();
  });

  it('sums the depth of the owned keys and the age of their oldest point', () => {
    const w = new ForwardWindow();
    const a1 = entry(1, 'route1\0dev-a', { points: 2, appendedAt: 5_000 });
    const a2 = entry(3, 'route1\0dev-a', { points: 1, appendedAt: 7_000 });
    const b1 = entry(2, 'route2\0dev-b', { points: 4, appendedAt: 1_000 });
    const c1 = entry(4, 'route1\0dev-c', { points: 1, appendedAt: 6_000 });
    for (const e of [a1, a2, b1, c1]) w.add(e);
    const route1 = (k: string) => k.startsWith('route1\0');
    expect(w.share(route1, 10_000)).toEqual({
      depthPoints: 4,
      depthBytes: a1.bytes + a2.bytes + c1.bytes,
      oldestAgeMs: 5_000,
    });
    expect(w.share(() => true, 10_000)).toEqual({
      depthPoints: 8,
      depthBytes: w.totalBytes,
      oldestAgeMs: 9_000,
    });
    // A clock behind the append time never gives a negative age.
    expect(w.share(() => true, 500).oldestAgeMs).toBe(0);
    expect(w.share(() => false, 10_000)).toEqual({ depthPoints: 0, depthBytes: 0, oldestAgeMs: 0 });

    expect(w.oldestAppendedAt()).toBe(1_000);
    w.remove([2]);
    expect(w.oldestAppendedAt()).toBe(5_000);
    w.remove([1]);
    expect(w.oldestAppendedAt()).toBe(6_000);
    w.remove([3, 4]);
    expect(w.oldestAppendedAt()).toBeUndefined();
    expect(w.share(() => true, 10_000)).toEqual({ depthPoints: 0, depthBytes: 0, oldestAgeMs: 0 });
  });
});
