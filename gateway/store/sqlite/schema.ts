/**
 * Opens the store's SQLite file: pragmas, tables, and the meta checks that refuse a file this process
 * cannot read correctly (newer schema, missing or wrong encryption key).
 *
 * Tables (schema version 5):
 * - `points`: one row per append (a long append is split into rows of at most `rowMaxBytes`), holding
 *   `points` records. `token` is the device token, or its HMAC when encrypted; `payload` is the records'
 *   JSON objects joined by commas (a slice of a JSON array, without the brackets), or `iv|tag|ciphertext`
 *   of that text when encrypted; `bytes` is its length + 1 (its share of a JSON array, comma included)
 *   and is what `store.maxBytes` counts. `in_index` is 1 when the row is in `points_by_token` (the
 *   per-device index the forwarder reads a device's queue by; it covers `points` and `bytes` too, so opening
 *   the file sums each device's queue from the index alone), 0 when it was written for a device whose
 *   whole queue the gateway holds in memory (SqliteStore's row cache): such rows skip the index, whose
 *   pages one commit would otherwise touch once per device. Rule: a device's `in_index = 0` rows exist
 *   only while its queue is cached; whatever drops the cache first puts them into the index (and opening the file
 *   puts every row it finds at 0 into the index, through the commit thread).
 *   Version 1 kept one row per point; such a row is a valid version 2 row with `points` = 1, so opening a
 *   version 1 file adds the column (default 1) and carries on. Version 2 indexed every row on
 *   (token, id); opening it adds `in_index` (default 1) and swaps that index for the partial one.
 *   Version 3's partial index held (token, id) only; opening it builds the covering one. Rows outside the
 *   per-device index are in `points_unindexed` (on id alone: its entries go in at the right edge and leave
 *   at the left, one page each, however many devices a commit touches), so finding them after a crash reads
 *   those rows only, not the table.
 * - `queues`: per device (token key), the points and bytes of its rows in `points`, kept by the triggers
 *   `points_count_insert` and `points_count_delete` in the transaction that inserts or deletes a row (a
 *   row's `token`, `points` and `bytes` never change after its insert). Opening the file reads a device's
 *   totals here and its head with one seek of the per-device index, instead of summing the index (at 50M
 *   points, seconds warm and half a minute from a cold disk). A device whose queue emptied keeps a row at 0.
 *   Version 4 had no such table; opening a version 4 file fills it from `points` once.
 * - `tokens`: token key → token (sealed when encrypted), so pending tokens can be listed at open.
 * - `dead_letters`: `body` is `{"token","message","records","topic"?}` as JSON (sealed when encrypted);
 *   `raw` keeps the bytes of a tampered point for forensics.
 * - `refused_tokens`: token key → token (sealed when encrypted).
 * - `meta`: schema_version, encrypted (0/1), key_check, all_indexed ('1' once a store closed cleanly with
 *   every row in the index, so the next open need not look for rows outside it; '0' while a store has the
 *   file open). (Files written by earlier versions may also hold
 *   `writes`, a counter for changes made by another process; nothing reads it now.)
 *
 * Opening is the only write made outside the commit thread: creating or migrating the tables, before the
 * commit thread starts and while the opener holds the store's lock.
 */
import { timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';
import { StoreOpenError } from '../../errors.js';
import { type Cipher, KEY_ENV } from '../encryption.js';

export const SCHEMA_VERSION = 5;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (tkey TEXT PRIMARY KEY, token BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token TEXT NOT NULL,
  payload BLOB NOT NULL,
  bytes INTEGER NOT NULL,
  points INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  in_index INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  points INTEGER NOT NULL,
  body BLOB NOT NULL,
  raw BLOB,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused_tokens (tkey TEXT PRIMARY KEY, token BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queues (tkey TEXT PRIMARY KEY, points INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
`;

/** The per-device index, over the rows that are not held in the gateway's row cache (see `in_index` above). */
const INDEX_DDL = `
CREATE INDEX IF NOT EXISTS points_by_token ON points (token, id, points, bytes) WHERE in_index = 1;
CREATE INDEX IF NOT EXISTS points_unindexed ON points (id) WHERE in_index = 0;
CREATE TRIGGER IF NOT EXISTS points_count_insert AFTER INSERT ON points BEGIN
  INSERT INTO queues (tkey, points, bytes) VALUES (NEW.token, NEW.points, NEW.bytes)
    ON CONFLICT (tkey) DO UPDATE SET points = points + excluded.points, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS points_count_delete AFTER DELETE ON points BEGIN
  UPDATE queues SET points = points - OLD.points, bytes = bytes - OLD.bytes WHERE tkey = OLD.token;
END;
`;

export interface OpenDatabaseOptions {
  path: string;
  sync: 'full' | 'normal';
  cipher: Cipher | undefined;
  /** How long a write waits for another connection's lock (the queue CLI beside a running gateway). */
  busyTimeoutMs?: number;
}

export function openDatabase(opts: OpenDatabaseOptions): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(opts.path);
  } catch (err) {
    throw new StoreOpenError(`store: cannot open ${opts.path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5_000}`);
    // WAL: readers (the queue CLI) never block the writer, and a commit is one append + one fsync.
    db.pragma('journal_mode = WAL');
    // FULL: the WAL is synced at every commit, so a committed point survives power loss.
    // NORMAL: synced only at checkpoints; survives a process crash, may lose the last commits on power loss.
    db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(DDL);
    checkMeta(db, opts);
    // After the migration: a version 2 file has no `in_index` column until then (nor `points`, which the
    // triggers read).
    db.exec(INDEX_DDL);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(`store: cannot open ${opts.path}: ${(err as Error).message}`, { cause: err });
  }
}

function checkMeta(db: Database.Database, opts: OpenDatabaseOptions): void {
  const rows = db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>;
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  const { cipher, path } = opts;
  if (!meta.has('schema_version')) {
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    db.transaction(() => {
      put.run('schema_version', String(SCHEMA_VERSION));
      put.run('encrypted', cipher ? '1' : '0');
      if (cipher) put.run('key_check', cipher.checkValue);
    })();
    return;
  }
  const version = Number(meta.get('schema_version'));
  if (version > SCHEMA_VERSION) {
    throw new StoreOpenError(
      `store: ${path} has schema version ${version}, newer than this tago-edge understands (${SCHEMA_VERSION})`,
    );
  }
  const encrypted = meta.get('encrypted') === '1';
  if (encrypted && !cipher) {
    throw new StoreOpenError(`store: ${path} is encrypted; give its key with store.encryptionKeyFile or ${KEY_ENV}`);
  }
  if (!encrypted && cipher) {
    throw new StoreOpenError(
      `store: ${path} was created without encryption and cannot be opened with a key; remove the key, or drain the store and move the file away to start an encrypted one`,
    );
  }
  if (cipher) {
    const stored = Buffer.from(meta.get('key_check') ?? '', 'utf8');
    const expected = Buffer.from(cipher.checkValue, 'utf8');
    if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
      throw new StoreOpenError('store: encryption key does not match the one this store was created with');
    }
  }
  if (version < SCHEMA_VERSION) migrate(db, version);
}

/** Brings an older file up to SCHEMA_VERSION in one transaction (a crash leaves it at the old version). */
function migrate(db: Database.Database, from: number): void {
  db.transaction(() => {
    const columns = db.prepare('PRAGMA table_info(points)').all() as Array<{ name: string }>;
    if (from < 2 && !columns.some((c) => c.name === 'points')) {
      db.exec('ALTER TABLE points ADD COLUMN points INTEGER NOT NULL DEFAULT 1');
    }
    if (from < 3 && !columns.some((c) => c.name === 'in_index')) {
      db.exec('ALTER TABLE points ADD COLUMN in_index INTEGER NOT NULL DEFAULT 1');
      db.exec('DROP INDEX IF EXISTS points_token_id');
    }
    // Version 3's index on (token, id): rebuilt covering `points` and `bytes` by INDEX_DDL after this.
    if (from < 4) db.exec('DROP INDEX IF EXISTS points_by_token');
    // Before the triggers exist (INDEX_DDL, after this): every row counted once.
    if (from < 5) {
      db.exec('DELETE FROM queues');
      db.exec(
        'INSERT INTO queues (tkey, points, bytes) SELECT token, SUM(points), SUM(bytes) FROM points GROUP BY token',
      );
    }
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
  })();
}

/**
 * Whether the file was closed with every row in the per-device index (then opening need not scan for rows
 * outside it). A store that will write clears the flag as it opens, before any row can skip the index; its
 * clean close sets it again (SqliteStore.close).
 */
export function takeAllIndexed(db: Database.Database, readOnly: boolean): boolean {
  const flag = db.prepare("SELECT value FROM meta WHERE key = 'all_indexed'").pluck().get() === '1';
  if (flag && !readOnly) db.prepare("UPDATE meta SET value = '0' WHERE key = 'all_indexed'").run();
  return flag;
}
