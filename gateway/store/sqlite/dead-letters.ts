/**
 * The SQLite store's dead letters: points TagoIO rejected (moved out of `points` in the same transaction),
 * tampered rows (quarantined by `peek` so they never block a queue), publishes that never became points,
 * and replay back into the queue.
 *
 * Invariants: a point is never in both `points` and `dead_letters`, nor in neither; every move publishes
 * `events.deadLetter` once; `count` follows the table.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { events } from '../../events.js';
import type { DeadLetter, DeadLetterInput } from '../store.js';
import type { Codec, Stored } from './codec.js';
import { type Inserted, noteRemoved, type Removed } from './queue-ledger.js';
import { packRows } from './row-packing.js';
import type { Statements } from './statements.js';

/** What the dead letters need of the store they belong to. */
export interface DeadLetterHost {
  readonly db: Database.Database;
  readonly st: Statements;
  readonly codec: Codec;
  readonly clock: Clock;
  readonly log: Logger | undefined;
  readonly rowMaxBytes: number;
  readonly tokenOf: Map<string, string>;
  deviceIdOf(token: string): string;
  /** Applies committed removals to the ledger and row cache. */
  removed(removed: Map<string, Removed>, ids?: ReadonlySet<number>): void;
  /** Applies a committed insert (its rows are in the per-device index). */
  inserted(ins: Inserted, at: number): void;
  /** Counts a main-connection write (cross-process change detection). */
  bumpWrites(): void;
  spaceFreed(): void;
  appended(): void;
}

interface DeadBody {
  token: string;
  message: string;
  records: unknown[];
  topic?: string;
}

export class SqliteDeadLetters {
  count = 0;

  constructor(private readonly h: DeadLetterHost) {}

  load(): void {
    this.count = this.h.st.deadCount.get() as number;
  }

