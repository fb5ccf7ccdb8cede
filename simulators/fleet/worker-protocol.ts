/** Messages between the parent fleet and its worker processes (IPC, `serialization: 'advanced'`). */
import type { FleetOptions, FleetSummary, Progress } from './types.js';

export type ToWorker = { type: 'run'; options: FleetOptions } | { type: 'go'; t0: number } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; progress: Progress }
  | { type: 'summary'; summary: FleetSummary }
  | { type: 'error'; message: string };
