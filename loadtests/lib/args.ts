/**
 * Flags of the scripts under loadtests/ (the bench and its helpers), parsed once on node:util `parseArgs`:
 * typed values with defaults, a `--help` text generated from the same table, and a `LoadtestUsageError`
 * naming the flag for an unknown flag or a bad value (`runScript` prints it and exits 2).
 *
 * ```ts
 * const FLAGS = { duration: { kind: 'number', default: 10, help: 'measured seconds' } } as const;
 * const opts = parseFlags('node dist/loadtests/bench/run.js', FLAGS); // opts.duration: number
 * ```
 */
import { parseArgs } from 'node:util';
import { LoadtestUsageError } from './usage-error.js';

export type Flag =
  /** Without a default the value is `undefined` when the flag is not given (a default that depends on another). */
  | { kind: 'number'; default?: number; help: string; min?: number; integer?: boolean }
  | { kind: 'string'; default?: string; help: string }
  | { kind: 'boolean'; help: string }
  /** Comma-separated words, each one of `choices` when given. */
  | { kind: 'list'; default: readonly string[]; help: string; choices?: readonly string[] }
  /** Comma-separated numbers, each at least `min` when given. */
  | { kind: 'numbers'; default: readonly number[]; help: string; min?: number };

export type FlagTable = Record<string, Flag>;

type ValueOf<F extends Flag> = F extends { kind: 'number'; default: number }
  ? number
  : F extends { kind: 'number' }
    ? number | undefined
    : F extends { kind: 'string'; default: string }
      ? string
      : F extends { kind: 'string' }
        ? string | undefined
        : F extends { kind: 'boolean' }
          ? boolean
          : F extends { kind: 'list' }
            ? string[]
            : number[];

export type Flags<T extends FlagTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** The `--help` text: the usage line, `about` (e.g. the phases a script runs), then one line per flag with its default. */
export function helpText(usage: string, table: FlagTable, about = ''): string {
  const lines = [`usage: ${usage} [flags]`, ...(about ? ['', about] : []), '', 'flags:'];
  const entries = Object.entries(table).map(([name, f]) => {
    const value = f.kind === 'boolean' ? '' : f.kind === 'list' || f.kind === 'numbers' ? ' a,b' : ' VALUE';
    const dflt =
      f.kind === 'boolean' || f.default === undefined
        ? ''
        : ` (default ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})`;
    const choices = f.kind === 'list' && f.choices ? ` [${f.choices.join(', ')}]` : '';
    return [`--${name}${value}`, `${f.help}${choices}${dflt}`] as const;
  });
  const width = Math.max(...entries.map(([l]) => l.length), '--help'.length) + 2;
  for (const [left, right] of [...entries, ['--help', 'print this help and exit'] as const])
    lines.push(`  ${left.padEnd(width)}${right}`);
  return lines.join('\n');
}

function toNumber(name: string, raw: string, min: number | undefined, integer = false): number {
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new LoadtestUsageError(
      `--${name}: expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`,
    );
  if (min !== undefined && n < min) throw new LoadtestUsageError(`--${name}: expected a number >= ${min}, got ${raw}`);
  return n;
}

/**
 * Parses `argv` (default: this process's) against `table`. `--help` prints the help text and exits 0.
 * Throws `LoadtestUsageError` for an unknown flag, a missing or bad value, or a positional argument.
 */
export function parseFlags<T extends FlagTable>(
  usage: string,
  table: T,
  argv: readonly string[] = process.argv.slice(2),
  about = '',
): Flags<T> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, f] of Object.entries(table)) options[name] = { type: f.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (err) {
    // node's messages name the flag ("Unknown option '--x'", "Option '--d <value>' argument missing").
    throw new LoadtestUsageError(`${(err as Error).message.split('. ')[0]} (see --help)`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${helpText(usage, table, about)}\n`);
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(table)) {
    const raw = parsed.values[name];
    if (f.kind === 'boolean') {
      out[name] = raw === true;
      continue;
    }
    if (typeof raw !== 'string') {
      out[name] = f.kind === 'list' || f.kind === 'numbers' ? [...f.default] : f.default;
      continue;
    }
    if (f.kind === 'string') out[name] = raw;
    else if (f.kind === 'number') out[name] = toNumber(name, raw, f.min, f.integer);
    else {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (items.length === 0) throw new LoadtestUsageError(`--${name}: expected a comma-separated list, got ""`);
      if (f.kind === 'numbers') out[name] = items.map((s) => toNumber(name, s, f.min));
      else {
        const bad = f.choices ? items.filter((s) => !f.choices?.includes(s)) : [];
        if (bad.length > 0)
          throw new LoadtestUsageError(`--${name}: unknown ${bad.join(', ')} (known: ${f.choices?.join(', ')})`);
        out[name] = items;
      }
    }
  }
  return out as Flags<T>;
}

/**
 * Runs a script's main: a `LoadtestUsageError` prints `<script>: <message>` and exits 2 (like the CLI's
 * usage errors); anything else is a failure of the run and propagates.
 */
export async function runScript(script: string, main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof LoadtestUsageError) {
      process.stderr.write(`${script}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * `parseFlags` for a script's top level; `script` is its path under loadtests/ without `.ts` (e.g.
 * `bench/store-bench`). A usage error prints `<script>: <message>` and exits 2.
 */
export function scriptFlags<T extends FlagTable>(script: string, table: T, about = ''): Flags<T> {
  try {
    return parseFlags(`node dist/loadtests/${script}.js`, table, process.argv.slice(2), about);
  } catch (err) {
    if (!(err instanceof LoadtestUsageError)) throw err;
    process.stderr.write(`${script.split('/').pop()}: ${err.message}\n`);
    process.exit(2);
  }
}
