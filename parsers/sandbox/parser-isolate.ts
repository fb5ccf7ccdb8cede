/**
 * One isolated-vm isolate holding one parser: the runtime bundle (Buffer, dayjs), the harness and the
 * parser function, in a context with no access to the host. Only the async API is used (`apply` with
 * `{timeout}`): the isolate runs on isolated-vm's own threads, so a runaway parser never blocks the
 * event loop or another parser's isolate.
 */
import ivm from 'isolated-vm';
import type { CompiledParser } from './compile.js';
import { harnessSource } from './harness-source.js';
import { loadError } from './parser-errors.js';
import { runtimeBundle } from './runtime-bundle.js';

/** Generous: evaluating the runtime takes a few ms; this only guards against a hung start. */
const SETUP_TIMEOUT_MS = 5_000;

export class ParserIsolate {
  private constructor(
    private readonly isolate: ivm.Isolate,
    private readonly runRef: ivm.Reference<(json: string) => string>,
    private readonly progressRef: ivm.Reference<() => string>,
  ) {}

  static async create(compiled: CompiledParser, memoryMb: number): Promise<ParserIsolate> {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    try {
      const context = await isolate.createContext();
      const runtime = await isolate.compileScript(await runtimeBundle(), { filename: 'tago-edge-runtime.js' });
      await runtime.run(context, { timeout: SETUP_TIMEOUT_MS });
      const harness = await isolate.compileScript(harnessSource, { filename: 'tago-edge-harness.js' });
      await harness.run(context, { timeout: SETUP_TIMEOUT_MS });
      let parser: ivm.Script;
      try {
        parser = await isolate.compileScript(compiled.script, {
          filename: compiled.filename,
          lineOffset: compiled.lineOffset,
        });
      } catch (err) {
        throw loadError(compiled.filename, err, compiled);
      }
      // Defining the function runs none of the parser's code, so this cannot loop.
      await parser.run(context, { timeout: SETUP_TIMEOUT_MS });
      const runRef = await context.global.get('__tagoRun', { reference: true });
      const progressRef = await context.global.get('__tagoProgress', { reference: true });
      return new ParserIsolate(isolate, runRef, progressRef);
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  /** Runs a batch: a JSON array of messages in, a JSON array of outcomes out. One crossing each way. */
  run(json: string, timeoutMs: number): Promise<string> {
    return this.runRef.apply(undefined, [json], { timeout: timeoutMs });
  }

  /** After a timeout: the outcomes the cut-off batch had finished (their count = the culprit's index). */
  progress(): Promise<string> {
    return this.progressRef.apply(undefined, [], { timeout: SETUP_TIMEOUT_MS });
  }

  /** True once isolated-vm discarded the isolate for exceeding its memory limit (or after dispose). */
  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  heapStatistics(): Promise<ivm.HeapStatistics> {
    return this.isolate.getHeapStatistics();
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }
}

export function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Script execution timed out.';
}
