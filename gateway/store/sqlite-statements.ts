/** The SQLite store's prepared statements, prepared once at open (preparing per call costs more than running). */
import type Database from 'better-sqlite3';

/** The writes both connections run: the main one (replay, dead letters) and the commit thread's. */
export const WRITE_SQL = {
  insertRow: 'INSERT INTO points (token, payload, bytes, points, created_at) VALUES (?, ?, ?, ?, ?)',
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
    peekRows: db.prepare('SELECT id, payload, bytes, points FROM points WHERE token = ? ORDER BY id'),
    firstOfToken: db.prepare('SELECT id FROM points WHERE token = ? ORDER BY id LIMIT 1').pluck(),
    firstOverall: db.prepare('SELECT id, created_at FROM points ORDER BY id LIMIT 1'),
    totals: db.prepare('SELECT COALESCE(SUM(points), 0) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM points'),
    heads: db.prepare(
      'SELECT token AS tkey, MIN(id) AS oldestId, SUM(points) AS n, SUM(bytes) AS bytes FROM points GROUP BY token',
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
