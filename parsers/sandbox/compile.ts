/**
 * Turns a parser file into the script an isolate evaluates. TagoIO parsers are top-level statements that
 * read and reassign the `payload` global; we wrap them in a function whose parameters are the globals and
 * which returns `payload` at the end, so one isolate crossing can run the parser for many messages.
 *
 * Line numbers: the wrapper's header sits on line 0 (via `lineOffset: -1`), so stack lines are the
 * file's own lines for `.js`. `.ts` files have their types stripped by esbuild, which re-prints the code;
 * its source map brings lines back to the `.ts` file.
 */
import { SourceMap } from 'node:module';
import { extname } from 'node:path';
import { transform } from 'esbuild';
import { ParserLoadError } from '../errors.js';

/** TagoIO's own limit on parser code size (docs: parser-vs-analysis-comparison). */
export const MAX_PARSER_BYTES = 64 * 1024;

export interface CompiledParser {
  /** The script to evaluate in the isolate: it defines `globalThis.__tagoParser`. */
  script: string;
  /** Give to compileScript so lines line up with the file. */
  lineOffset: number;
  /** The parser's file, as it appears in isolate stack traces. */
  filename: string;
  /** Maps a 1-based line of the running script back to the file's line (differs only for `.ts`). */
  originalLine(line: number, column: number): number;
}

export async function compileParser(filename: string, source: string): Promise<CompiledParser> {
  const bytes = Buffer.byteLength(source);
  if (bytes > MAX_PARSER_BYTES) {
    throw new ParserLoadError(`parser ${filename} is ${bytes} bytes, over the ${MAX_PARSER_BYTES}-byte limit`);
  }
  let code = source;
  let originalLine = (line: number, _column: number) => line;
  if (isTypeScript(filename)) {
    try {
      const out = await transform(source, {
        loader: 'ts',
        sourcemap: 'external',
        sourcefile: filename,
        logLevel: 'silent',
      });
      code = out.code;
      const map = new SourceMap(JSON.parse(out.map));
      originalLine = (line: number, column: number) => {
        const entry = map.findEntry(line - 1, Math.max(0, column - 1));
        return 'originalLine' in entry ? entry.originalLine + 1 : line;
      };
    } catch (err) {
      throw new ParserLoadError(`parser ${filename} does not compile: ${esbuildMessage(err)}`, { cause: err });
    }
  }
  // The trailing newline keeps a final `// comment` line from swallowing `return payload`.
  const script = `globalThis.__tagoParser = function (payload, raw_payload, device) {\n${code}\n;return payload;\n};`;
  return { script, lineOffset: -1, filename, originalLine };
}

export function isTypeScript(filename: string): boolean {
  return ['.ts', '.mts', '.cts'].includes(extname(filename));
}

function esbuildMessage(err: unknown): string {
  const first = (err as { errors?: Array<{ text: string; location?: { line: number; column: number } | null }> })
    .errors?.[0];
  if (!first) return err instanceof Error ? err.message : String(err);
  return first.location ? `line ${first.location.line}: ${first.text}` : first.text;
}
