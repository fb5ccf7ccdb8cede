/**
 * The pure part of the partition lease protocol (gateway/store/jetstream/leases.ts): what a node releases
 * or takes this tick, given the live node count, what it holds and which partitions are free.
 */
import { describe, expect, it } from 'vitest';
import { planLeases } from '../../gateway/store/jetstream/leases.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('planLeases', () => {
  it('aims at the fair share ceil(partitions / live nodes)', () => {
    // 16 over 3 nodes: 6 each (the last node gets 4).
    expect(planLeases({ partitions: 16, liveNodes: 3, owned: new Set(), free: range(0, 16), offset: 0 })).toEqual({
      release: [],
      take: range(0, 6),
    });
    // 16 over 5: 4 each; a node holding 1 takes 3 more.
    expect(planLeases({ partitions: 16, liveNodes: 5, owned: new Set([9]), free: range(0, 9), offset: 0 })).toEqual({
      release: [],
      take: [0, 1, 2],
    });
    // One node alone takes all.
    expect(planLeases({ partitions: 4, liveNodes: 1, owned: new Set(), free: range(0, 4), offset: 3 }).take).toEqual([
      3, 0, 1, 2,
    ]);
  });

  it('releases the partitions above the target, highest first, and takes none in that tick', () => {
    const plan = planLeases({
      partitions: 8,
      liveNodes: 2,
      owned: new Set([7, 0, 5, 2, 6, 1]),
      free: [3, 4],
      offset: 0,
    });
    expect(plan).toEqual({ release: [6, 7], take: [] });
    // A third node appears: the target drops to 3.
    expect(
      planLeases({ partitions: 8, liveNodes: 3, owned: new Set(range(0, 8)), free: [], offset: 0 }).release,
    ).toEqual([3, 4, 5, 6, 7]);
  });

  it('takes free partitions rotated by the offset, so nodes do not race for the same ones', () => {
    const base = { partitions: 12, liveNodes: 2, owned: new Set([0, 1, 2, 3]) };
    // Target 6: two more. Free sorted [4, 6, 8, 10, 11]; offset 7 % 5 = 2 starts at 8.
    expect(planLeases({ ...base, free: [11, 4, 10, 6, 8], offset: 7 })).toEqual({ release: [], take: [8, 10] });
    expect(planLeases({ ...base, free: [4, 6, 8, 10, 11], offset: 4 }).take).toEqual([11, 4]);
    expect(planLeases({ ...base, free: [4, 6, 8, 10, 11], offset: 5 }).take).toEqual([4, 6]);
    // A large offset (a name's hash) wraps the same way.
    expect(planLeases({ ...base, free: [4, 6, 8, 10, 11], offset: 4_000_000_002 }).take).toEqual([8, 10]);
    // Fewer free than wanted: takes what there is.
    expect(planLeases({ ...base, free: [9], offset: 3 }).take).toEqual([9]);
    expect(planLeases({ ...base, free: [], offset: 3 })).toEqual({ release: [], take: [] });
  });

  it('takes nothing and releases nothing at the target', () => {
    expect(planLeases({ partitions: 8, liveNodes: 2, owned: new Set([4, 5, 6, 7]), free: [0, 1], offset: 1 })).toEqual({
      release: [],
      take: [],
    });
    // 5 over 2: target 3, so the node with 3 keeps them even with one free.
    expect(planLeases({ partitions: 5, liveNodes: 2, owned: new Set([0, 1, 2]), free: [4], offset: 0 })).toEqual({
      release: [],
      take: [],
    });
  });

  it('counts no live node as one (its own heartbeat not yet seen)', () => {
    const zero = planLeases({ partitions: 6, liveNodes: 0, owned: new Set([2]), free: [0, 1, 3, 4, 5], offset: 0 });
    expect(zero).toEqual({ release: [], take: [0, 1, 3, 4, 5] });
    expect(zero).toEqual(
      planLeases({ partitions: 6, liveNodes: 1, owned: new Set([2]), free: [0, 1, 3, 4, 5], offset: 0 }),
    );
    // The target is then the partition count, not unbounded: never more than that, whatever `free` lists.
    expect(planLeases({ partitions: 4, liveNodes: 0, owned: new Set([0]), free: [1, 2, 3, 4, 5], offset: 0 })).toEqual({
      release: [],
      take: [1, 2, 3],
    });
    expect(planLeases({ partitions: 4, liveNodes: 0, owned: new Set([0, 1, 2, 3, 4]), free: [], offset: 0 })).toEqual({
      release: [4],
      take: [],
    });
  });
});
