/**
 * Options and fault knobs of the cloud simulator. Defaults live here and nowhere else, with their units in
 * the names.
 */

export interface CloudSimOptions {
  /** Port for the API; 0 (the default) means an ephemeral port. The CLI defaults to 8090. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Accepted device tokens; undefined or empty means any non-empty token is accepted. */
  tokens?: string[];
  /** TagoIO's per-profile POST /data limit per window (a wall-clock minute by default); 0 = unlimited. */
  requestsPerMinute?: number;
  /** TagoIO's per-profile GET /data limit per window (counted apart from POST /data); 0 = unlimited. */
  getRequestsPerMinute?: number;
  /** Window length for the rate limit, aligned to multiples of itself in epoch time. Default 60_000 (1 min). */
  rateWindowMs?: number;
  /** Added before answering any API request. Default 0. */
  latencyMs?: number;
  /** Probability (0..1) of answering `errorStatus` instead of serving an API request. Default 0. */
  errorRate?: number;
  /** Status used by `errorRate`. Default 503. */
  errorStatus?: number;
  /** Probability (0..1) of answering POST /data with 200 without storing anything. Default 0. */
  dropRate?: number;
  /** When true every API request's socket is destroyed without an answer. Control endpoints keep working. */
  outage?: boolean;
  /** Seed of the fault dice, so error and drop decisions repeat run after run. Default: random. */
  seed?: number;
  /** Records kept per token for GET /data (counters stay exact beyond it). Default 10_000. */
  keepRecordsPerToken?: number;
  /** Body limit of POST /data. Default 204_800 (TagoIO's 200 kB). */
  maxBodyBytes?: number;
  /** When false, write the `listening` JSON line on stdout at start. Default true (silent) for tests. */
  quiet?: boolean;
  /** The simulator's one clock (epoch ms); injectable so rate-limit windows can be tested without sleeping. */
  now?: () => number;
}

/**
 * The fault state. `Partial<Faults>` is also the body of `POST /_sim/faults`. On read, `outageForMs` is
 * the time left in the current outage window (0 when none).
 */
export interface Faults {
  latencyMs: number;
  errorRate: number;
  errorStatus: number;
  outage: boolean;
  outageForMs: number;
  requestsPerMinute: number;
  getRequestsPerMinute: number;
  rateWindowMs: number;
  refuseTokens: string[];
  forbidTokens: string[];
  dropRate: number;
}

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  cliPort: 8090,
  rateWindowMs: 60_000, // TagoIO counts per wall-clock minute
  errorStatus: 503,
  keepRecordsPerToken: 10_000,
  maxBodyBytes: 204_800, // 200 kB, TagoIO's POST /data limit
});
