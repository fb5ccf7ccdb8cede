import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { StoreFullError } from '../../gateway/errors.js';
import { events } from '../../gateway/events.js';
import { Cipher } from '../../gateway/store/encryption.js';
import { openAt, rec, tempDir } from './helpers.js';

describe('SqliteStore', () => {
  it('appends, peeks in order with a body built from the stored JSON, and acks', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    await store.append('tok-a', [rec('t', 1, 1), rec('t', 2, 2)]);
    await store.append('tok-a', [rec('t', 3, 3)]);
    const b = store.peek('tok-a', 200_000);
    expect(b).not.toBeNull();
    expect(b?.records.map((r) => r.value)).toEqual([1, 2, 3]);
    expect(JSON.parse(b?.body ?? '')).toEqual(b?.records);
    expect(b?.bytes).toBe(Buffer.byteLength(b?.body ?? ''));
    expect(b?.points).toBe(3);
    expect(b?.ids).toHaveLength(2); // one stored row per append
    await store.acknowledge(b?.ids ?? []);
    expect(store.peek('tok-a', 200_000)).toBeNull();
    expect(store.stats().depthPoints).toBe(0);
    expect(store.stats().depthBytes).toBe(0);
  });

  it('peek stops at maxBytes but always returns at least one stored row', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    for (const r of [rec('v', 'x'.repeat(100), 1), rec('v', 'y'.repeat(100), 2), rec('v', 'z', 3)]) {
      await store.append('tok', [r]);
    }
    const one = store.peek('tok', 10);
    expect(one?.ids).toHaveLength(1);
    expect(one?.points).toBe(1);
    const size = Buffer.byteLength(JSON.stringify(rec('v', 'x'.repeat(100), 1)));
    const two = store.peek('tok', 2 + (size + 1) * 2);
    expect(two?.ids).toHaveLength(2);
    expect(two?.records.map((r) => r.value)).toEqual(['x'.repeat(100), 'y'.repeat(100)]);
    expect(two?.bytes).toBeLessThanOrEqual(2 + (size + 1) * 2);
  });

  it('packs a long append into rows of at most rowMaxBytes, so a peek of whole rows fits a request', async () => {
    const store = openAt(join(tempDir(), 's.db'), { rowMaxBytes: 300 });
    const records = Array.from({ length: 40 }, (_, i) => rec('v', `é-${'x'.repeat(i % 7)}`, i));
    await store.append('tok', records);
    // A record bigger than a row is a row of its own, never split.
    await store.append('tok', [rec('big', 'b'.repeat(500), 99)]);
    const perRecord = records.map((r) => Buffer.byteLength(JSON.stringify(r)) + 1);
    const big = Buffer.byteLength(JSON.stringify(rec('big', 'b'.repeat(500), 99))) + 1;
    expect(store.stats()).toMatchObject({
      depthPoints: 41,
      depthBytes: perRecord.reduce((a, b) => a + b, 0) + big,
    });
    const seen: unknown[] = [];
    let rows = 0;
    for (let b = store.peek('tok', 302); b; b = store.peek('tok', 302)) {
      expect(b.bytes).toBe(Buffer.byteLength(b.body));
      if (b.records[0]?.variable !== 'big') expect(b.bytes).toBeLessThanOrEqual(302);
      expect(b.points).toBe(b.records.length);
      seen.push(...b.records);
      rows += b.ids.length;
      await store.acknowledge(b.ids);
    }
    expect(seen).toEqual([...records, rec('big', 'b'.repeat(500), 99)]);
    expect(rows).toBeGreaterThan(2);
    expect(store.stats()).toMatchObject({ depthPoints: 0, depthBytes: 0 });
  });

  it('keeps per-device queues and lists pending tokens oldest first, with exclusions', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    await store.append('b', [rec('v', 1)]);
    await store.append('a', [rec('v', 2)]);
    await store.append('c', [rec('v', 3)]);
    expect(store.pendingTokens(10)).toEqual(['b', 'a', 'c']);
    expect(store.pendingTokens(2)).toEqual(['b', 'a']);
    expect(store.pendingTokens(10, new Set(['a']))).toEqual(['b', 'c']);
    await store.acknowledge(store.peek('b', 1000)?.ids ?? []);
    await store.append('b', [rec('v', 4)]);
    expect(store.pendingTokens(10)).toEqual(['a', 'c', 'b']);
    expect(store.peek('zzz', 1000)).toBeNull();
  });

  it('stats: depth, bytes, oldest age and dead letters', async () => {
    const store = openAt(join(tempDir(), 's.db'), { maxBytes: 12345 });
    expect(store.stats()).toEqual({ depthPoints: 0, depthBytes: 0, oldestAgeMs: 0, deadLetters: 0, maxBytes: 12345 });
    const r = [rec('v', 1), rec('w', 2)];
    await store.append('t', r);
    const s = store.stats();
    expect(s.depthPoints).toBe(2);
    expect(s.depthBytes).toBe(r.reduce((n, x) => n + Buffer.byteLength(JSON.stringify(x)) + 1, 0));
    expect(s.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(store.hasRoom(12345 - s.depthBytes)).toBe(true);
    expect(store.hasRoom(12345 - s.depthBytes + 1)).toBe(false);
  });

  it('deadLetter moves points with reason and message; listDeadLetters and replay bring them back in order', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    const seen: unknown[] = [];
    const unsub = events.deadLetter.subscribe((m) => seen.push(m));
    await store.append('tok', [rec('v', 1), rec('v', 2)]);
    await store.append('tok', [rec('v', 3)]);
    const b = store.peek('tok', 100_000);
    expect(b?.ids).toHaveLength(2);
    await store.deadLetter(b?.ids.slice(0, 1) ?? [], 'upstream_400', 'Invalid variable');
    unsub();
    expect(seen).toEqual([{ deviceId: 'dev-tok', reason: 'upstream_400', points: 2 }]);
    expect(store.stats().depthPoints).toBe(1);
    expect(store.stats().deadLetters).toBe(1);
    const [d] = store.listDeadLetters();
    expect(d).toMatchObject({ deviceId: 'dev-tok', reason: 'upstream_400', message: 'Invalid variable' });
    expect(d?.records.map((r) => (r as { value: number }).value)).toEqual([1, 2]);
    expect(JSON.stringify(d)).not.toContain('"tok"');
    expect(await store.replayDeadLetters()).toBe(2);
    expect(store.stats().deadLetters).toBe(0);
    expect(store.peek('tok', 100_000)?.records.map((r) => r.value)).toEqual([3, 1, 2]);
  });

  it('addDeadLetter keeps messages that never became points; replay by id', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    await store.addDeadLetter({
      token: 'tok',
      deviceId: 'dev-tok',
      reason: 'EDGE_ERR_PARSER',
      message: 'boom',
      records: [{ variable: 'payload', value: 'abcd', time: '2024-01-01T00:00:00.000Z' }],
      topic: 'x/y',
    });
    await store.addDeadLetter({ token: 'tok2', deviceId: 'd2', reason: 'r', message: 'm', records: [rec('a', 1)] });
    const list = store.listDeadLetters();
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ reason: 'EDGE_ERR_PARSER', topic: 'x/y', message: 'boom' });
    expect(list[1]?.topic).toBeUndefined();
    expect(store.listDeadLetters(1)).toHaveLength(1);
    expect(await store.replayDeadLetters([list[1]?.id ?? 0, 999])).toBe(1);
    expect(store.listDeadLetters().map((d) => d.id)).toEqual([list[0]?.id]);
    expect(store.pendingTokens(10)).toEqual(['tok2']);
  });

  it('persists points, dead letters and refused tokens across reopen', async () => {
    const path = join(tempDir(), 's.db');
    const a = openAt(path);
    await a.append('t1', [rec('v', 1)]);
    await a.append('t2', [rec('v', 2), rec('v', 3)]);
    await a.deadLetter([a.peek('t1', 1000)?.ids[0] ?? 0], 'r', 'm');
    await a.refuseToken('bad');
    await a.refuseToken('bad');
    const before = a.stats();
    await a.close();
    const b = openAt(path);
    expect(b.stats()).toMatchObject({ depthPoints: 2, depthBytes: before.depthBytes, deadLetters: 1 });
    expect(b.pendingTokens(10)).toEqual(['t2']);
    expect(b.refusedTokens()).toEqual(['bad']);
    expect(b.peek('t2', 1000)?.records.map((r) => r.value)).toEqual([2, 3]);
  });

  it('calls onAppend after commits and onSpace after ack / dead letter', async () => {
    const store = openAt(join(tempDir(), 's.db'));
    const onAppend = vi.fn();
    const onSpace = vi.fn();
    store.onAppend(onAppend);
    store.onSpace(onSpace);
    await store.append('t', [rec('v', 1)]);
    await store.append('t', [rec('v', 2)]);
    expect(onAppend).toHaveBeenCalledTimes(2);
    const ids = store.peek('t', 1000)?.ids ?? [];
    await store.acknowledge([ids[0] ?? 0]);
    await store.deadLetter([ids[1] ?? 0], 'r', 'm');
    expect(onSpace).toHaveBeenCalledTimes(2);
    await store.acknowledge([ids[0] ?? 0]); // already gone: nothing freed, no call
    expect(onSpace).toHaveBeenCalledTimes(2);
  });

  it('rejects with StoreFullError (retryAfterSeconds from config) when whenFull is block', async () => {
    const store = openAt(join(tempDir(), 's.db'), { maxBytes: 200, retryAfterSeconds: 9 });
    await store.append('t', [rec('v', 'x'.repeat(100))]);
    const err = await store.append('t', [rec('v', 'y'.repeat(100))]).catch((e) => e);
    expect(err).toBeInstanceOf(StoreFullError);
    expect(err.code).toBe('EDGE_ERR_STORE_FULL');
    expect(err.retryAfterSeconds).toBe(9);
    expect(store.stats().depthPoints).toBe(1);
    // queued-but-uncommitted bytes count too
    await store.acknowledge(store.peek('t', 1000)?.ids ?? []);
    const p1 = store.append('t', [rec('v', 'x'.repeat(100))]);
    await expect(store.append('t', [rec('v', 'x'.repeat(100))])).rejects.toBeInstanceOf(StoreFullError);
    await p1;
  });

  it('drop_oldest evicts the oldest points, counted on events.storeDrop', async () => {
    const store = openAt(join(tempDir(), 's.db'), { maxBytes: 500, whenFull: 'drop_oldest' });
    const drops: Array<{ reason: string; points: number }> = [];
    const unsub = events.storeDrop.subscribe((m) => drops.push(m));
    for (let i = 0; i < 20; i++) await store.append(i % 2 ? 'a' : 'b', [rec('v', i, i)]);
    unsub();
    const s = store.stats();
    expect(s.depthBytes).toBeLessThanOrEqual(500);
    const dropped = drops.reduce((n, d) => n + d.points, 0);
    expect(drops.every((d) => d.reason === 'drop_oldest')).toBe(true);
    expect(dropped + s.depthPoints).toBe(20);
    const left = [...(store.peek('a', 100_000)?.records ?? []), ...(store.peek('b', 100_000)?.records ?? [])].map(
      (r) => r.value as number,
    );
    expect(Math.min(...left)).toBe(dropped); // exactly the oldest went
    // an append bigger than the whole store is refused even with drop_oldest
    await expect(store.append('a', [rec('v', 'x'.repeat(600))])).rejects.toBeInstanceOf(StoreFullError);
  });

  it('close flushes pending appends and refuses later ones', async () => {
    const path = join(tempDir(), 's.db');
    const a = openAt(path, { groupCommitMs: 10_000 });
    const p = a.append('t', [rec('v', 1)]);
    await a.close();
    await p;
    await expect(a.append('t', [rec('v', 2)])).rejects.toMatchObject({ code: 'EDGE_ERR_SHUTTING_DOWN' });
    expect(openAt(path).stats().depthPoints).toBe(1);
  });

  it('rejects with StoreWriteError when the commit fails', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path);
    // Simulate a disk failure: a trigger makes every insert into points fail.
    (store as unknown as { db: import('better-sqlite3').Database }).db.exec(
      'CREATE TRIGGER fail BEFORE INSERT ON points BEGIN SELECT RAISE(ABORT, "disk I/O error"); END',
    );
    const results = await Promise.allSettled([store.append('t', [rec('v', 1)]), store.append('u', [rec('v', 2)])]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'EDGE_ERR_STORE_WRITE' });
    }
    expect(store.stats().depthPoints).toBe(0);
  });

  it('serves the rows it committed from memory: the same batches a read of the file gives, without reading it', async () => {
    const path = join(tempDir(), 's.db');
    const gw = openAt(path);
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 40; i++)
      appends.push(gw.append(`tok-${i % 3}`, [rec('v', i, i), rec('w', 'x'.repeat(i * 7), i)]));
    await Promise.all(appends);
    await gw.acknowledge(gw.peek('tok-0', 300)?.ids ?? []);
    const fromFile = openAt(path, { rowCacheBytes: 0 });
    for (const token of ['tok-0', 'tok-1', 'tok-2']) {
      for (const maxBytes of [10, 300, 1_000, 200_000]) {
        const a = gw.peek(token, maxBytes);
        const b = fromFile.peek(token, maxBytes);
        expect({ ids: a?.ids, points: a?.points, bytes: a?.bytes, body: a?.body }).toEqual({
          ids: b?.ids,
          points: b?.points,
          bytes: b?.bytes,
          body: b?.body,
        });
      }
    }
    // The rows gone from the file behind the store's back (not a write it is told of): still served, so
    // they came from memory.
    await fromFile.acknowledge(fromFile.peek('tok-1', 200_000)?.ids ?? []);
    expect(fromFile.peek('tok-1', 200_000)).toBeNull();
    expect(gw.peek('tok-1', 200_000)?.points).toBeGreaterThan(0);
  });

  it('keeps the rows of a queue it holds in memory out of the per-device index until that queue leaves memory', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { rowCacheBytes: 1_000 });
    const inIndex = (token: string) => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare('SELECT in_index FROM points WHERE token = ? ORDER BY id').pluck().all(token);
      } finally {
        db.close();
      }
    };
    await Promise.all([store.append('tok-a', [rec('v', 1, 1)]), store.append('tok-b', [rec('v', 'x'.repeat(2_000))])]);
    await store.append('tok-a', [rec('v', 2, 2)]);
    // tok-a fits the cache: its rows skip the index. tok-b never fitted: its row is in the index.
    expect(inIndex('tok-a')).toEqual([0, 0]);
    expect(inIndex('tok-b')).toEqual([1]);
    // tok-a outgrows the cache: every row it has goes into the index, and it is read from the file.
    await store.append('tok-a', [rec('v', 'y'.repeat(1_000), 3)]);
    // Read by id meanwhile, put into the index by the commit thread:
    expect(store.peek('tok-a', 100_000)?.points).toBe(3);
    await store.flush();
    expect(inIndex('tok-a')).toEqual([1, 1, 1]);
    expect(store.peek('tok-a', 100_000)?.records.map((r) => r.time)).toEqual([
      rec('v', 1, 1).time,
      rec('v', 2, 2).time,
      rec('v', 0, 3).time,
    ]);
    // Its queue empties and starts again: cached again, out of the index again.
    await store.acknowledge(store.peek('tok-a', 100_000)?.ids ?? []);
    await store.append('tok-a', [rec('v', 4, 4)]);
    expect(inIndex('tok-a')).toEqual([0]);
    // Opened again (a restart), nothing is cached: every row is in the index and read from it.
    await store.close();
    const again = openAt(path, { rowCacheBytes: 0 });
    await again.flush();
    expect(inIndex('tok-a')).toEqual([1]);
    expect(again.peek('tok-a', 100_000)?.records).toEqual([rec('v', 4, 4)]);
    expect(again.peek('tok-b', 100_000)?.points).toBe(1);
  });

  it('puts a replay behind a queue it holds in memory, and lists the device as pending', async () => {
    const path = join(tempDir(), 's.db');
    const gw = openAt(path);
    await gw.append('t', [rec('v', 1)]);
    await gw.deadLetter(gw.peek('t', 1000)?.ids ?? [], 'r', 'm');
    expect(gw.pendingTokens(10)).toEqual([]);
    await gw.append('t', [rec('v', 2)]); // a fresh queue for t, held in memory
    expect(await gw.replayDeadLetters()).toBe(1); // v 1 goes behind v 2
    expect(gw.pendingTokens(10)).toEqual(['t']);
    expect(gw.peek('t', 100_000)?.records.map((r) => r.value)).toEqual([2, 1]);
    expect(gw.stats()).toMatchObject({ depthPoints: 2, deadLetters: 0 });
  });

  it('a clean close puts every row into the index and says so; an unclean one leaves the next open to find them', async () => {
    const path = join(tempDir(), 's.db');
    const meta = () => {
      const db = new Database(path, { readonly: true });
      try {
        return {
          flag: db.prepare("SELECT value FROM meta WHERE key = 'all_indexed'").pluck().get(),
          outside: db.prepare('SELECT COUNT(*) FROM points WHERE in_index = 0').pluck().get(),
        };
      } finally {
        db.close();
      }
    };
    const a = openAt(path);
    await a.append('tok-a', [rec('v', 1, 1)]);
    await a.append('tok-a', [rec('v', 2, 2)]);
    // Held in memory, outside the index, and the file says a scan is needed.
    expect(meta()).toEqual({ flag: undefined, outside: 2 });
    // Opened again without the first closing (as after a crash): the scan finds the rows outside the index.
    const crashed = openAt(path, { readOnly: true });
    expect(crashed.stats().depthPoints).toBe(2);
    expect(crashed.peek('tok-a', 100_000)?.records.map((r) => r.value)).toEqual([1, 2]);
    await crashed.close();
    await a.close();
    expect(meta()).toEqual({ flag: '1', outside: 0 });
    const b = openAt(path);
    expect(meta().flag).toBe('0'); // cleared as it opens, before any row can skip the index
    expect(b.stats().depthPoints).toBe(2);
    await b.append('tok-b', [rec('v', 3, 3)]);
    expect(meta()).toEqual({ flag: '0', outside: 1 });
    await b.close();
    expect(meta()).toEqual({ flag: '1', outside: 0 });
  });

  it('writes only through its commit thread once open: its own connection changes no row', async () => {
    const path = join(tempDir(), 's.db');
    const cipher = new Cipher(randomBytes(32));
    const seed = openAt(path, { cipher });
    await seed.append('bad', [rec('v', 0)]);
    await seed.close();
    const raw = new Database(path);
    raw.prepare("UPDATE points SET payload = X'00' WHERE token != ''").run(); // unreadable: quarantined on peek
    raw.close();
    const gw = openAt(path, { cipher, rowCacheBytes: 1_000 });
    const db = (gw as unknown as { db: Database.Database }).db;
    const changes = db.prepare('SELECT total_changes()').pluck();
    const before = changes.get();
    const quarantined = new Promise<void>((resolve) => {
      const unsub = events.deadLetter.subscribe(() => {
        unsub();
        resolve();
      });
    });
    expect(gw.peek('bad', 1000)).toBeNull();
    await quarantined;
    await gw.append('a', [rec('v', 1)]);
    await gw.append('a', [rec('v', 'y'.repeat(2_000))]); // outgrows the cache: indexed
    await gw.deadLetter(gw.peek('a', 100_000)?.ids ?? [], 'upstream_400', 'm');
    await gw.addDeadLetter({ token: 'b', deviceId: 'b', reason: 'EDGE_ERR_PARSER', message: 'm', records: [] });
    expect(await gw.replayDeadLetters()).toBe(2);
    await gw.refuseToken('c');
    await gw.acknowledge(gw.peek('a', 100_000)?.ids ?? []);
    await gw.flush();
    expect(changes.get()).toBe(before);
    expect(gw.stats()).toMatchObject({ depthPoints: 0, deadLetters: 1 }); // the tampered row's evidence stays
    expect(gw.isRefused('c')).toBe(true);
  });

  it('survives its commit thread dying: the commit in flight is retried on a new thread, counters follow the file', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path);
    await store.append('t', [rec('v', 0)]);
    const writer = (store as unknown as { writer: { thread: { worker: import('node:worker_threads').Worker } } })
      .writer;
    const thread = writer.thread;
    const inFlight = Array.from({ length: 10 }, (_, i) => store.append('t', [rec('v', i + 1)]));
    await thread.worker.terminate();
    const results = await Promise.allSettled(inFlight);
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    await store.append('u', [rec('v', 1)]);
    expect(writer.thread).not.toBe(thread); // a new one took over
    const fresh = openAt(path);
    expect(fresh.stats().depthPoints).toBeGreaterThanOrEqual(12);
    expect(store.stats()).toMatchObject({
      depthPoints: fresh.stats().depthPoints,
      depthBytes: fresh.stats().depthBytes,
    });
  });
});
