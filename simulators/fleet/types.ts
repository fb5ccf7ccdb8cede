/**
 * Public types of the device simulator fleet (`runFleet`). Everything the load-test gate needs to drive a
 * fleet and to judge it: options in, progress out while running, one summary at the end.
 *
 * Units are in the names: `…Ms` milliseconds, `…PerSec` per second of wall-clock time.
 */

/** How devices talk to the target. `mqtt`/`mqtts`/`ws`/`wss` use MQTT 3.1.1; `http`/`https` POST /data. */
export type Protocol = 'mqtt' | 'mqtts' | 'ws' | 'wss' | 'http' | 'https';

/** What a device sends. `mixed` assigns env, tracker and hex round-robin by device index. */
export type ProfileName = 'env' | 'tracker' | 'hex' | 'mixed';

/** The kinds of invalid input `badRatio` injects. Each must be rejected by the target. */
export type BadKind = 'forbidden-char' | 'missing-variable' | 'value-too-long' | 'invalid-json' | 'bad-hex-frame';

export const BAD_KINDS: readonly BadKind[] = [
  'forbidden-char',
  'missing-variable',
  'value-too-long',
  'invalid-json',
  'bad-hex-frame',
];

/**
 * Options accepted by `runFleet`. Only `protocol` and a target for it are required; every optional field
 * also accepts `undefined` (= the default), so callers can pass their own optional values straight through.
 */
export interface FleetOptions {
  protocol: Protocol;
  /** Base URL for HTTP(S): points are POSTed to `<targetHttp>/data`. */
  targetHttp?: string | undefined;
  /** Broker URL for MQTT: `mqtt://`, `mqtts://`, `ws://`, `wss://` (its scheme must match `protocol`). */
  targetMqtt?: string | undefined;
  /** Number of devices (default 10). */
  devices?: number | undefined;
  /** Fleet rate in points per second of simulated time (default 10 when `pointsPerDay` is not set). */
  ratePerSec?: number | undefined;
  /** Fleet rate in points per simulated day (e.g. 100,000 for the sizing preset). */
  pointsPerDay?: number | undefined;
  /** Compress time: every period is divided by this (default 1). Durations stay wall-clock. */
  speedup?: number | undefined;
  /** Stop scheduling after this wall-clock time. Without it and without `count`, run until aborted. */
  durationMs?: number | undefined;
  /** Stop after this many points per device. */
  count?: number | undefined;
  /** Random extra delay in [0, jitterMs) added to each scheduled time (default 0). */
  jitterMs?: number | undefined;
  profile?: ProfileName | undefined;
  /** Fraction (0..1) of points replaced by invalid input (default 0). */
  badRatio?: number | undefined;
  /** Seed for tokens, device ids, random walks, jitter and bad-input choice (default 1). */
  seed?: number | undefined;
  /** Device tokens (overrides the seeded ones; reused round-robin when fewer than devices). */
  tokens?: string[] | undefined;
  /** MQTT QoS (default 1). */
  qos?: 0 | 1 | undefined;
  /** MQTT keepalive in seconds (default 60). */
  keepaliveSec?: number | undefined;
  /** Connections opened per second during the ramp (default 500). */
  connectRatePerSec?: number | undefined;
  /** Disconnect and reconnect every MQTT device at once, this long after the schedule starts. */
  reconnectStormAtMs?: number | undefined;
  /** Points held per device while it cannot send; beyond this they count as `queue-overflow` errors (default 1000). */
  queueLimit?: number | undefined;
  /** HTTP connections to the target (default 100); requests beyond wait in a FIFO, counted in latency. */
  httpConnections?: number | undefined;
  /** A request or PUBACK not answered within this counts as a `timeout` error (default 30 s). */
  timeoutMs?: number | undefined;
  /** After the schedule ends, wait at most this long for outstanding acknowledgements (default 10 s). */
  drainMs?: number | undefined;
  /** Skip TLS certificate verification. */
  insecure?: boolean | undefined;
  /** PEM CA certificate(s) to trust. */
  ca?: string | Buffer | undefined;
  /** Shard devices over this many child processes (default 1 = in process). */
  workers?: number | undefined;
  /** Progress callback interval (default 1000 ms). */
  progressIntervalMs?: number | undefined;
  /** Restrict this process to a slice of the fleet (used by workers). Phases still spread over all devices. */
  shard?: { first: number; count: number } | undefined;
}

