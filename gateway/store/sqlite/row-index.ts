/**
 * Puts rows into the per-device index (`in_index = 1`, schema.ts) on the main connection, without the WAL
 * fsync: if such a transaction is lost on power failure, opening the file indexes every row anyway. Ingest
 * commits keep `store.sync`.
 */
import type Database from 'better-sqlite3';
import type { Indexer } from './row-cache.js';
import type { Statements } from './statements.js';

export class RowIndex implements Indexer {
  constructor(
    private readonly db: Database.Database,
    private readonly st: Statements,
    private readonly sync: 'full' | 'normal',
  ) {}

  rows(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.withoutSync(() => {
      for (const id of ids) this.st.indexRow.run(id);
    });
  }

  device(tkey: string): void {
    this.withoutSync(() => {
      this.st.indexToken.run(tkey);
    });
  }

  /** Every row (a full scan): at open and reload, when no queue is cached. */
  all(): void {
    this.withoutSync(() => {
      this.st.indexAll.run();
    });
  }

  private withoutSync(fn: () => void): void {
    if (this.sync !== 'full') {
      this.db.transaction(fn)();
      return;
    }
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }
}
