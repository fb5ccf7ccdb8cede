/**
 * Model-based test (after Vector's disk buffer): seeded random sequences of append, peek+ack,
 * peek+deadLetter, replay and restart, checked after every step against a plain in-memory model:
 * per-device order and contents, depth and byte counters, pending-token order, dead letters.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DataRecord } from '../../gateway/model.js';
import { Cipher } from '../../gateway/store/encryption.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import type { Store } from '../../gateway/store/store.js';
import { mulberry32 } from '../../simulators/random.js';
import { openAt, tempDir } from './helpers.js';

interface MPoint {
  ord: number;
  rec: DataRecord;
}

class Model {
  queues = new Map<string, MPoint[]>();
  dead: Array<{ token: string; records: DataRecord[] }> = [];
  ord = 0;
  push(token: string, recs: DataRecord[]): void {
    let q = this.queues.get(token);
    if (!q) {
      q = [];
      this.queues.set(token, q);
    }
    for (const rec of recs) q.push({ ord: this.ord++, rec });
  }
  take(token: string, n: number): DataRecord[] {
    const q = this.queues.get(token) ?? [];
    const out = q.splice(0, n).map((p) => p.rec);
    if (q.length === 0) this.queues.delete(token);
    return out;
  }
  depth(): { points: number; bytes: number } {
    let points = 0;
    let bytes = 0;
    for (const q of this.queues.values()) {
      points += q.length;
      for (const p of q) bytes += Buffer.byteLength(JSON.stringify(p.rec)) + 1;
    }
    return { points, bytes };
  }
  bytesOf(token: string): number {
    let bytes = 0;
    for (const p of this.queues.get(token) ?? []) bytes += Buffer.byteLength(JSON.stringify(p.rec)) + 1;
    return bytes;
  }
  pendingOrder(): string[] {
    return [...this.queues.entries()].sort((a, b) => (a[1][0]?.ord ?? 0) - (b[1][0]?.ord ?? 0)).map(([t]) => t);
  }
}

/**
 * `engine`: the SQLite store, or the memory store (same roles; its "restart" keeps the same instance, as
 * it is not durable). `rowCacheBytes` (SQLite): undefined = the default cache; 0 = every peek reads the
 * file; small = queues keep outgrowing it.
 */
