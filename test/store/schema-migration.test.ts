/**
 * Store file versions: a version 1 file (one row per point, written by tago-edge 0.1 before rows held a
 * whole append), a version 2 file (every row in the (token, id) index) and a version 4 file (no per-device
 * totals table) open, keep every pending point in order and are upgraded in place; a file newer than this
 * build is refused with a clear error instead of being misread. And the file's layout for opening: totals
 * from `queues`, rows outside the per-device index through their own index.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../gateway/store/sqlite/schema.js';
import { openAt, rec, tempDir } from './helpers.js';

const V1_DDL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE tokens (tkey TEXT PRIMARY KEY, token BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE points (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token TEXT NOT NULL,
  payload BLOB NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX points_token_id ON points (token, id);
CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  points INTEGER NOT NULL,
  body BLOB NOT NULL,
  raw BLOB,
  created_at INTEGER NOT NULL
);
CREATE TABLE refused_tokens (tkey TEXT PRIMARY KEY, token BLOB NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '1'), ('encrypted', '0');
`;

function writeV1(path: string, tokens: Record<string, unknown[]>): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(V1_DDL);
  const insert = db.prepare('INSERT INTO points (token, payload, bytes, created_at) VALUES (?, ?, ?, ?)');
  for (const [token, records] of Object.entries(tokens)) {
    db.prepare('INSERT INTO tokens VALUES (?, ?)').run(token, token);
    for (const r of records) {
      const json = JSON.stringify(r);
      insert.run(token, json, Buffer.byteLength(json) + 1, Date.now());
    }
  }
  db.close();
}

/** A version 2 file: version 1's table with `points`, rows of several records each. */
function writeV2(path: string, tokens: Record<string, unknown[][]>): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(
    V1_DDL.replace(
      '  created_at INTEGER NOT NULL\n);\nCREATE INDEX',
      '  created_at INTEGER NOT NULL,\n  points INTEGER NOT NULL DEFAULT 1\n);\nCREATE INDEX',
    ).replace("('schema_version', '1')", "('schema_version', '2')"),
  );
  const insert = db.prepare('INSERT INTO points (token, payload, bytes, points, created_at) VALUES (?, ?, ?, ?, ?)');
  for (const [token, rows] of Object.entries(tokens)) {
    db.prepare('INSERT INTO tokens VALUES (?, ?)').run(token, token);
    for (const records of rows) {
      const text = records.map((r) => JSON.stringify(r)).join(',');
      insert.run(token, text, Buffer.byteLength(text) + 1, records.length, Date.now());
    }
  }
  db.close();
}

