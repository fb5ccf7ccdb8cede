import type { SequenceStats } from './sequences.js';

/**
 * Request and point counters for `GET /_sim/stats`. Only TagoIO API traffic counts; the `/_sim/*` control
 * endpoints do not, so a test can poll stats without moving them. Counters are exact even when the record
 * store has forgotten old records.
 */
export interface SimStats {
  requests: {
    /** Every API request received, including those whose socket was destroyed by an outage. */
    total: number;
    /** Answered requests by status code ("200", "401", "429", …). */
    byStatus: Record<string, number>;
    /** Answered 429 by the rate limiter. */
    rateLimited: number;
    /** POST /data answered 200 but not stored (`dropRate`). */
    dropped: number;
    /** Sockets destroyed without an answer (outage). */
    destroyed: number;
  };
  /** Points stored (exact, not capped by `keepRecordsPerToken`). */
  points: number;
  tokens: Record<string, { requests: number; points: number }>;
  sequences: Record<string, SequenceStats>;
  startedAt: string;
  uptimeMs: number;
}

export class StatsCounter {
  total = 0;
  rateLimited = 0;
  dropped = 0;
  destroyed = 0;
  points = 0;
  readonly byStatus = new Map<number, number>();
  readonly tokens = new Map<string, { requests: number; points: number }>();

  request(token: string | undefined): void {
    this.total++;
    if (token) this.#token(token).requests++;
  }

  answered(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }

  stored(token: string, n: number): void {
    this.points += n;
    this.#token(token).points += n;
  }

  #token(token: string): { requests: number; points: number } {
    let t = this.tokens.get(token);
    if (!t) {
      t = { requests: 0, points: 0 };
      this.tokens.set(token, t);
    }
    return t;
  }

  clear(): void {
    this.total = 0;
    this.rateLimited = 0;
    this.dropped = 0;
    this.destroyed = 0;
    this.points = 0;
    this.byStatus.clear();
    this.tokens.clear();
  }

  snapshot(sequences: Record<string, SequenceStats>, startedAtMs: number, nowMs: number): SimStats {
    return {
      requests: {
        total: this.total,
        byStatus: Object.fromEntries([...this.byStatus].map(([k, v]) => [String(k), v])),
        rateLimited: this.rateLimited,
        dropped: this.dropped,
        destroyed: this.destroyed,
      },
      points: this.points,
      tokens: Object.fromEntries([...this.tokens].map(([k, v]) => [k, { ...v }])),
      sequences,
      startedAt: new Date(startedAtMs).toISOString(),
      uptimeMs: nowMs - startedAtMs,
    };
  }
}