async function run(
  seed: number,
  steps: number,
  cipher: Cipher | undefined,
  rowCacheBytes?: number,
  engine: 'sqlite' | 'memory' = 'sqlite',
): Promise<void> {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const path = join(tempDir(), 'model.db');
  const tokens = ['tok-alpha', 'tok-bravo', 'tok-charlie', 'tok-delta', 'tok-echo'];
  const model = new Model();
  const memory = new MemoryStore({ maxBytes: 1_000_000_000 });
  const open = (): Store =>
    engine === 'memory'
      ? memory
      : openAt(path, {
          cipher,
          groupCommitMs: pick([0, 1]),
          ...(rowCacheBytes !== undefined ? { rowCacheBytes } : {}),
        });
  let store: Store = open();
  let n = 0;
  const makeRecs = (): DataRecord[] =>
    Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => {
      const i = n++;
      const r: DataRecord = { variable: 'seq', value: i, time: new Date(1_700_000_000_000 + i).toISOString() };
      if (rnd() < 0.3) r.metadata = { note: 'x'.repeat(Math.floor(rnd() * 200)) };
      return r;
    });

  for (let step = 0; step < steps; step++) {
    const op = rnd();
    const ctx = `seed ${seed} step ${step}`;
    if (op < 0.35) {
      // a burst of concurrent appends (they share commits), awaited together
      const burst = 1 + Math.floor(rnd() * 5);
      const ps: Promise<void>[] = [];
      for (let k = 0; k < burst; k++) {
        const t = pick(tokens);
        const recs = makeRecs();
        model.push(t, recs);
        ps.push(store.append(t, recs));
      }
      await Promise.all(ps);
    } else if (op < 0.6 || op < 0.75) {
      const pending = store.pendingTokens(10);
      if (pending.length === 0) continue;
      const t = pick(pending);
      const b = store.peek(t, 50 + Math.floor(rnd() * 1500));
      expect(b, ctx).not.toBeNull();
      if (!b) continue;
      const expected = (model.queues.get(t) ?? []).slice(0, b.points).map((p) => p.rec);
      expect(b.records, ctx).toEqual(expected);
      expect(JSON.parse(b.body), ctx).toEqual(expected);
      if (op < 0.6) {
        // Drawn for the seeds' sake (the sequences stay what they were when there were two ways to ack).
        rnd();
        await store.acknowledge(b.ids);
        model.take(t, b.points);
      } else {
        await store.deadLetter(b.ids, 'upstream_400', `step ${step}`);
        model.dead.push({ token: t, records: model.take(t, b.points) });
      }
    } else if (op < 0.82) {
      const list = await store.listDeadLetters(10_000);
      if (rnd() < 0.5) {
        const got = await store.replayDeadLetters();
        const want = model.dead.reduce((k, d) => k + d.records.length, 0);
        for (const d of model.dead) model.push(d.token, d.records);
        model.dead = [];
        expect(got, ctx).toBe(want);
      } else {
        const chosen = list.map((d, i) => ({ d, i })).filter(() => rnd() < 0.5);
        const got = await store.replayDeadLetters(chosen.map((c) => c.d.id).reverse());
        for (const c of chosen) model.push(model.dead[c.i]?.token ?? '', model.dead[c.i]?.records ?? []);
        model.dead = model.dead.filter((_, i) => !chosen.some((c) => c.i === i));
        expect(got, ctx).toBe(chosen.reduce((k, c) => k + c.d.records.length, 0));
      }
    } else {
      // restart; sometimes with appends still queued (close must commit them)
      const ps: Promise<void>[] = [];
      if (rnd() < 0.5) {
        const t = pick(tokens);
        const recs = makeRecs();
        model.push(t, recs);
        ps.push(store.append(t, recs));
      }
      if (engine === 'sqlite') await store.close();
      await Promise.all(ps);
      store = open();
    }
    const s = store.stats();
    const m = model.depth();
    expect({ points: s.depthPoints, bytes: s.depthBytes, dead: s.deadLetters }, ctx).toEqual({
      ...m,
      dead: model.dead.length,
    });
    expect(store.pendingTokens(100), ctx).toEqual(model.pendingOrder());
    for (const t of tokens) expect(store.pendingBytes(t), ctx).toBe(model.bytesOf(t));
    expect(
      (await store.listDeadLetters(10_000)).map((d) => d.records),
      ctx,
    ).toEqual(model.dead.map((d) => d.records));
  }
  // drain at the end: everything comes out, in order
  for (const t of store.pendingTokens(100)) {
    for (let b = store.peek(t, 100_000); b; b = store.peek(t, 100_000)) {
      expect(b.records).toEqual(model.take(t, b.points));
      await store.acknowledge(b.ids);
    }
  }
  expect(store.stats().depthPoints).toBe(0);
  expect(model.depth().points).toBe(0);
}

describe('SqliteStore against a model', () => {
  for (const seed of [1, 7, 42, 1234, 99991]) {
    it(`seed ${seed}: 400 random steps`, async () => {
      await run(seed, 400, undefined);
    });
  }
  for (const seed of [5, 77]) {
    it(`seed ${seed}, encrypted: 300 random steps`, async () => {
      await run(seed, 300, new Cipher(randomBytes(32)));
    });
  }
  for (const seed of [3, 2024]) {
    it(`seed ${seed}, no row cache (every peek reads the file): 300 random steps`, async () => {
      await run(seed, 300, undefined, 0);
    });
    it(`seed ${seed}, a 700-byte row cache (queues keep outgrowing it): 300 random steps`, async () => {
      await run(seed, 300, undefined, 700);
    });
  }
});

describe('MemoryStore against the same model', () => {
  for (const seed of [1, 42, 2024]) {
    it(`seed ${seed}: 400 random steps`, async () => {
      await run(seed, 400, undefined, undefined, 'memory');
    });
  }
});
