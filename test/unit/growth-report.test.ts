import { describe, expect, it } from 'vitest';
import { DEFAULT_PHASES, PHASES } from '../../loadtests/bench/phases/index.js';
import { sizes } from '../../loadtests/growth/context.js';
import {
  type Curve,
  curveCharts,
  curveRows,
  formatCell,
  renderHtml,
  renderTable,
} from '../../loadtests/growth/report.js';

const curve: Curve = {
  name: 'connections',
  title: 'Idle MQTT connections',
  xKey: 'conns',
  columns: [
    { key: 'conns', label: 'connections' },
    { key: 'rssMb', label: 'RSS MB', digits: 1 },
    { key: 'kbPerConn', label: 'kB/conn', digits: 1 },
  ],
  rows: [
    { conns: 1_000, rssMb: 120.44, kbPerConn: 30.1 },
    { conns: 50_000, rssMb: 1_610.5, kbPerConn: Number.NaN },
  ],
  charts: [{ title: 'RSS', yLabel: 'MB', keys: [{ key: 'rssMb', name: 'RSS <gateway>' }] }],
  notes: ['kB/conn: (RSS − RSS before) / connections'],
};

describe('growth report', () => {
  it('formats numbers with separators and fixed decimals, and a dash for missing or non-finite values', () => {
    expect(formatCell(1234567)).toBe('1,234,567');
    expect(formatCell(1.25, 1)).toBe('1.3');
    expect(formatCell(Number.NaN)).toBe('–');
    expect(formatCell(undefined)).toBe('–');
    expect(formatCell('refused')).toBe('refused');
  });

  it('renders a curve as an aligned text table with its notes', () => {
    const lines = renderTable(curve).split('\n');
    expect(lines).toEqual([
      '== Idle MQTT connections',
      'connections   RSS MB  kB/conn',
      '1,000          120.4     30.1',
      '50,000       1,610.5        –',
      '  kB/conn: (RSS − RSS before) / connections',
    ]);
  });

  it('draws one SVG per chart, with the size column as the x axis and only finite points', () => {
    const [svg, ...rest] = curveCharts(curve);
    expect(rest).toHaveLength(0);
    expect(svg).toContain('>connections</text>');
    expect(svg).not.toContain('time since start');
    // Two rows with a number for rssMb: one path with two points (M + L).
    expect(svg?.match(/<path d="M[^"]*L[^"L]*"/g)).toHaveLength(1);
    // x ticks are the sizes themselves (not divided by 1000).
    expect(svg).toContain('>50k</text>');
  });

  it('writes a self-contained page: method, machine, load, every table and chart, names escaped', () => {
    const html = renderHtml({
      title: 'tago-edge growth',
      machine: '2 cores',
      load: '0.10 → 1.90',
      method: 'loopback only',
      generatedAt: '2026-01-01T00:00:00Z',
      curves: [curve, { ...curve, name: 'registry', title: 'Registry size' }],
    });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('loopback only');
    expect(html).toContain('load average: 0.10 → 1.90');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html.match(/<table>/g)).toHaveLength(2);
    expect(html).toContain('RSS &lt;gateway&gt;');
    expect(html).not.toMatch(/<script|src=|href=/);
  });

  it("scales a curve's sizes, at least 1 each, without repeats, the --growth-full ones only when asked", () => {
    expect(sizes({ full: false, scale: 1 }, [1_000, 5_000], [100_000])).toEqual([1_000, 5_000]);
    expect(sizes({ full: true, scale: 0.02 }, [1_000, 5_000], [100_000])).toEqual([20, 100, 2_000]);
    // 1 and 20 parser files at 0.02 both round to one file: measured once.
    expect(sizes({ full: false, scale: 0.02 }, [1, 20, 200])).toEqual([1, 4]);
  });

  it('gives the bench one result row per finite figure, named by curve, size and column', () => {
    expect(curveRows(curve)).toEqual([
      { section: 'growth connections', target: 'connections 1,000', figure: 'RSS MB', value: 120.44, unit: '' },
      { section: 'growth connections', target: 'connections 1,000', figure: 'kB/conn', value: 30.1, unit: '' },
      { section: 'growth connections', target: 'connections 50,000', figure: 'RSS MB', value: 1_610.5, unit: '' },
    ]);
  });

  it('is a bench phase that runs only when --only names it', () => {
    expect(PHASES.map((p) => p.name)).toContain('growth');
    expect(DEFAULT_PHASES.map((p) => p.name)).not.toContain('growth');
    expect(DEFAULT_PHASES.map((p) => p.name)).toEqual(['mqtt', 'open', 'http', 'drain', 'memory']);
  });
});
