/**
 * In-memory store: NOT durable. For tests and benchmarks (`store.engine: memory`) as the baseline the
 * durable store is measured against. Keeps the Store invariants except surviving a restart, and passes the
 * same model test as the SQLite store (test/store/model.test.ts).
 */
import { type Clock, systemClock } from '../clock.js';
import { StoreFullError } from '../errors.js';
import { events } from '../events.js';
import type { DataRecord } from '../model.js';
import { parseQueueKey } from './queue-key.js';
import type { DeadLetter, DeadLetterInput, KeyFilter, PendingBatch, QueueShare, Store, StoreStats } from './store.js';

interface Row {
  id: number;
  token: string;
  json: string;
  bytes: number;
  at: number;
}

export class MemoryStore implements Store {
  private nextId = 1;
  private nextDeadId = 1;
  private readonly queues = new Map<string, Row[]>();
  private readonly byId = new Map<number, Row>();
  private readonly dead: Array<DeadLetter & { token: string }> = [];
  private readonly refused = new Set<string>();
  private bytes = 0;
  private readonly appendListeners: Array<() => void> = [];
  private readonly spaceListeners: Array<() => void> = [];

  constructor(
    private readonly opts: {
      maxBytes: number;
      retryAfterSeconds?: number;
      deviceIdOf?: (t: string) => string;
      /** Stamps and ages (epoch ms); the system clock by default. */
      clock?: Clock;
    },
  ) {}

  async append(token: string, records: DataRecord[]): Promise<void> {
    const rows = records.map((r) => JSON.stringify(r));
    const size = rows.reduce((n, j) => n + Buffer.byteLength(j) + 1, 0);
    if (!this.hasRoom(size)) {
      throw new StoreFullError(`store full (${this.bytes} of ${this.opts.maxBytes} bytes)`, {
        retryAfterSeconds: this.opts.retryAfterSeconds ?? 5,
      });
    }
    this.insert(token, rows);
    for (const l of this.appendListeners) l();
  }

  private insert(token: string, jsons: string[]): void {
    let q = this.queues.get(token);
    if (!q) {
      q = [];
      this.queues.set(token, q);
    }
    const now = this.now();
    for (const json of jsons) {
      const row = { id: this.nextId++, token, json, bytes: Buffer.byteLength(json) + 1, at: now };
      q.push(row);
      this.byId.set(row.id, row);
      this.bytes += row.bytes;
    }
  }

  hasRoom(bytes: number): boolean {
    return this.bytes + bytes <= this.opts.maxBytes;
  }

  pendingTokens(limit: number, exclude?: ReadonlySet<string>, owns?: KeyFilter): string[] {
    const out: Array<{ token: string; at: number }> = []; // `at`: the head id (append order)
    for (const [token, q] of this.queues) {
      if (q.length === 0 || exclude?.has(token) || (owns !== undefined && !owns(token))) continue;
      out.push({ token, at: (q[0] as Row).id });
    }
    out.sort((a, b) => a.at - b.at);
    return out.slice(0, limit).map((o) => o.token);
  }

  private now(): number {
    return (this.opts.clock ?? systemClock).now();
  }

  appendedAt(id: number): number | undefined {
    return this.byId.get(id)?.at;
  }

  queueShare(owns: KeyFilter): QueueShare {
    const share = { depthPoints: 0, depthBytes: 0, oldestAgeMs: 0 };
    let oldest = Number.POSITIVE_INFINITY;
    for (const [token, q] of this.queues) {
      if (q.length === 0 || !owns(token)) continue;
      share.depthPoints += q.length;
      for (const r of q) share.depthBytes += r.bytes;
      oldest = Math.min(oldest, (q[0] as Row).at);
    }
    if (Number.isFinite(oldest)) share.oldestAgeMs = Math.max(0, this.now() - oldest);
    return share;
  }

  pendingBytes(token: string): number {
    let n = 0;
    for (const r of this.queues.get(token) ?? []) n += r.bytes;
    return n;
  }

