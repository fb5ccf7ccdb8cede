/**
 * The SLOs the gate judges, with SPEC.md's targets as defaults. `--slo FILE` (JSON or YAML) overrides any
 * subset; unknown keys are usage errors so a typo never silently keeps a default.
 *
 * ```yaml
 * latencyP99Ms: 2000        # HTTP response and MQTT publish-to-PUBACK, p99, from the scheduled time
 * successRatioMin: 0.999
 * errorRateMax: 0.01
 * lostMax: 0                # acknowledged points not received upstream
 * cpuAvgPctMax: 70          # gateway process, % of one core, average over `sizing`
 * memoryPctMax: 80          # gateway resident memory, % of --memory-limit-mb, peak over `sizing`
 * headroomRatioMin: 1       # highest passing rate / sizing target (100,000 points/day)
 * outageDrainMsMax: 120000  # backlog delivered within this after the upstream returns
 * soakDriftPctMax: 50       # soak: growth of RSS and p99 from the first to the last quarter
 * ```
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { LoadtestUsageError } from './lib/usage-error.js';

export interface Slos {
  latencyP99Ms: number;
  successRatioMin: number;
  errorRateMax: number;
  lostMax: number;
  cpuAvgPctMax: number;
  memoryPctMax: number;
  headroomRatioMin: number;
  outageDrainMsMax: number;
  soakDriftPctMax: number;
}

export const DEFAULT_SLOS: Readonly<Slos> = Object.freeze({
  latencyP99Ms: 2000,
  successRatioMin: 0.999,
  errorRateMax: 0.01,
  lostMax: 0,
  cpuAvgPctMax: 70,
  memoryPctMax: 80,
  headroomRatioMin: 1,
  outageDrainMsMax: 120_000,
  soakDriftPctMax: 50,
});

/** The sizing target from the deployment guide: 500 devices, 100,000 points per day. */
export const SIZING = Object.freeze({ devices: 500, pointsPerDay: 100_000 });
export const SIZING_POINTS_PER_SEC = SIZING.pointsPerDay / 86_400;

export function parseSlos(text: string, source: string): Slos {
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new LoadtestUsageError(`--slo: cannot parse ${source}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LoadtestUsageError(`--slo: ${source} must hold an object of SLO targets`);
  }
  const out: Slos = { ...DEFAULT_SLOS };
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in DEFAULT_SLOS)) {
      throw new LoadtestUsageError(
        `--slo: ${source}: unknown key "${key}" (known: ${Object.keys(DEFAULT_SLOS).join(', ')})`,
      );
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new LoadtestUsageError(`--slo: ${source}: ${key}: expected a number >= 0, got ${JSON.stringify(value)}`);
    }
    out[key as keyof Slos] = value;
  }
  if (out.successRatioMin > 1) throw new LoadtestUsageError(`--slo: ${source}: successRatioMin: expected 0..1`);
  return out;
}

export function loadSlos(file: string | undefined): Slos {
  if (file === undefined) return { ...DEFAULT_SLOS };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LoadtestUsageError(`--slo: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  return parseSlos(text, file);
}
