import { type Rng as Dice, mulberry32 as seededDice } from '../random.js';
import type { CloudSimOptions, Faults } from './options.js';
import { DEFAULTS } from './options.js';

/**
 * The injected faults: latency, error rate, outage (manual or for a window), drop rate, refused and
 * forbidden tokens, and the rate limit. Error and drop decisions use separate seeded dice, so turning one
 * on does not change the other's sequence of decisions.
 */
export class FaultsError extends Error {}

const NUMBER_FIELDS = ['latencyMs', 'outageForMs', 'requestsPerMinute', 'getRequestsPerMinute'] as const;
const KNOWN = new Set<string>([
  ...NUMBER_FIELDS,
  'errorRate',
  'errorStatus',
  'outage',
  'rateWindowMs',
  'refuseTokens',
  'forbidTokens',
  'dropRate',
]);

/** Validates a `POST /_sim/faults` body (or `setFaults` argument); throws `FaultsError` naming the field. */
export function parseFaultsPatch(body: unknown): Partial<Faults> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FaultsError('faults: body must be a JSON object');
  }
  const src = body as Record<string, unknown>;
  const out: Partial<Faults> = {};
  for (const key of Object.keys(src)) {
    if (!KNOWN.has(key)) throw new FaultsError(`faults.${key}: unknown field (known: ${[...KNOWN].join(', ')})`);
  }
  const num = (key: string, min: number, max: number): number | undefined => {
    const v = src[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new FaultsError(`faults.${key}: expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const tokens = (key: string): string[] | undefined => {
    const v = src[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) {
      throw new FaultsError(`faults.${key}: expected an array of token strings`);
    }
    return [...v];
  };
  for (const key of NUMBER_FIELDS) {
    const v = num(key, 0, Number.MAX_SAFE_INTEGER);
    if (v !== undefined) out[key] = v;
  }
  const errorRate = num('errorRate', 0, 1);
  if (errorRate !== undefined) out.errorRate = errorRate;
  const dropRate = num('dropRate', 0, 1);
  if (dropRate !== undefined) out.dropRate = dropRate;
  const errorStatus = num('errorStatus', 100, 599);
  if (errorStatus !== undefined) out.errorStatus = Math.trunc(errorStatus);
  const rateWindowMs = num('rateWindowMs', 1, Number.MAX_SAFE_INTEGER);
  if (rateWindowMs !== undefined) out.rateWindowMs = rateWindowMs;
  if (src.outage !== undefined) {
    if (typeof src.outage !== 'boolean') throw new FaultsError('faults.outage: expected true or false');
    out.outage = src.outage;
  }
  const refuse = tokens('refuseTokens');
  if (refuse) out.refuseTokens = refuse;
  const forbid = tokens('forbidTokens');
  if (forbid) out.forbidTokens = forbid;
  return out;
}

export class FaultState {
  latencyMs: number;
  errorRate: number;
  errorStatus: number;
  dropRate: number;
  requestsPerMinute: number;
  getRequestsPerMinute: number;
  rateWindowMs: number;
  outage: boolean;
  /** Epoch ms at which an `outageForMs` window ends (0 when none). */
  outageUntilMs = 0;
  refused = new Set<string>();
  forbidden = new Set<string>();
  readonly #seed: number;
  #errorDice: Dice;
  #dropDice: Dice;

  constructor(opts: CloudSimOptions) {
    const patch = parseFaultsPatch({
      latencyMs: opts.latencyMs ?? 0,
      errorRate: opts.errorRate ?? 0,
      errorStatus: opts.errorStatus ?? DEFAULTS.errorStatus,
      dropRate: opts.dropRate ?? 0,
      requestsPerMinute: opts.requestsPerMinute ?? 0,
      getRequestsPerMinute: opts.getRequestsPerMinute ?? 0,
      rateWindowMs: opts.rateWindowMs ?? DEFAULTS.rateWindowMs,
      outage: opts.outage ?? false,
    });
    this.latencyMs = patch.latencyMs ?? 0;
    this.errorRate = patch.errorRate ?? 0;
    this.errorStatus = patch.errorStatus ?? DEFAULTS.errorStatus;
    this.dropRate = patch.dropRate ?? 0;
    this.requestsPerMinute = patch.requestsPerMinute ?? 0;
    this.getRequestsPerMinute = patch.getRequestsPerMinute ?? 0;
    this.rateWindowMs = patch.rateWindowMs ?? DEFAULTS.rateWindowMs;
    this.outage = patch.outage ?? false;
    this.#seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.#errorDice = seededDice(this.#seed);
    this.#dropDice = seededDice(this.#seed ^ 0x9e3779b9);
  }

  apply(patch: Partial<Faults>, nowMs: number): void {
    if (patch.latencyMs !== undefined) this.latencyMs = patch.latencyMs;
    if (patch.errorRate !== undefined) this.errorRate = patch.errorRate;
    if (patch.errorStatus !== undefined) this.errorStatus = patch.errorStatus;
    if (patch.dropRate !== undefined) this.dropRate = patch.dropRate;
    if (patch.requestsPerMinute !== undefined) this.requestsPerMinute = patch.requestsPerMinute;
    if (patch.getRequestsPerMinute !== undefined) this.getRequestsPerMinute = patch.getRequestsPerMinute;
    if (patch.rateWindowMs !== undefined) this.rateWindowMs = patch.rateWindowMs;
    if (patch.refuseTokens !== undefined) this.refused = new Set(patch.refuseTokens);
    if (patch.forbidTokens !== undefined) this.forbidden = new Set(patch.forbidTokens);
    if (patch.outage !== undefined) {
      this.outage = patch.outage;
      // `outage: false` ends any outage, including a running window.
      if (!patch.outage) this.outageUntilMs = 0;
    }
    if (patch.outageForMs !== undefined) this.outageUntilMs = patch.outageForMs > 0 ? nowMs + patch.outageForMs : 0;
  }

  /** Back to the start options' error/drop sequence (used by reset), so a replayed run decides the same. */
  reseed(): void {
    this.#errorDice = seededDice(this.#seed);
    this.#dropDice = seededDice(this.#seed ^ 0x9e3779b9);
  }

  inOutage(nowMs: number): boolean {
    return this.outage || nowMs < this.outageUntilMs;
  }

  rollError(): boolean {
    return this.errorRate > 0 && this.#errorDice() < this.errorRate;
  }

  rollDrop(): boolean {
    return this.dropRate > 0 && this.#dropDice() < this.dropRate;
  }

  snapshot(nowMs: number): Faults & { outageActive: boolean; seed: number } {
    return {
      latencyMs: this.latencyMs,
      errorRate: this.errorRate,
      errorStatus: this.errorStatus,
      outage: this.outage,
      outageForMs: Math.max(0, this.outageUntilMs - nowMs),
      requestsPerMinute: this.requestsPerMinute,
      getRequestsPerMinute: this.getRequestsPerMinute,
      rateWindowMs: this.rateWindowMs,
      refuseTokens: [...this.refused],
      forbidTokens: [...this.forbidden],
      dropRate: this.dropRate,
      outageActive: this.inOutage(nowMs),
      seed: this.#seed,
    };
  }
}
