/**
 * The SQLite store's statements, prepared once (preparing per call costs more than running): the reads the
 * main connection runs, and the writes (`WRITE_SQL`) that only the commit thread runs.
 */
import type Database from 'better-sqlite3';

/**
 * Every write the store makes, by name: the commit thread prepares these and nothing else, so it is the
 * file's only writer once the store is open (schema.ts creates or migrates the tables before it starts).
 */
export const WRITE_SQL = {
  /** The last value is `in_index` (schema.ts): 0 only for a device whose queue the store holds in memory. */
  insertRow: 'INSERT INTO points (token, payload, bytes, points, created_at, in_index) VALUES (?, ?, ?, ?, ?, ?)',
  insertToken: 'INSERT OR IGNORE INTO tokens (tkey, token) VALUES (?, ?)',
  deleteRowMeta: 'DELETE FROM points WHERE id = ? RETURNING token, bytes, points',
  /** With `.pluck()`: the ids of the oldest rows, for `drop_oldest` evictions. */
  oldestIds: 'SELECT id FROM points ORDER BY id LIMIT ?',
  /** Puts one row into the per-device index (its device's cached queue was dropped). */
  indexRow: 'UPDATE points SET in_index = 1 WHERE id = ? AND in_index = 0',
  insertDead: 'INSERT INTO dead_letters (device_id, reason, points, body, raw, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  deleteDead: 'DELETE FROM dead_letters WHERE id = ?',
  insertRefused: 'INSERT OR IGNORE INTO refused_tokens (tkey, token) VALUES (?, ?)',
  /** A clean close: every row is in the index (schema.ts, `all_indexed`). */
  setAllIndexed: "INSERT OR REPLACE INTO meta (key, value) VALUES ('all_indexed', '1')",
} as const;

export type WriteName = keyof typeof WRITE_SQL;

export function prepareStatements(db: Database.Database) {
  return {
    // A device read from the file is not in the row cache, so its rows are in the index (schema.ts), but
    // for those the commit thread has not put there yet (RowIndex keeps their ids).
    peekRows: db.prepare('SELECT id, payload, bytes, points FROM points WHERE token = ? AND in_index = 1 ORDER BY id'),
    rowById: db.prepare('SELECT id, token, payload, bytes, points FROM points WHERE id = ?'),
    firstOfToken: db.prepare('SELECT id FROM points WHERE token = ? AND in_index = 1 ORDER BY id LIMIT 1').pluck(),
    /** The rows outside the per-device index (`points_unindexed`): at open and reload, and for one device found out of step. */
    unindexed: db.prepare('SELECT id, token FROM points WHERE in_index = 0 ORDER BY id'),
    unindexedOfToken: db.prepare('SELECT id FROM points WHERE token = ? AND in_index = 0 ORDER BY id').pluck(),
    createdAt: db.prepare('SELECT created_at FROM points WHERE id = ?').pluck(),
    firstOverall: db.prepare('SELECT id, created_at FROM points ORDER BY id LIMIT 1'),
    /** Each device's totals, kept by triggers (schema.ts): opening reads these, not every row. */
    queueTotals: db.prepare('SELECT tkey, points, bytes FROM queues WHERE points > 0'),
    allTokens: db.prepare('SELECT tkey, token FROM tokens'),
    listDead: db.prepare('SELECT id, device_id, reason, body, created_at FROM dead_letters ORDER BY id LIMIT ?'),
    deadById: db.prepare('SELECT id, reason, body FROM dead_letters WHERE id = ?'),
    allDead: db.prepare('SELECT id, reason, body FROM dead_letters ORDER BY id'),
    deadCount: db.prepare('SELECT COUNT(*) FROM dead_letters').pluck(),
    allRefused: db.prepare('SELECT tkey, token FROM refused_tokens'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
