/**
 * The bench's phases, in the order they run. The ones measuring the shared gateway come first and together
 * (it is started once, before the first of them, and stopped after the last); `--only` picks a subset and
 * keeps this order;
 * opt-in phases (growth, cluster) run only when `--only` names them.
 */
import { clusterPhase } from './cluster.js';
import { drainPhase } from './drain.js';
import { growthPhase } from './growth.js';
import { httpPhase } from './http.js';
import { memoryPhase } from './memory.js';
import { mqttPhase } from './mqtt.js';
import { openPhase } from './open.js';
import type { Phase } from './phase.js';

export type { Phase } from './phase.js';

export const PHASES: readonly Phase[] = [
  mqttPhase,
  openPhase,
  httpPhase,
  drainPhase,
  memoryPhase,
  growthPhase,
  clusterPhase,
];

/** The phases a run without `--only` runs: all but the opt-in ones. */
export const DEFAULT_PHASES: readonly Phase[] = PHASES.filter((p) => !p.optIn);
