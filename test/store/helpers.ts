/** Shared set-up for the store tests: a temporary data dir per test and a SqliteStore factory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { DataRecord } from '../../gateway/model.js';
import type { Cipher } from '../../gateway/store/encryption.js';
import { SqliteStore, type SqliteStoreOptions } from '../../gateway/store/sqlite/sqlite-store.js';

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-store-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const deviceIdOf = (token: string): string => `dev-${token.slice(0, 6)}`;

export function openAt(
  path: string,
  opts: Partial<Omit<SqliteStoreOptions, 'path'>> & { cipher?: Cipher | undefined } = {},
): SqliteStore {
  const store = new SqliteStore({
    path,
    sync: 'normal',
    groupCommitMs: 0,
    maxBytes: 1_000_000_000,
    whenFull: 'block',
    retryAfterSeconds: 7,
    deviceIdOf,
    ...opts,
  });
  onTestFinished(() => store.close());
  return store;
}

export function rec(variable: string, value: string | number | boolean, i = 0): DataRecord {
  return { variable, value, time: new Date(1_700_000_000_000 + i * 1000).toISOString() };
}