describe('store schema versions', () => {
  it('opens a version 2 file, reads each device from the new partial index and upgrades the file', async () => {
    const path = join(tempDir(), 'tago-edge.db');
    const a = [[rec('v', 1, 1), rec('v', 2, 2)], [rec('v', 3, 3)]];
    const b = [[rec('w', 'x', 4)]];
    writeV2(path, { 'tok-a': a, 'tok-b': b });
    // No row cache: every peek is a read of the index.
    const store = openAt(path, { rowCacheBytes: 0 });
    expect(store.stats()).toMatchObject({ depthPoints: 4 });
    await store.append('tok-a', [rec('v', 4, 5)]);
    expect(store.peek('tok-a', 100_000)?.records).toEqual([...a.flat(), rec('v', 4, 5)]);
    expect(store.peek('tok-b', 100_000)?.records).toEqual(b.flat());
    await store.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'points'")
      .pluck()
      .all();
    expect(indexes.sort()).toEqual(['points_by_token', 'points_unindexed']);
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT id FROM points WHERE token = 'tok-a' AND in_index = 1 ORDER BY id")
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING (COVERING )?INDEX points_by_token/);
    db.close();
  });

  it('opens a version 1 file (one row per point), forwards its points in order and upgrades it', async () => {
    const path = join(tempDir(), 'tago-edge.db');
    const a = [rec('v', 1, 1), rec('v', 2, 2), rec('v', 3, 3)];
    const b = [rec('w', 'x', 4)];
    writeV1(path, { 'tok-a': a, 'tok-b': b });
    const store = openAt(path);
    expect(store.stats()).toMatchObject({ depthPoints: 4 });
    await store.append('tok-a', [rec('v', 4, 5), rec('v', 5, 6)]);
    const batch = store.peek('tok-a', 100_000);
    expect(batch?.records).toEqual([...a, rec('v', 4, 5), rec('v', 5, 6)]);
    expect(batch?.points).toBe(5);
    expect(batch?.ids).toHaveLength(4); // three version 1 rows and one new row
    await store.acknowledge(batch?.ids ?? []);
    expect(store.stats().depthPoints).toBe(1);
    await store.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    db.close();
    const again = openAt(path);
    expect(again.peek('tok-b', 1000)?.records).toEqual(b);
  });

  it('opens a version 4 file (no totals table), counts its rows once into `queues` and keeps them counted', async () => {
    const path = join(tempDir(), 'tago-edge.db');
    // A version 4 file: today's, without the totals table, its triggers and the index of unindexed rows,
    // with one row of tok-a outside the per-device index (a crash while its queue was held in memory).
    const first = openAt(path, { rowCacheBytes: 0 });
    await first.append('tok-a', [rec('v', 1, 1), rec('v', 2, 2)]);
    await first.append('tok-b', [rec('w', 'x', 3)]);
    await first.close();
    const old = new Database(path);
    old.exec(`
      DROP TRIGGER points_count_insert; DROP TRIGGER points_count_delete; DROP INDEX points_unindexed;
      DROP TABLE queues; UPDATE meta SET value = '4' WHERE key = 'schema_version';
      UPDATE meta SET value = '0' WHERE key = 'all_indexed';
    `);
    old
      .prepare('INSERT INTO points (token, payload, bytes, points, created_at, in_index) VALUES (?, ?, ?, ?, ?, 0)')
      .run('tok-a', JSON.stringify(rec('v', 3, 4)), JSON.stringify(rec('v', 3, 4)).length + 1, 1, Date.now());
    old.close();

    const store = openAt(path);
    expect(store.stats()).toMatchObject({ depthPoints: 4 });
    expect(store.peek('tok-a', 100_000)?.records.map((r) => r.value)).toEqual([1, 2, 3]);
    await store.acknowledge(store.peek('tok-b', 100_000)?.ids ?? []);
    await store.append('tok-c', [rec('z', 1, 5)]);
    await store.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    const totals = db.prepare('SELECT tkey, points, bytes FROM queues WHERE points > 0 ORDER BY tkey').all();
    const summed = db
      .prepare(
        'SELECT token AS tkey, SUM(points) AS points, SUM(bytes) AS bytes FROM points GROUP BY token ORDER BY token',
      )
      .all();
    expect(totals).toEqual(summed);
    expect(totals.map((t) => (t as { tkey: string }).tkey)).toEqual(['tok-a', 'tok-c']);
    db.close();
    expect(openAt(path).stats()).toMatchObject({ depthPoints: 4 });
  });

  it('opens from the per-device totals and reads only the rows outside the per-device index', async () => {
    const path = join(tempDir(), 'tago-edge.db');
    await openAt(path).close();
    const db = new Database(path, { readonly: true });
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((p) => p.detail).join(' ');
    // The statements the open runs (statements.ts): neither scans `points`.
    expect(plan('SELECT tkey, points, bytes FROM queues WHERE points > 0')).toMatch(/SCAN queues/);
    expect(plan('SELECT id, token FROM points WHERE in_index = 0 ORDER BY id')).toMatch(/INDEX points_unindexed/);
    expect(plan("SELECT id FROM points WHERE token = 'a' AND in_index = 1 ORDER BY id LIMIT 1")).toMatch(
      /COVERING INDEX points_by_token/,
    );
    db.close();
  });

  it('refuses a file written by a newer tago-edge', async () => {
    const path = join(tempDir(), 'tago-edge.db');
    await openAt(path).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    expect(() => openAt(path)).toThrow(/schema version 99, newer than this tago-edge understands/);
  });
});
