/** The SQLite store's prepared statements, prepared once at open (preparing per call costs more than running). */
import type Database from 'better-sqlite3';

/** The writes both connections run: the main one (replay, dead letters) and the commit thread's. */
export const WRITE_SQL = {
  /** The last value is `in_index` (sqlite-schema.ts): 0 only for a device whose queue the store holds in memory. */
  insertRow: 'INSERT INTO points (token, payload, bytes, points, created_at, in_index) VALUES (?, ?, ?, ?, ?, ?)',
  insertToken: 'INSERT OR IGNORE INTO tokens (tkey, token) VALUES (?, ?)',
  deleteRowMeta: 'DELETE FROM points WHERE id = ? RETURNING token, bytes, points',
  /** With `.pluck()`: the ids of the oldest rows, for `drop_oldest` evictions. */
  oldestIds: 'SELECT id FROM points ORDER BY id LIMIT ?',
} as const;

export function prepareStatements(db: Database.Database) {
  return {
    insertRow: db.prepare(WRITE_SQL.insertRow),
    insertToken: db.prepare(WRITE_SQL.insertToken),
    deleteRow: db.prepare('DELETE FROM points WHERE id = ? RETURNING token, payload, bytes, points'),
    deleteRowMeta: db.prepare(WRITE_SQL.deleteRowMeta),
    // A device read from the file is not in the row cache, so all its rows are in the index (sqlite-schema.ts).
    peekRows: db.prepare('SELECT id, payload, bytes, points FROM points WHERE token = ? AND in_index = 1 ORDER BY id'),
    firstOfToken: db.prepare('SELECT id FROM points WHERE token = ? AND in_index = 1 ORDER BY id LIMIT 1').pluck(),
    /** Puts one row into the per-device index (its device's cached queue is being dropped). */
    indexRow: db.prepare('UPDATE points SET in_index = 1 WHERE id = ? AND in_index = 0'),
    /** The same for every row of one device: a full scan, for a cached queue found out of step with the file. */
    indexToken: db.prepare('UPDATE points SET in_index = 1 WHERE token = ? AND in_index = 0'),
    /** At open and reload, when no queue is cached: a full scan. */
    indexAll: db.prepare('UPDATE points SET in_index = 1 WHERE in_index = 0'),
    firstOverall: db.prepare('SELECT id, created_at FROM points ORDER BY id LIMIT 1'),
    totals: db.prepare('SELECT COALESCE(SUM(points), 0) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM points'),
    // Run after indexAll, so the partial index covers every row and serves the grouping without a sort.
    heads: db.prepare(
      'SELECT token AS tkey, MIN(id) AS oldestId, SUM(points) AS n, SUM(bytes) AS bytes FROM points WHERE in_index = 1 GROUP BY token',
    ),
    allTokens: db.prepare('SELECT tkey, token FROM tokens'),
    insertDead: db.prepare(
      'INSERT INTO dead_letters (device_id, reason, points, body, raw, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    listDead: db.prepare('SELECT id, device_id, reason, body, created_at FROM dead_letters ORDER BY id LIMIT ?'),
    deadById: db.prepare('SELECT id, reason, body FROM dead_letters WHERE id = ?'),
    allDead: db.prepare('SELECT id, reason, body FROM dead_letters ORDER BY id'),
    deleteDead: db.prepare('DELETE FROM dead_letters WHERE id = ?'),
    deadCount: db.prepare('SELECT COUNT(*) FROM dead_letters').pluck(),
    insertRefused: db.prepare('INSERT OR IGNORE INTO refused_tokens (tkey, token) VALUES (?, ?)'),
    allRefused: db.prepare('SELECT tkey, token FROM refused_tokens'),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    // Bumped by every write on a store's main connection (the queue CLI's replay, the gateway's rare
    // writes), never by the commit thread: how the gateway tells another process's writes from its own.
    ensureWrites: db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('writes', '0')"),
    writes: db.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'writes'").pluck(),
    bumpWrites: db
      .prepare(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'writes' RETURNING CAST(value AS INTEGER)",
      )
      .pluck(),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
