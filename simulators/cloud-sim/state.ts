import { FaultState } from './faults.js';
import type { CloudSimOptions } from './options.js';
import { DEFAULTS } from './options.js';
import { WindowRateLimiter } from './rate-limit.js';
import { RecordStore } from './record-store.js';
import { SequenceBook } from './sequences.js';
import { StatsCounter } from './stats.js';

/** Everything one simulator instance remembers; `reset()` clears data and counters but keeps the faults. */
export class SimState {
  readonly now: () => number;
  readonly tokens: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly faults: FaultState;
  readonly limiter = new WindowRateLimiter();
  /** GET /data has its own per-profile budget at TagoIO. */
  readonly readLimiter = new WindowRateLimiter();
  readonly records: RecordStore;
  readonly sequences = new SequenceBook();
  readonly stats = new StatsCounter();
  startedAtMs: number;

  constructor(opts: CloudSimOptions) {
    this.now = opts.now ?? Date.now;
    this.tokens = new Set(opts.tokens ?? []);
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    this.faults = new FaultState(opts);
    this.records = new RecordStore(opts.keepRecordsPerToken ?? DEFAULTS.keepRecordsPerToken);
    this.startedAtMs = this.now();
  }

  reset(): void {
    this.limiter.reset();
    this.readLimiter.reset();
    this.records.clear();
    this.sequences.clear();
    this.stats.clear();
    this.faults.reseed();
    this.startedAtMs = this.now();
  }

  snapshot() {
    return this.stats.snapshot(this.sequences.stats(), this.startedAtMs, this.now());
  }
}
