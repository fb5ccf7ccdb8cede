/**
 * The growth curves' output: one text table per curve for the terminal, and one self-contained HTML page
 * (inline CSS and SVG, no script, no fetch) with each curve's table and charts, the method and the machine.
 * Pure: it renders what it is given, so it is unit-tested without a gateway.
 */
import { esc, lineChart } from '../report/svg.js';

export type Cell = number | string;

export interface Column {
  key: string;
  label: string;
  /** Decimals shown for a number (default 0). */
  digits?: number;
}

export interface ChartDef {
  title: string;
  yLabel: string;
  /** Row keys drawn as lines against the curve's x column. */
  keys: Array<{ key: string; name: string }>;
}

export interface Curve {
  name: string;
  title: string;
  /** The column that is the curve's size (connections, devices, parsers, points…): the charts' x. */
  xKey: string;
  columns: Column[];
  rows: Array<Record<string, Cell>>;
  charts: ChartDef[];
  /** What was measured and how, one sentence each; bends found, with their numbers. */
  notes: string[];
}

/**
 * A curve's figures as bench result rows (the bench's `--json`): one row per finite number in a row's
 * non-x columns; section `growth <curve>`, target `<x label> <x>`, figure the column's label.
 */
export function curveRows(
  curve: Curve,
): Array<{ section: string; target: string; figure: string; value: number; unit: string }> {
  const x = curve.columns.find((c) => c.key === curve.xKey);
  const out: Array<{ section: string; target: string; figure: string; value: number; unit: string }> = [];
  for (const row of curve.rows) {
    const target = `${x?.label ?? curve.xKey} ${formatCell(row[curve.xKey])}`;
    for (const c of curve.columns) {
      const v = row[c.key];
      if (c.key === curve.xKey || typeof v !== 'number' || !Number.isFinite(v)) continue;
      out.push({ section: `growth ${curve.name}`, target, figure: c.label, value: v, unit: '' });
    }
  }
  return out;
}

export interface Page {
  title: string;
  machine: string;
  /** The machine's load average when the curves started and ended. */
  load: string;
  method: string;
  generatedAt: string;
  curves: Curve[];
}

export function formatCell(v: Cell | undefined, digits = 0): string {
  if (v === undefined) return '–';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** The curve as a fixed-width text table: a title line, a header, one line per size, then its notes. */
export function renderTable(curve: Curve): string {
  const cells = curve.rows.map((r) => curve.columns.map((c) => formatCell(r[c.key], c.digits)));
  const widths = curve.columns.map((c, i) => Math.max(c.label.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: string[]) =>
    values.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  const out = [
    `== ${curve.title}`,
    line(curve.columns.map((c) => c.label)),
    ...cells.map(line),
    ...curve.notes.map((n) => `  ${n}`),
  ];
  return out.join('\n');
}

function htmlTable(curve: Curve): string {
  const th = curve.columns.map((c) => `<th>${esc(c.label)}</th>`).join('');
  const tr = curve.rows
    .map((r) => `<tr>${curve.columns.map((c) => `<td>${esc(formatCell(r[c.key], c.digits))}</td>`).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

/** One SVG per chart: each key a line over the rows where both x and that key are numbers. */
export function curveCharts(curve: Curve): string[] {
  const xLabel = curve.columns.find((c) => c.key === curve.xKey)?.label ?? curve.xKey;
  return curve.charts.map((chart) =>
    lineChart({
      title: chart.title,
      yLabel: chart.yLabel,
      xLabel,
      xDivisor: 1,
      width: 760,
      height: 260,
      series: chart.keys.map(({ key, name }) => ({
        name,
        points: curve.rows
          .map((r) => [r[curve.xKey], r[key]] as const)
          .filter((p): p is readonly [number, number] => typeof p[0] === 'number' && typeof p[1] === 'number')
          .map(([x, y]) => [x, y] as [number, number]),
      })),
    }),
  );
}

export function renderHtml(page: Page): string {
  const sections = page.curves
    .map(
      (c) =>
        `<section id="${esc(c.name)}"><h2>${esc(c.title)}</h2>${htmlTable(c)}${c.notes.length ? `<ul>${c.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}${curveCharts(c).join('')}</section>`,
    )
    .join('\n');
  const css =
    'body{font-family:sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}svg{display:block;margin:12px 0}.meta{color:#444;font-size:13px}';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(page.title)}</title><style>${css}</style></head>
<body><h1>${esc(page.title)}</h1>
<p class="meta">${esc(page.generatedAt)} · machine: ${esc(page.machine)} · load average: ${esc(page.load)}</p>
<p class="meta">Method: ${esc(page.method)}</p>
${sections}
</body></html>
`;
}
