/**
 * Puts rows into the per-device index (`in_index = 1`, schema.ts) through the commit thread, the file's only
 * writer, without the WAL fsync: if such a transaction is lost on power failure, opening the file finds
 * those rows outside the index again and puts them in.
 *
 * Until the commit thread has indexed them, the rows' ids are kept here per device, and reading a device's
 * queue from the file (row-reader.ts) merges them with what the index holds, so no row is ever invisible to
 * `peek` in between.
 */
import type { Logger } from 'pino';
import type { Step } from './commit-protocol.js';
import type { Indexer } from './row-cache.js';
import type { Statements } from './statements.js';

export class RowIndex implements Indexer {
  /** Token key → ids (ascending) of rows outside the index that this store is putting there. */
  private readonly pending = new Map<string, number[]>();

  constructor(
    private readonly st: Statements,
    private readonly write: (steps: Step[]) => Promise<unknown>,
    private readonly log: Logger | undefined,
  ) {}

  /** The id of a device's oldest row: in the index, or among its rows still on their way there (0: none). */
  firstOf(tkey: string): number {
    const indexed = this.st.firstOfToken.get(tkey) as number | undefined;
    for (const id of this.pending.get(tkey) ?? []) {
      if (indexed !== undefined && id >= indexed) break;
      if (this.st.rowById.get(id) !== undefined) return id;
    }
    return indexed ?? 0;
  }

  /** Ids of the device's rows that are not in the index yet, ascending; undefined when none. */
  unindexed(tkey: string): readonly number[] | undefined {
    return this.pending.get(tkey);
  }

  /** `write: false`: only remember them (a store opened read-only reads them by id, never indexes). */
  rows(tkey: string, ids: readonly number[], write = true): void {
    if (ids.length === 0) return;
    const list = this.pending.get(tkey);
    if (!list) this.pending.set(tkey, [...ids]);
    else {
      for (const id of ids) list.push(id);
      list.sort((a, b) => a - b);
    }
    if (!write) return;
    const steps: Step[] = ids.map((id) => ({ sql: 'indexRow', args: [id] }));
    this.write(steps).then(
      () => this.indexed(tkey, ids),
      // The ids stay here, so this process still reads them; the next open indexes them.
      (err) => this.log?.error({ err }, 'store: putting rows into the per-device index failed'),
    );
  }

  /** Every row of the device outside the index: its cached queue no longer agrees with the file. */
  device(tkey: string): void {
    const known = new Set(this.pending.get(tkey));
    const ids = (this.st.unindexedOfToken.all(tkey) as number[]).filter((id) => !known.has(id));
    this.rows(tkey, ids);
  }

  /** Every id still on its way into the index. */
  allUnindexed(): number[] {
    return [...this.pending.values()].flat();
  }

  /** Forgets what is pending (before a reload, which finds every unindexed row in the file again). */
  clear(): void {
    this.pending.clear();
  }

  private indexed(tkey: string, ids: readonly number[]): void {
    const list = this.pending.get(tkey);
    if (!list) return;
    const done = new Set(ids);
    const left = list.filter((id) => !done.has(id));
    if (left.length === 0) this.pending.delete(tkey);
    else this.pending.set(tkey, left);
  }
}