  peek(token: string, maxBytes: number): PendingBatch | null {
    const q = this.queues.get(token);
    if (!q || q.length === 0) return null;
    const ids: number[] = [];
    const parts: string[] = [];
    let bytes = 2;
    for (const row of q) {
      if (ids.length > 0 && bytes + row.bytes > maxBytes) break;
      ids.push(row.id);
      parts.push(row.json);
      bytes += row.bytes;
    }
    const body = `[${parts.join(',')}]`;
    return {
      token,
      ids,
      points: ids.length,
      records: parts.map((p) => JSON.parse(p) as DataRecord),
      bytes: Buffer.byteLength(body),
      body,
      get entries() {
        return ids.map((id, i) => ({ id, records: [JSON.parse(parts[i] as string) as DataRecord] }));
      },
    };
  }

  private remove(ids: number[]): Row[] {
    const removed: Row[] = [];
    const set = new Set(ids);
    for (const id of ids) {
      const row = this.byId.get(id);
      if (!row) continue;
      this.byId.delete(id);
      removed.push(row);
    }
    const tokens = new Set(removed.map((r) => r.token));
    for (const t of tokens) {
      const q = this.queues.get(t);
      if (!q) continue;
      const kept = q.filter((r) => !set.has(r.id));
      if (kept.length === 0) this.queues.delete(t);
      else this.queues.set(t, kept);
    }
    for (const r of removed) this.bytes -= r.bytes;
    if (removed.length > 0) for (const l of this.spaceListeners) l();
    return removed;
  }

  async acknowledge(ids: number[]): Promise<void> {
    this.remove(ids);
  }

  async deadLetter(ids: number[], reason: string, message: string): Promise<void> {
    const rows = this.remove(ids);
    if (rows.length === 0) return;
    const token = (rows[0] as Row).token;
    this.dead.push({
      id: this.nextDeadId++,
      token,
      deviceId: this.opts.deviceIdOf?.(token) ?? '',
      reason,
      message,
      records: rows.map((r) => JSON.parse(r.json)),
      ...(parseQueueKey(token).route !== null ? { route: parseQueueKey(token).route as string } : {}),
      createdAt: new Date().toISOString(),
    });
    events.deadLetter.publish({ deviceId: this.opts.deviceIdOf?.(token) ?? '', reason, points: rows.length });
  }

  async addDeadLetter(input: DeadLetterInput): Promise<void> {
    const { token, deviceId, reason, message, records, topic } = input;
    this.dead.push({
      id: this.nextDeadId++,
      token,
      deviceId,
      reason,
      message,
      records,
      ...(topic !== undefined ? { topic } : {}),
      createdAt: new Date().toISOString(),
    });
    events.deadLetter.publish({ deviceId, reason, points: records.length });
  }

  listDeadLetters(limit = 100): DeadLetter[] {
    return this.dead.slice(0, limit).map(({ token: _t, ...d }) => d);
  }

  /** In dead-letter order (oldest first), like the SQLite store; not bounded by `maxBytes` (an operator action). */
  async replayDeadLetters(ids?: number[]): Promise<number> {
    const chosen = this.dead.filter((d) => !ids || ids.includes(d.id));
    let n = 0;
    for (const d of chosen) {
      this.dead.splice(this.dead.indexOf(d), 1);
      if (d.records.length === 0) continue;
      this.insert(
        d.token,
        d.records.map((r) => JSON.stringify(r)),
      );
      n += d.records.length;
    }
    if (n > 0) for (const l of this.appendListeners) l();
    return n;
  }

  async refuseToken(token: string): Promise<void> {
    this.refused.add(token);
  }

  isRefused(token: string): boolean {
    return this.refused.has(token);
  }

  refusedTokens(): string[] {
    return [...this.refused];
  }

  stats(): StoreStats {
    let depth = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const q of this.queues.values()) {
      depth += q.length;
      if (q[0] && q[0].at < oldest) oldest = q[0].at;
    }
    return {
      depthPoints: depth,
      depthBytes: this.bytes,
      oldestAgeMs: depth === 0 ? 0 : this.now() - oldest,
      deadLetters: this.dead.length,
      maxBytes: this.opts.maxBytes,
    };
  }

  onAppend(listener: () => void): void {
    this.appendListeners.push(listener);
  }

  onSpace(listener: () => void): void {
    this.spaceListeners.push(listener);
  }

  async close(): Promise<void> {}
}
