/**
 * A bench phase: one named measurement run by run.ts with a context, returning its rows and verdicts.
 * `sharedGateway` phases measure the context's long-running gateway (started once for all of them, in
 * the list's order); the others start and stop their own.
 */
import type { BenchCtx } from '../context.js';
import type { PhaseResult } from '../results.js';

export interface Phase {
  name: string;
  /** One line for `--help`. */
  about: string;
  sharedGateway: boolean;
  /** Runs only when `--only` names it (long, or measuring something else than the default run). */
  optIn?: boolean;
  run(ctx: BenchCtx): Promise<PhaseResult>;
}
