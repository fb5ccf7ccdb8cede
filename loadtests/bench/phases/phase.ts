/**
 * A bench phase: one named measurement run by run.ts with a context, returning its rows and verdicts.
 * `sharedGateway` phases measure the context's long-running gateway (started once for all of them, in
 * the list's order); the others start and stop their own.
 */
import type { BenchCtx, BenchOptions } from '../context.js';
import type { PhaseResult, Row } from '../results.js';

export interface Phase {
  name: string;
  /** One line for `--help`. */
  about: string;
  sharedGateway: boolean;
  /** Runs only when `--only` names it (long, or measuring something else than the default run). */
  optIn?: boolean;
  run(ctx: BenchCtx): Promise<PhaseResult>;
  /** Its own method line, printed after the bench's when it ran (what the common one does not say). */
  method?(o: BenchOptions): string;
  /** Its own summary of its rows, printed after the bench's table (e.g. ratios between its systems). */
  report?(rows: readonly Row[]): string[];
}
