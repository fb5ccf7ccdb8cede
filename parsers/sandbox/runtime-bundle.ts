/**
 * The libraries a TagoIO parser expects as globals — `Buffer` (the npm `buffer` package, the same code
 * browsers bundle) and `dayjs` with its utc and timezone plugins — bundled by esbuild into one classic
 * script that every parser isolate evaluates before the parser. Real libraries, not hand-written subsets:
 * a parser that works on TagoIO must work here. Built once per process (about 50 ms) and shared.
 */
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);

let bundle: Promise<string> | undefined;

/** The runtime script source (an IIFE that sets `globalThis.Buffer` and `globalThis.dayjs`). */
export function runtimeBundle(): Promise<string> {
  bundle ??= buildRuntime();
  return bundle;
}

async function buildRuntime(): Promise<string> {
  // Absolute paths so the bundle resolves the same from src/ (vitest) and dist/ (the CLI).
  const mod = (id: string) => JSON.stringify(require.resolve(id));
  const entry = [
    `import { Buffer } from ${mod('buffer/')};`,
    `import dayjs from ${mod('dayjs')};`,
    `import utc from ${mod('dayjs/plugin/utc')};`,
    `import timezone from ${mod('dayjs/plugin/timezone')};`,
    'dayjs.extend(utc);',
    'dayjs.extend(timezone);',
    'globalThis.Buffer = Buffer;',
    'globalThis.dayjs = dayjs;',
  ].join('\n');
  const result = await build({
    stdin: { contents: entry, loader: 'js', resolveDir: process.cwd(), sourcefile: 'tago-edge-runtime.js' },
    bundle: true,
    write: false,
    format: 'iife',
    // `buffer` is written for browsers; `browser` also makes esbuild pick its dependencies' browser builds.
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no runtime bundle');
  return out.text;
}
