/**
 * Inline SVG line charts for the HTML report: no script, no external resource, so the report renders the
 * same from a file, an e-mail attachment or a CI artifact viewer. Scenario phases are shaded behind the
 * lines so a spike can be matched to what caused it.
 */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

export interface Band {
  name: string;
  start: number;
  end: number;
}

export interface ChartSpec {
  title: string;
  yLabel: string;
  series: Series[];
  bands?: Band[];
  /** Horizontal reference lines (e.g. the SLO). */
  refs?: Array<{ label: string; y: number }>;
  log?: boolean;
  /** The x axis: its label, and what x is divided by for its ticks (default: ms shown as seconds). */
  xLabel?: string;
  xDivisor?: number;
  width?: number;
  height?: number;
}

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(min: number, max: number, n = 5): number[] {
  const span = max - min || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string =>
  Math.abs(v) >= 10_000
    ? `${(v / 1000).toFixed(0)}k`
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Number(v.toPrecision(3)).toString();

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 1100;
  // Legend entries wrap into rows of 16 px under the axis label.
  const legendRows: number[] = [];
  let row = 0;
  let cursor = 64;
  for (const s of spec.series) {
    const w = 24 + s.name.length * 6;
    if (cursor + w > W - 16 && cursor > 64) {
      row++;
      cursor = 64;
    }
    legendRows.push(row);
    cursor += w;
  }
  const extra = row * 16;
  const H = (spec.height ?? 300) + extra;
  const m = { l: 64, r: 16, t: 30, b: 56 + extra };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const title = `<text x="${m.l}" y="18" font-size="14" font-weight="bold">${esc(spec.title)}</text>`;
  if (pts.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="80" role="img">${title}<text x="${m.l}" y="50" font-size="12" fill="#666">no data</text></svg>`;
  }
  const xs = pts.map((p) => p[0]);
  const bandXs = (spec.bands ?? []).flatMap((b) => [b.start, b.end]);
  const x0 = Math.min(...xs, ...bandXs);
  const x1 = Math.max(...xs, ...bandXs, x0 + 1);
  const ys = pts.map((p) => p[1]).concat((spec.refs ?? []).map((r) => r.y));
  const log = spec.log === true;
  const yMinRaw = log ? Math.max(0.1, Math.min(...ys.filter((y) => y > 0), 1)) : 0;
  const yMaxRaw = Math.max(...ys, log ? yMinRaw * 10 : 1);
  const ly = (v: number) => Math.log10(Math.max(v, yMinRaw));
  const y0 = log ? Math.floor(ly(yMinRaw)) : 0;
  const y1 = log ? Math.ceil(ly(yMaxRaw) + 1e-9) : yMaxRaw * 1.08;
  const X = (v: number) => m.l + ((v - x0) / (x1 - x0)) * pw;
  const Y = (v: number) => m.t + ph - (((log ? ly(v) : v) - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [title];
  for (const [i, b] of (spec.bands ?? []).entries()) {
    const bx = X(b.start);
    const bw = Math.max(1, X(b.end) - bx);
    parts.push(
      `<rect x="${bx.toFixed(1)}" y="${m.t}" width="${bw.toFixed(1)}" height="${ph}" fill="${i % 2 ? '#f2f2f2' : '#e8eef6'}"/>`,
      `<text x="${(bx + 2).toFixed(1)}" y="${m.t + 10}" font-size="9" fill="#555">${esc(b.name)}</text>`,
    );
  }
  const yTicks = log ? Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i)) : niceTicks(0, y1);
  for (const v of yTicks) {
    const y = Y(v);
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" font-size="10" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  const xd = spec.xDivisor ?? 1000;
  for (const v of niceTicks(x0 / xd, x1 / xd, 10)) {
    const x = X(v * xd);
    parts.push(
      `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`,
      `<text x="${x.toFixed(1)}" y="${m.t + ph + 16}" font-size="10" text-anchor="middle">${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" font-size="11" text-anchor="middle">${esc(spec.xLabel ?? 'time since start (s)')}</text>`,
    `<text x="14" y="${m.t + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${m.t + ph / 2})">${esc(spec.yLabel)}${log ? ' (log)' : ''}</text>`,
  );
  for (const r of spec.refs ?? []) {
    const y = Y(r.y);
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#d62728" stroke-dasharray="6 4"/>`,
      `<text x="${m.l + pw - 4}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#d62728">${esc(r.label)}</text>`,
    );
  }
  let lx = m.l;
  let lastRow = 0;
  for (const [i, s] of spec.series.entries()) {
    const r = legendRows[i] ?? 0;
    if (r !== lastRow) {
      lastRow = r;
      lx = m.l;
    }
    const legendY = m.t + ph + 46 + r * 16;
    const color = PALETTE[i % PALETTE.length]!;
    const valid = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (valid.length === 0) continue;
    const d = valid.map(([x, y], j) => `${j ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    if (valid.length === 1)
      parts.push(
        `<circle cx="${X(valid[0]![0]).toFixed(1)}" cy="${Y(valid[0]![1]).toFixed(1)}" r="3" fill="${color}"/>`,
      );
    parts.push(
      `<rect x="${lx}" y="${legendY}" width="10" height="10" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${legendY + 9}" font-size="10">${esc(s.name)}</text>`,
    );
    lx += 24 + s.name.length * 6;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" font-family="sans-serif">${parts.join('')}</svg>`;
}
