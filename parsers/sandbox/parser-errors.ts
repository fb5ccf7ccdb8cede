/**
 * Maps what went wrong in the sandbox to the typed errors of parsers/errors.ts (part of the gateway's catalogue), with a message that names
 * the cause and, when the stack shows it, the parser's own line: `parser threw at line 3: bad frame`.
 */
import { type EdgeError, ParserError, ParserLoadError, ParserMemoryError, ParserTimeoutError } from '../errors.js';
import type { CompiledParser } from './compile.js';

/** One message's outcome as the in-isolate harness reports it (see harness-source.ts). */
export type Outcome =
  | { ok: true; value: unknown[]; logs: Array<[ConsoleLevel, string]> }
  | {
      ok: false;
      kind: 'throw' | 'shape' | 'memory';
      name?: string;
      message: string;
      stack?: string;
      logs: Array<[ConsoleLevel, string]>;
    };
export type ConsoleLevel = 'log' | 'debug' | 'error';

export function outcomeError(outcome: Extract<Outcome, { ok: false }>, compiled: CompiledParser, memoryMb: number) {
  if (outcome.kind === 'shape') return new ParserError(`parser returned a bad result: ${outcome.message}`);
  const line = parserLine(outcome.stack ?? '', compiled);
  const at = line === undefined ? '' : ` at line ${line}`;
  if (outcome.kind === 'memory') {
    return new ParserMemoryError(`parser ran past its ${memoryMb} MB memory limit${at}: ${outcome.message}`);
  }
  const what = outcome.name && outcome.name !== 'Error' ? `${outcome.name}: ${outcome.message}` : outcome.message;
  return new ParserError(`parser threw${at}: ${what}`);
}

export function timeoutError(timeoutMs: number): EdgeError {
  return new ParserTimeoutError(`parser ran past its ${timeoutMs} ms time limit (an endless loop?)`);
}

export function memoryError(memoryMb: number): EdgeError {
  return new ParserMemoryError(`parser ran past its ${memoryMb} MB memory limit; its isolate was discarded`);
}

/** A syntax error from compileScript reads `Unexpected token ';' [/path/p.js:3:9]`. */
export function loadError(filename: string, err: unknown, compiled: CompiledParser): EdgeError {
  const message = err instanceof Error ? err.message : String(err);
  const m = /^(.*) \[(.*):(\d+):(\d+)\]$/s.exec(message);
  if (m && m[2] === filename) {
    const line = compiled.originalLine(Number(m[3]), Number(m[4]));
    return new ParserLoadError(`parser ${filename} does not compile: line ${line}: ${m[1]}`, { cause: err });
  }
  return new ParserLoadError(`parser ${filename} does not load: ${message}`, { cause: err });
}

/** The first stack frame inside the parser's file, mapped back to the file's line. */
export function parserLine(stack: string, compiled: CompiledParser): number | undefined {
  const needle = `${compiled.filename}:`;
  for (const frame of stack.split('\n')) {
    const i = frame.lastIndexOf(needle);
    if (i < 0) continue;
    const m = /^(\d+):(\d+)/.exec(frame.slice(i + needle.length));
    if (m) return compiled.originalLine(Number(m[1]), Number(m[2]));
  }
  return undefined;
}
