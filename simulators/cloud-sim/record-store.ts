import type { StoredRecord } from './records.js';

/**
 * What GET /data can read back: the most recent `keep` records per token, in arrival order. Older records
 * are forgotten so a million-point load test stays in bounded memory; the exact counters live in
 * `stats.ts` and `sequences.ts`, not here.
 */
export class RecordStore {
  readonly #keep: number;
  readonly #byToken = new Map<string, StoredRecord[]>();

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** How many records per token are kept. */
  get keep(): number {
    return Math.max(0, this.#keep);
  }

  add(token: string, records: StoredRecord[]): void {
    if (this.#keep <= 0) return;
    let list = this.#byToken.get(token);
    if (!list) {
      list = [];
      this.#byToken.set(token, list);
    }
    for (const r of records) list.push(r);
    // Trim in batches of an eighth of the cap, so dropping old records costs O(8) copies per record added
    // while a token never holds more than 1.125× the cap (500 tokens × 10k records must fit in a test box).
    if (list.length >= this.#keep + Math.max(64, Math.ceil(this.#keep / 8))) {
      this.#byToken.set(token, list.slice(list.length - this.#keep));
    }
  }

  /** The kept records of a token, oldest first. Callers must not mutate the result. */
  list(token: string): readonly StoredRecord[] {
    const list = this.#byToken.get(token) ?? [];
    return list.length > this.#keep ? list.slice(list.length - this.#keep) : list;
  }

  /** Forgets these records of a token (DELETE /data); returns how many were kept. */
  remove(token: string, ids: ReadonlySet<string>): number {
    const list = this.#byToken.get(token);
    if (!list || ids.size === 0) return 0;
    const kept = list.filter((r) => !ids.has(r.id));
    this.#byToken.set(token, kept);
    return list.length - kept.length;
  }

  clear(): void {
    this.#byToken.clear();
  }
}
