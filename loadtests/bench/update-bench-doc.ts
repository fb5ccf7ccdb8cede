/**
 * `npm run bench:doc -- FILE [--doc docs/performance.md] [--commit SHA] [--date YYYY-MM-DD]`: rewrites the
 * figures table of docs/performance.md from the JSON that `npm run bench -- --json FILE` writes, so the page
 * always shows one run's figures with the commit and date they were measured at and cannot drift from them.
 *
 * The table goes between the `<!-- bench-table:start -->` and `<!-- bench-table:end -->` markers; the rest of
 * the page is left as it is. Repeated runs (`--repeat N`, sections `… #1`, `… #2`) are folded into one line per
 * scenario and system: the median with the range of the runs, and the median ratio to the floor with each run's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Row, Verdict } from './run.js';

/** One measured figure and one verdict, as `loadtests/bench/run.ts` writes them (types only: run.ts runs the bench when loaded). */
export type BenchRow = Row;
export type BenchVerdict = Verdict;
export interface BenchJson {
  machine: string;
  rows: BenchRow[];
  verdicts: BenchVerdict[];
}

export const START = '<!-- bench-table:start -->';
export const END = '<!-- bench-table:end -->';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** "26.0k" style figures keep the table narrow; small values keep their digits. */
function figure(xs: number[], d: number): string {
  const m = median(xs);
  if (xs.length === 1) return fmt(m, d);
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return `${fmt(m, d)} (${fmt(lo, d)}–${fmt(hi, d)})`;
}

/** The markdown table (and verdict list) for one bench run. */
export function renderTable(bench: BenchJson, commit: string, date: string): string {
  if (!Array.isArray(bench.rows) || !Array.isArray(bench.verdicts)) {
    throw new Error(
      'bench JSON: expected { machine, rows: [...], verdicts: [...] } as `npm run bench -- --json` writes',
    );
  }
  const groups = new Map<string, BenchRow[]>();
  for (const r of bench.rows) {
    // One line per scenario, system and kind of figure: repeated runs differ only in their ` #N` suffix; a
    // unit's words before its parenthesis name the figure (the memory phase reports two RSS figures).
    const unitHead = r.unit.split(' (')[0] as string;
    const key = `${r.section.replace(/ #\d+$/, '')}\u0000${r.target}\u0000${unitHead}`;
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const runs = Math.max(...[...groups.values()].map((g) => g.length), 1);
  const lines: string[] = [];
  lines.push(`Measured at \`${commit}\` on ${date}${runs > 1 ? `, median of ${runs} alternating runs (range)` : ''}.`);
  lines.push(`Machine: ${bench.machine}.`);
  lines.push('');
  lines.push('| scenario | system | figure | p99 ms | CPU µs/msg | ratio to floor |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- |');
  for (const [key, g] of groups) {
    const [section] = key.split('\u0000') as [string];
    const first = g[0] as BenchRow;
    // The unit's detail (points/s, peaks) is the median run's.
    const mid = [...g].sort((x, y) => x.value - y.value)[(g.length - 1) >> 1] as BenchRow;
    const d = first.figure === 'p99' || first.value < 100 ? 1 : 0;
    const p99s = g.flatMap((r) => (r.p99 === undefined ? [] : [r.p99]));
    const cpus = g.flatMap((r) => (r.cpuUsPerMsg === undefined ? [] : [r.cpuUsPerMsg]));
    const ratios = g.flatMap((r) => (r.ratio === undefined ? [] : [r.ratio * 100]));
    const ratio =
      ratios.length === 0
        ? ''
        : `${fmt(median(ratios))} % of ${first.floor ?? 'floor'}${ratios.length > 1 ? ` (${ratios.map((x) => fmt(x)).join(', ')})` : ''}`;
    lines.push(
      `| ${section} | ${first.target} | ${figure(
        g.map((r) => r.value),
        d,
      )} ${mid.unit} | ${p99s.length ? fmt(median(p99s), 1) : ''} | ${cpus.length ? fmt(median(cpus), 1) : ''} | ${ratio} |`,
    );
  }
  lines.push('');
  for (const v of bench.verdicts) lines.push(`- ${v.pass ? '**PASS**' : '**FAIL**'} ${v.target}: ${v.measured}`);
  return lines.join('\n');
}

/** The page with the text between the markers replaced by `table`. */
export function replaceTable(page: string, table: string): string {
  const a = page.indexOf(START);
  const b = page.indexOf(END);
  if (a < 0 || b < 0 || b < a) {
    throw new Error(`the page has no ${START} … ${END} markers around its figures table`);
  }
  return `${page.slice(0, a + START.length)}\n${table}\n${page.slice(b)}`;
}

const USAGE = `usage: npm run bench:doc -- FILE [--doc docs/performance.md] [--commit SHA] [--date YYYY-MM-DD]
  FILE       the JSON written by \`npm run bench -- --json FILE\`
  --doc      the page to update (default docs/performance.md)
  --commit   the commit the figures were measured at (default: git rev-parse --short HEAD)
  --date     the day they were measured (default: FILE's modification time)`;

const OPTIONS = {
  doc: { type: 'string', default: 'docs/performance.md' },
  commit: { type: 'string' },
  date: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function main(): number {
  let parsed: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ allowPositionals: true, options: OPTIONS });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    console.error(`FILE: expected one bench JSON file\n${USAGE}`);
    return 2;
  }
  const commit = values.commit ?? execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const date = values.date ?? statSync(file).mtime.toISOString().slice(0, 10);
  try {
    const bench = JSON.parse(readFileSync(file, 'utf8')) as BenchJson;
    const page = readFileSync(values.doc, 'utf8');
    writeFileSync(values.doc, replaceTable(page, renderTable(bench, commit, date)));
  } catch (err) {
    console.error(`bench:doc: ${(err as Error).message}`);
    return 1;
  }
  console.log(`bench:doc: ${values.doc} figures table from ${file} (${commit}, ${date})`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
