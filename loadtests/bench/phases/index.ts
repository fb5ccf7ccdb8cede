/**
 * The bench's phases, in the order they run. The ones measuring the shared gateway come first and together
 * (it is started once, before the first of them, and stopped after the last); `--only` picks a subset and
 * keeps this order.
 */
import { drainPhase } from './drain.js';
import { httpPhase } from './http.js';
import { memoryPhase } from './memory.js';
import { mqttPhase } from './mqtt.js';
import { openPhase } from './open.js';
import type { Phase } from './phase.js';

export type { Phase } from './phase.js';

export const PHASES: readonly Phase[] = [mqttPhase, openPhase, httpPhase, drainPhase, memoryPhase];
