/**
 * Builds the store the config asks for: `memory` (not durable, tests and baselines) or `sqlite`
 * (`<store.dir>/tago-edge.db`, the directory created if missing, encrypted when a key is configured).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { StoreOpenError } from '../errors.js';
import { createLogger } from '../log.js';
import { Cipher, loadKey } from './encryption.js';
import { JetStreamStore } from './jetstream/jetstream-store.js';
import { MemoryStore } from './memory-store.js';
import { DEFAULT_ROW_MAX_BYTES, SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export const STORE_FILE = 'tago-edge.db';

export interface OpenStoreOptions {
  deviceIdOf(token: string): string;
  log?: Logger;
  /** Where TAGO_EDGE_STORE_KEY is read from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Lock wait for a second connection (the queue CLI); defaults to 5 s. */
  busyTimeoutMs?: number;
  /**
   * The forwarder's largest request body (`upstream.batchMaxBytes`): stored rows are kept no larger, so a
   * batch of whole rows fits a request.
   */
  batchMaxBytes?: number;
  /** The cluster store: use its streams and buckets as they are (a command that reads or replays). */
  attachOnly?: boolean;
}

export function storePath(config: Pick<Config['store'], 'dir'>): string {
  return join(config.dir, STORE_FILE);
}

/**
 * The cluster's store (`store.engine: jetstream`): connects, creates the streams and buckets if missing,
 * loads the refused tokens. It forwards nothing until `startForwarding()` (the gateway calls it once its
 * forwarders listen); the queue CLI opens it to read the stream's state only.
 */
export async function openJetStreamStore(config: Config['store'], opts: OpenStoreOptions): Promise<JetStreamStore> {
  if (config.whenFull !== 'block') {
    throw new StoreOpenError(
      'store.whenFull: drop_oldest is not available with store.engine jetstream (a full stream refuses new points: 503, PUBACK withheld)',
    );
  }
  if (config.encryptionKeyFile !== undefined) {
    throw new StoreOpenError(
      "store.encryptionKeyFile: not used with store.engine jetstream; encrypt at rest with nats-server's jetstream.cipher (docs/cluster.md)",
    );
  }
  return JetStreamStore.open({
    config: config.jetstream,
    maxBytes: config.maxBytes,
    retryAfterSeconds: config.retryAfterSeconds,
    deviceIdOf: opts.deviceIdOf,
    log: opts.log ?? createLogger('silent'),
    rowMaxBytes: Math.max(1, Math.min(DEFAULT_ROW_MAX_BYTES, (opts.batchMaxBytes ?? Number.POSITIVE_INFINITY) - 2)),
    ...(opts.attachOnly ? { attachOnly: true } : {}),
  });
}

export function openStore(config: LocalStoreConfig, opts: OpenStoreOptions): Store {
  if (config.engine === 'jetstream')
    throw new StoreOpenError('store.engine jetstream: open it with openJetStreamStore');
  if (config.engine === 'memory') {
    return new MemoryStore({
      maxBytes: config.maxBytes,
      retryAfterSeconds: config.retryAfterSeconds,
      deviceIdOf: opts.deviceIdOf,
    });
  }
  return openSqliteStore(config, opts);
}

/** The SQLite store whatever `store.engine` says (the queue CLI inspects the file directly). */
/** Creates `store.dir` if missing; returns it. */
export function ensureStoreDir(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StoreOpenError(`store.dir: cannot create ${dir} (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    });
  }
  return dir;
}

/** The settings the SQLite store reads (the queue CLI builds them without the cluster's). */
export type LocalStoreConfig = Omit<Config['store'], 'jetstream'>;

export function openSqliteStore(
  config: LocalStoreConfig,
  opts: OpenStoreOptions & { readOnly?: boolean },
): SqliteStore {
  ensureStoreDir(config.dir);
  const key = loadKey(config.encryptionKeyFile, opts.env ?? process.env);
  return new SqliteStore({
    path: storePath(config),
    sync: config.sync,
    groupCommitMs: config.groupCommitMs,
    maxBytes: config.maxBytes,
    whenFull: config.whenFull,
    retryAfterSeconds: config.retryAfterSeconds,
    cipher: key ? new Cipher(key) : undefined,
    deviceIdOf: opts.deviceIdOf,
    log: opts.log,
    ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    ...(opts.readOnly ? { readOnly: true } : {}),
    // Leave room for the array's brackets within a request body.
    rowMaxBytes: Math.max(1, Math.min(DEFAULT_ROW_MAX_BYTES, (opts.batchMaxBytes ?? Number.POSITIVE_INFINITY) - 2)),
    ...(opts.attachOnly ? { attachOnly: true } : {}),
  });
}