/** Hooks for `runFleet`. */
export interface FleetHooks {
  onProgress?(p: Progress): void;
  /** Aborting stops the schedule, drains briefly and resolves with the summary so far. */
  signal?: AbortSignal;
  /** Test seam: absolute epoch ms at which the schedule starts (workers use it to share one t0). */
  startAt?: () => Promise<number> | number;
}

/** A snapshot while running, every `progressIntervalMs`. Counts are cumulative. */
export interface Progress {
  elapsedMs: number;
  scheduled: number;
  sent: number;
  acked: number;
  errors: number;
  inFlight: number;
  queued: number;
  connected: number;
  /** Acknowledged points per second over the last interval. */
  ackRatePerSec: number;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Per device, the sorted, disjoint, inclusive ranges of `sim_seq` values acknowledged by the target. */
export type AckedRanges = Record<string, Array<[number, number]>>;

/** The result of a run. Stable JSON: this is what `--summary FILE` writes. */
export interface FleetSummary {
  version: 1;
  startedAt: string;
  endedAt: string;
  /** Wall-clock time from the first scheduled point to the end of the drain. */
  elapsedMs: number;
  /** Wall-clock time from the first to the last scheduled point: the window `achieved` rates use. */
  scheduleMs: number;
  /** Wall-clock time from the first scheduled point to the last acknowledgement (`achieved.ackedPerSec` window). */
  lastAckMs: number;
  options: {
    protocol: Protocol;
    target: string;
    devices: number;
    profile: ProfileName;
    ratePerSec: number;
    periodMs: number;
    qos: 0 | 1;
    badRatio: number;
    seed: number;
    workers: number;
  };
  counts: {
    /** Points whose scheduled time came (good and bad). */
    scheduled: number;
    /** Points handed to a socket for the first time. */
    sent: number;
    /** Points sent again after a reconnect (MQTT QoS 1 in flight when the connection dropped). */
    resent: number;
    /** Good points acknowledged: HTTP 2xx or MQTT PUBACK (QoS 0: written to the socket). */
    acked: number;
    /** Good points with no acknowledgement at the end (neither acked nor counted as an error). */
    unacked: number;
    errors: number;
    errorsByKind: Record<string, number>;
    badSent: Partial<Record<BadKind, number>>;
    badSentTotal: number;
    /** Bad points the target refused (HTTP 4xx). */
    rejected: number;
    /** Bad points acknowledged: MQTT QoS 1 PUBACK (3.1.1 has no negative ack) or, a target bug, HTTP 2xx. */
    badAcked: number;
  };
  /** Latency of good points, milliseconds. */
  latencyMs: {
    /** Scheduled time to acknowledgement: includes queueing in the simulator (no coordinated omission). */
    fromSchedule: LatencySummary;
    /** Send time to acknowledgement: the target's response time alone. */
    fromSend: LatencySummary;
  };
  /** How late the scheduler fired points relative to their scheduled time (a loaded generator lags). */
  schedulingLagMs: LatencySummary;
  achieved: { scheduledPerSec: number; sentPerSec: number; ackedPerSec: number };
  connections: { connected: number; connectFailures: number; disconnects: number; reconnects: number };
  /** HdrHistograms (microseconds), compressed base64, so several summaries can be merged exactly. */
  histograms: { fromSchedule: string; fromSend: string; schedulingLag: string };
  /** Acknowledged `sim_seq` ranges per `sim_device` (JSON profiles only; hex frames carry no seq). */
  acked: AckedRanges;
}