  /** Moves rows to dead letters, one dead letter per device. */
  move(ids: number[], reason: string, message: string): void {
    if (ids.length === 0) return;
    const { st, codec } = this.h;
    const sorted = [...ids].sort((a, b) => a - b);
    const removed = new Map<string, Removed>();
    const perToken = new Map<string, { parts: string[]; points: number }>();
    this.h.db.transaction(() => {
      for (const id of sorted) {
        const row = st.deleteRow.get(id) as
          | { token: string; payload: Stored; bytes: number; points: number }
          | undefined;
        if (!row) continue;
        noteRemoved(removed, row.token, row.points, row.bytes, id);
        let acc = perToken.get(row.token);
        if (!acc) {
          acc = { parts: [], points: 0 };
          perToken.set(row.token, acc);
        }
        // peek already vetted these rows; an unreadable one is kept as a JSON string rather than lost.
        try {
          acc.parts.push(codec.openPayload(row.payload, row.token));
          acc.points += row.points;
        } catch {
          acc.parts.push(JSON.stringify({ unreadable: true, id, points: row.points }));
          acc.points += 1;
        }
      }
      for (const [tkey, acc] of perToken) {
        const token = this.h.tokenOf.get(tkey) ?? '';
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[${acc.parts.join(',')}]}`;
        this.insert(this.h.deviceIdOf(token), reason, acc.points, body, null);
      }
      this.h.bumpWrites();
    })();
    this.h.removed(removed, new Set(sorted));
    for (const [tkey, acc] of perToken) {
      this.count++;
      const deviceId = this.h.deviceIdOf(this.h.tokenOf.get(tkey) ?? '');
      events.deadLetter.publish({ deviceId, reason, points: acc.points });
    }
    if (removed.size > 0) this.h.spaceFreed();
  }

  /** Moves unreadable rows (GCM auth failure, invalid JSON) to dead letters, keeping their stored bytes. */
  quarantine(token: string, bad: Array<{ id: number; payload: Stored; why: string }>): void {
    const removed = new Map<string, Removed>();
    const deviceId = this.h.deviceIdOf(token);
    const moved: Array<{ id: number; points: number; why: string }> = [];
    this.h.db.transaction(() => {
      for (const b of bad) {
        const row = this.h.st.deleteRowMeta.get(b.id) as { token: string; bytes: number; points: number } | undefined;
        if (!row) continue;
        noteRemoved(removed, row.token, row.points, row.bytes, b.id);
        const message = `stored row ${b.id} (${row.points} points) could not be read back (${b.why}); its stored bytes are kept in dead_letters.raw`;
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[]}`;
        const raw = typeof b.payload === 'string' ? Buffer.from(b.payload) : b.payload;
        this.insert(deviceId, 'tampered', row.points, body, raw);
        moved.push({ id: b.id, points: row.points, why: b.why });
      }
      this.h.bumpWrites();
    })();
    this.h.removed(removed);
    for (const m of moved) {
      this.count++;
      this.h.log?.error(
        { deviceId, row: m.id, points: m.points, reason: m.why },
        'store: tampered row moved to dead letters',
      );
      events.deadLetter.publish({ deviceId, reason: 'tampered', points: m.points });
    }
    this.h.spaceFreed();
  }

  add(input: DeadLetterInput): void {
    const { token, deviceId, reason, message, records, topic } = input;
    const body = JSON.stringify({ token, message, records, ...(topic !== undefined ? { topic } : {}) });
    this.h.db.transaction(() => {
      this.insert(deviceId, reason, records.length, body, null);
      this.h.bumpWrites();
    })();
    this.count++;
    events.deadLetter.publish({ deviceId, reason, points: records.length });
  }

  list(limit = 100): DeadLetter[] {
    const rows = this.h.st.listDead.all(limit) as Array<{
      id: number;
      device_id: string;
      reason: string;
      body: Stored;
      created_at: number;
    }>;
    return rows.map((r) => {
      const d = this.read(r.body);
      return {
        id: r.id,
        deviceId: r.device_id,
        reason: r.reason,
        message: d?.message ?? '(dead letter unreadable: it failed authentication)',
        records: d?.records ?? [],
        ...(d?.topic !== undefined ? { topic: d.topic } : {}),
        createdAt: new Date(r.created_at).toISOString(),
      };
    });
  }

  /**
   * Appends the dead letters' records as new points (new ids, at the back of each device's queue) and
   * deletes the dead letters, in one transaction. Tampered ones (nothing readable) are kept. An operator
   * action: it is not bounded by `store.maxBytes`.
   */
  replay(ids?: number[]): number {
    const { st, codec } = this.h;
    type Row = { id: number; reason: string; body: Stored };
    const rows: Row[] = ids
      ? ([...ids].sort((a, b) => a - b).map((id) => st.deadById.get(id)) as Array<Row | undefined>).filter(
          (r): r is Row => r !== undefined,
        )
      : (st.allDead.all() as Row[]);
    const now = this.h.clock.now();
    const inserted: Inserted[] = [];
    const newTokens: Array<[string, string]> = [];
    let points = 0;
    let replayed = 0;
    this.h.db.transaction(() => {
      for (const r of rows) {
        const d = r.reason === 'tampered' ? null : this.read(r.body);
        if (!d || typeof d.token !== 'string' || !Array.isArray(d.records)) continue;
        const tkey = codec.tokenKey(d.token);
        if (!this.h.tokenOf.has(tkey) && !newTokens.some(([k]) => k === tkey)) {
          st.insertToken.run(tkey, codec.sealToken(d.token, tkey));
          newTokens.push([tkey, d.token]);
        }
        const { rows: packed, bytes } = packRows(d.records, this.h.rowMaxBytes);
        let firstId = 0;
        for (const p of packed) {
          if (d.records.length === 0) break;
          const id = Number(
            st.insertRow.run(tkey, codec.sealPayload(p.text, tkey), p.bytes, p.points, now, 1).lastInsertRowid,
          );
          if (firstId === 0) firstId = id;
        }
        st.deleteDead.run(r.id);
        replayed++;
        points += d.records.length;
        if (d.records.length > 0) inserted.push({ token: d.token, tkey, firstId, n: d.records.length, bytes });
      }
      this.h.bumpWrites();
    })();
    for (const [tkey, token] of newTokens) this.h.tokenOf.set(tkey, token);
    for (const ins of inserted) this.h.inserted(ins, now);
    this.count -= replayed;
    if (points > 0) this.h.appended();
    return points;
  }

  private insert(deviceId: string, reason: string, points: number, body: string, raw: Buffer | null): void {
    this.h.st.insertDead.run(deviceId, reason, points, this.h.codec.sealDeadLetter(body), raw, this.h.clock.now());
  }

  private read(stored: Stored): DeadBody | null {
    try {
      return JSON.parse(this.h.codec.openDeadLetter(stored)) as DeadBody;
    } catch {
      return null;
    }
  }
}
