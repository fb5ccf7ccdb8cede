import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { events } from '../../gateway/events.js';
import { openAt, rec, tempDir } from './helpers.js';

describe('group commit', () => {
  for (const groupCommitMs of [0, 2]) {
    it(`shares commits between 100 concurrent appends and resolves each only after its commit (groupCommitMs ${groupCommitMs})`, async () => {
      const path = join(tempDir(), 's.db');
      const store = openAt(path, { groupCommitMs, sync: 'full' });
      const reader = new Database(path, { readonly: true });
      const count = reader.prepare('SELECT COUNT(*) FROM points WHERE payload LIKE ? AND payload LIKE ?').pluck();
      const commits: Array<{ rows: number; durationMs: number }> = [];
      const unsub = events.storeCommit.subscribe((m) => commits.push(m));
      const visibleAtResolve: number[] = [];
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.append(`dev-${i % 10}`, [rec('seq', `s${i}-a`), rec('seq', `s${i}-b`)]).then(() => {
            // Read from a second connection: the rows must already be committed.
            visibleAtResolve.push(count.get(`%"s${i}-a"%`, `%"s${i}-b"%`) as number);
          }),
        ),
      );
      unsub();
      reader.close();
      expect(visibleAtResolve).toEqual(Array(100).fill(1));
      expect(commits.length).toBeGreaterThanOrEqual(1);
      expect(commits.length).toBeLessThan(10);
      // A device's appends in one commit share a row: at most one row per device per commit.
      const rows = commits.reduce((n, c) => n + c.rows, 0);
      expect(rows).toBeLessThanOrEqual(commits.length * 10);
      expect(store.stats().depthPoints).toBe(200);
    });
  }

  it('gives each stored row the id it has in the file when one commit holds many devices, each over several rows', async () => {
    const path = join(tempDir(), 's.db');
    // Rows of ~2 records: a device's append of up to 7 records is split over several rows.
    const store = openAt(path, { groupCommitMs: 200, rowMaxBytes: 130, sync: 'full' });
    const devices = Array.from({ length: 45 }, (_, d) => `tok-${d}`);
    const records = (d: number) => 1 + (d % 7);
    let commits = 0;
    const unsub = events.storeCommit.subscribe(() => commits++);
    await Promise.all(
      devices.map((t, d) =>
        store.append(
          t,
          Array.from({ length: records(d) }, (_, i) => rec(`v${i}`, `${t}-${i}`, i)),
        ),
      ),
    );
    unsub();
    expect(commits).toBe(1);
    const reader = new Database(path, { readonly: true });
    const fileRows = reader.prepare('SELECT id, payload FROM points WHERE token = ? ORDER BY id');
    let rowsInFile = 0;
    for (const t of devices) {
      const batch = store.peek(t, 1_000_000);
      const inFile = fileRows.all(t) as Array<{ id: number; payload: Buffer | string }>;
      rowsInFile += inFile.length;
      // The ids the store hands the forwarder are the file's ids for the same rows.
      expect(batch?.ids).toEqual(inFile.map((r) => r.id));
      expect(batch?.body).toBe(`[${inFile.map((r) => r.payload.toString()).join(',')}]`);
    }
    // Many rows in the one transaction, most devices over several of them.
    expect(rowsInFile).toBeGreaterThan(64);
    // Acknowledging by those ids removes exactly those rows.
    await Promise.all(devices.slice(0, 20).map((t) => store.acknowledge(store.peek(t, 1_000_000)?.ids ?? [])));
    const left = reader.prepare('SELECT DISTINCT token FROM points ORDER BY token').pluck().all();
    reader.close();
    expect(left).toEqual(devices.slice(20).sort());
    expect(store.stats().depthPoints).toBe(devices.slice(20).reduce((n, _t, i) => n + records(i + 20), 0));
  });

  it('starts the next group commit as soon as the one in flight has committed, not a groupCommitMs later', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 600, sync: 'full' });
    await store.append('warm', [rec('v', 0)]); // the commit thread is up
    // Another connection holds the write lock: the next commit waits for it (busy timeout) while in flight.
    const locker = new Database(path);
    locker.exec('BEGIN IMMEDIATE');
    const resolvedAt: Record<string, number> = {};
    const a = store.append('a', [rec('v', 1)]).then(() => {
      resolvedAt.a = performance.now();
    });
    await new Promise((r) => setTimeout(r, 700)); // a's commit is in flight, waiting for the lock
    const b = store.append('b', [rec('v', 2)]).then(() => {
      resolvedAt.b = performance.now();
    });
    await new Promise((r) => setTimeout(r, 20));
    locker.exec('COMMIT');
    locker.close();
    await Promise.all([a, b]);
    // b queued while a was committing: it goes right after a, not 600 ms after it was queued.
    expect((resolvedAt.b ?? 0) - (resolvedAt.a ?? 0)).toBeLessThan(200);
    expect(store.stats().depthPoints).toBe(3);
  });

  it('commits a full group at once instead of waiting out groupCommitMs', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 600, sync: 'full' });
    await store.append('warm', [rec('v', 0)]); // the commit thread is up
    const t0 = performance.now();
    // A parser batch's worth of appends in one turn (128, the store's FULL_GROUP_APPENDS): they need not wait.
    await Promise.all(Array.from({ length: 128 }, (_, i) => store.append(`d${i}`, [rec('v', i)])));
    expect(performance.now() - t0).toBeLessThan(300);
    // Fewer appends still wait for groupCommitMs, to share a commit with what comes next.
    const t1 = performance.now();
    await store.append('single', [rec('v', 1)]);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(550);
    expect(store.stats().depthPoints).toBe(130);
  });

  it('does not resolve an append before its commit', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 50 });
    let resolved = false;
    const p = store.append('t', [rec('v', 1)]).then(() => {
      resolved = true;
    });
    await new Promise((r) => setImmediate(r));
    const reader = new Database(path, { readonly: true });
    expect(resolved).toBe(false);
    expect(reader.prepare('SELECT COUNT(*) FROM points').pluck().get()).toBe(0);
    await p;
    expect(reader.prepare('SELECT COUNT(*) FROM points').pluck().get()).toBe(1);
    reader.close();
  });
});

