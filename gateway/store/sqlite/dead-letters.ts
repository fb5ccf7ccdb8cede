/**
 * The SQLite store's dead letters: points TagoIO rejected (moved out of `points` in the same transaction),
 * tampered rows (quarantined by `peek` so they never block a queue), publishes that never became points,
 * and replay back into the queue.
 *
 * Each of these is one steps job on the commit thread (the file's only writer): the rows are read here,
 * the job deletes and inserts them in one transaction, and the ledger moves once it has committed.
 *
 * Invariants: a point is never in both `points` and `dead_letters`, nor in neither (a job whose row is
 * gone meanwhile rolls back whole); every move publishes `events.deadLetter` once; `count` follows the table.
 */

import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { events } from '../../events.js';
import { parseQueueKey } from '../queue-key.js';
import type { DeadLetter, DeadLetterInput } from '../store.js';
import type { Codec, Stored } from './codec.js';
import type { Step, StepResult } from './commit-protocol.js';
import { type Inserted, noteRemoved, type Removed } from './queue-ledger.js';
import { packRows } from './row-packing.js';
import type { Statements } from './statements.js';

/** What the dead letters need of the store they belong to. */
export interface DeadLetterHost {
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
  /** Runs the steps in one transaction on the commit thread. */
  write(steps: Step[]): Promise<StepResult[]>;
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
  async move(ids: number[], reason: string, message: string): Promise<void> {
    if (ids.length === 0) return;
    const { st, codec } = this.h;
    const sorted = [...ids].sort((a, b) => a - b);
    const removed = new Map<string, Removed>();
    const perToken = new Map<string, { parts: string[]; points: number }>();
    const steps: Step[] = [];
    for (const id of sorted) {
      const row = st.rowById.get(id) as { token: string; payload: Stored; bytes: number; points: number } | undefined;
      if (!row) continue;
      steps.push({ sql: 'deleteRowMeta', args: [id], expect: 1 });
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
    if (steps.length === 0) return;
    for (const [tkey, acc] of perToken) {
      const token = this.h.tokenOf.get(tkey) ?? '';
      const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[${acc.parts.join(',')}]}`;
      steps.push(this.insert(this.h.deviceIdOf(token), reason, acc.points, body, null));
    }
    await this.h.write(steps);
    this.h.removed(removed, new Set(sorted));
    for (const [tkey, acc] of perToken) {
      this.count++;
      const deviceId = this.h.deviceIdOf(this.h.tokenOf.get(tkey) ?? '');
      events.deadLetter.publish({ deviceId, reason, points: acc.points });
    }
    this.h.spaceFreed();
  }

  /** Moves unreadable rows (GCM auth failure, invalid JSON) to dead letters, keeping their stored bytes. */
  async quarantine(token: string, bad: Array<{ id: number; payload: Stored; why: string }>): Promise<void> {
    const removed = new Map<string, Removed>();
    const deviceId = this.h.deviceIdOf(token);
    const moved: Array<{ id: number; points: number; why: string }> = [];
    const steps: Step[] = [];
    for (const b of bad) {
      const row = this.h.st.rowById.get(b.id) as { token: string; bytes: number; points: number } | undefined;
      if (!row) continue;
      noteRemoved(removed, row.token, row.points, row.bytes, b.id);
      const message = `stored row ${b.id} (${row.points} points) could not be read back (${b.why}); its stored bytes are kept in dead_letters.raw`;
      const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[]}`;
      const raw = typeof b.payload === 'string' ? Buffer.from(b.payload) : b.payload;
      steps.push({ sql: 'deleteRowMeta', args: [b.id], expect: 1 });
      steps.push(this.insert(deviceId, 'tampered', row.points, body, raw));
      moved.push({ id: b.id, points: row.points, why: b.why });
    }
    if (steps.length === 0) return;
    await this.h.write(steps);
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

  async add(input: DeadLetterInput): Promise<void> {
    const { token, deviceId, reason, message, records, topic } = input;
    const body = JSON.stringify({ token, message, records, ...(topic !== undefined ? { topic } : {}) });
    await this.h.write([this.insert(deviceId, reason, records.length, body, null)]);
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
        ...(typeof d?.token === 'string' && parseQueueKey(d.token).route !== null
          ? { route: parseQueueKey(d.token).route as string }
          : {}),
        createdAt: new Date(r.created_at).toISOString(),
      };
    });
  }

  /**
   * Appends the dead letters' records as new points (new ids, at the back of each device's queue) and
   * deletes the dead letters, in one transaction. Tampered ones (nothing readable) are kept. An operator
   * action: it is not bounded by `store.maxBytes`.
   */
  async replay(ids?: number[]): Promise<number> {
    const { st, codec } = this.h;
    type Row = { id: number; reason: string; body: Stored };
    const rows: Row[] = ids
      ? ([...ids].sort((a, b) => a - b).map((id) => st.deadById.get(id)) as Array<Row | undefined>).filter(
          (r): r is Row => r !== undefined,
        )
      : (st.allDead.all() as Row[]);
    const now = this.h.clock.now();
    const steps: Step[] = [];
    // Per replayed letter with records: what it inserts, and the step of its first row.
    const planned: Array<{ ins: Omit<Inserted, 'firstId'>; step: number }> = [];
    const newTokens = new Map<string, string>();
    let points = 0;
    let replayed = 0;
    for (const r of rows) {
      const d = r.reason === 'tampered' ? null : this.read(r.body);
      if (!d || typeof d.token !== 'string' || !Array.isArray(d.records)) continue;
      const tkey = codec.tokenKey(d.token);
      if (!this.h.tokenOf.has(tkey) && !newTokens.has(tkey)) {
        steps.push({ sql: 'insertToken', args: [tkey, codec.sealToken(d.token, tkey)] });
        newTokens.set(tkey, d.token);
      }
      if (d.records.length > 0) {
        const { rows: packed, bytes } = packRows(d.records, this.h.rowMaxBytes);
        planned.push({ ins: { token: d.token, tkey, n: d.records.length, bytes }, step: steps.length });
        for (const p of packed) {
          steps.push({ sql: 'insertRow', args: [tkey, codec.sealPayload(p.text, tkey), p.bytes, p.points, now, 1] });
        }
      }
      steps.push({ sql: 'deleteDead', args: [r.id], expect: 1 });
      replayed++;
      points += d.records.length;
    }
    if (steps.length === 0) return 0;
    const results = await this.h.write(steps);
    for (const [tkey, token] of newTokens) this.h.tokenOf.set(tkey, token);
    for (const p of planned) this.h.inserted({ ...p.ins, firstId: results[p.step]!.id }, now);
    this.count -= replayed;
    if (points > 0) this.h.appended();
    return points;
  }

  private insert(deviceId: string, reason: string, points: number, body: string, raw: Buffer | null): Step {
    return {
      sql: 'insertDead',
      args: [deviceId, reason, points, this.h.codec.sealDeadLetter(body), raw, this.h.clock.now()],
    };
  }

  private read(stored: Stored): DeadBody | null {
    try {
      return JSON.parse(this.h.codec.openDeadLetter(stored)) as DeadBody;
    } catch {
      return null;
    }
  }
}
