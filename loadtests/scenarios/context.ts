/** What every scenario receives, and what it returns. */
import type { Progress } from '../progress.js';
import type { Sampler } from '../sampler.js';
import type { Slos } from '../slo.js';
import type { Timeline } from '../timeline.js';
import type { Check } from '../verdict.js';

export const SCENARIOS = ['http-ladder', 'sizing', 'headroom', 'outage', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = ['http-ladder', 'sizing', 'headroom', 'outage'];

/** Where load goes and what the gate can observe there. */
export interface Target {
  /** Gateway HTTP base URL (POST /data, GET /metrics). */
  http: string | undefined;
  /** Gateway MQTT URL. */
  mqtt: string | undefined;
  /** cloud-sim base URL with its `/_sim/*` control API: local stack only (or a test's). */
  simUrl: string | undefined;
  /** A TagoIO-compatible `GET /data` base URL, read with the device tokens (remote loss accounting). */
  readUrl: string | undefined;
  /** Device tokens to use (else seeded ones, which a passthrough gateway accepts). */
  tokens: string[] | undefined;
  /** The gateway's process id when it is a local child (CPU and memory fallback). */
  gatewayPid: number | undefined;
  local: boolean;
}

export interface RunSettings {
  quick: boolean;
  /** Time compression for the fleet scenarios (simulated day / speedup). */
  speedup: number;
  /** `--duration`, when given: the main phase of sizing and soak. */
  durationMs: number | undefined;
  memoryLimitMb: number;
}

export interface Ctx {
  target: Target;
  settings: RunSettings;
  slos: Slos;
  timeline: Timeline;
  sampler: Sampler;
  progress: Progress;
}

export interface ScenarioResult {
  name: ScenarioName;
  checks: Check[];
  /** Scenario figures for report.json and the HTML tables. */
  data: Record<string, unknown>;
  skipped?: string;
}