describe('acks with the next commit', () => {
  it('removes delivered rows in the transaction of the next group commit, resolving only once they are gone', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 20, sync: 'full' });
    for (let i = 0; i < 3; i++) await store.append(`d${i}`, [rec('v', i)]);
    const reader = new Database(path, { readonly: true });
    const rows = reader.prepare('SELECT COUNT(*) FROM points').pluck();
    const commits: number[] = [];
    const unsub = events.storeCommit.subscribe((m) => commits.push(m.rows));
    const ids = ['d0', 'd1'].map((t) => store.peek(t, 1000)?.ids ?? []);
    let acked = 0;
    const acks = ids.map((i) =>
      store.acknowledge(i).then(() => {
        acked++;
        expect(rows.get()).toBeLessThanOrEqual(2); // gone, seen from another connection
      }),
    );
    const appended = store.append('d2', [rec('v', 9)]);
    await new Promise((r) => setTimeout(r, 5));
    expect(acked).toBe(0); // still waiting for the group commit
    expect(rows.get()).toBe(3);
    await Promise.all([...acks, appended]);
    unsub();
    expect(commits).toEqual([1]); // one transaction: two acks and one append
    expect(rows.get()).toBe(2);
    expect(store.stats().depthPoints).toBe(2);
    expect(store.pendingTokens(10)).toEqual(['d2']);
    reader.close();
  });

  it('an append that fails its commit does not take the acks down with it', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 5 });
    await store.append('t', [rec('v', 1)]);
    const ids = store.peek('t', 1000)?.ids ?? [];
    (store as unknown as { db: import('better-sqlite3').Database }).db.exec(
      'CREATE TRIGGER fail BEFORE INSERT ON points BEGIN SELECT RAISE(ABORT, "disk I/O error"); END',
    );
    const [ack, append] = await Promise.allSettled([store.acknowledge(ids), store.append('u', [rec('v', 2)])]);
    expect(ack.status).toBe('fulfilled');
    expect(append.status).toBe('rejected');
    expect(store.stats().depthPoints).toBe(0);
  });

  it('is refused once the store is closed (the points stay and are sent again)', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path);
    await store.append('t', [rec('v', 1)]);
    const ids = store.peek('t', 1000)?.ids ?? [];
    await store.close();
    await expect(store.acknowledge(ids)).rejects.toMatchObject({ code: 'EDGE_ERR_SHUTTING_DOWN' });
    expect(openAt(path).stats().depthPoints).toBe(1);
  });
});

describe('rows shared within a commit', () => {
  it('merges one device’s appends of a commit into rows of at most rowMaxBytes, keeping each device’s order', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 5, rowMaxBytes: 200 });
    const sent = new Map<string, number[]>();
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const dev = `d${i % 3}`;
        sent.set(dev, [...(sent.get(dev) ?? []), i]);
        return store.append(dev, [rec('seq', i, i)]);
      }),
    );
    const reader = new Database(path, { readonly: true });
    const rows = reader.prepare('SELECT bytes, points FROM points').all() as Array<{ bytes: number; points: number }>;
    reader.close();
    expect(rows.length).toBeLessThan(60); // appends shared rows
    expect(rows.every((r) => r.bytes <= 200 || r.points === 1)).toBe(true);
    expect(rows.reduce((n, r) => n + r.points, 0)).toBe(60);
    for (const [dev, values] of sent) {
      const got: unknown[] = [];
      for (let b = store.peek(dev, 202); b; b = store.peek(dev, 202)) {
        expect(b.bytes).toBeLessThanOrEqual(202);
        got.push(...b.records.map((r) => r.value));
        await store.acknowledge(b.ids);
      }
      expect(got).toEqual(values);
    }
  });
});
