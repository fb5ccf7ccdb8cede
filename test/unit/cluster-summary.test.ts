import { describe, expect, it } from 'vitest';
import { clusterRatios, clusterTable, ratioText, SYSTEMS } from '../../loadtests/bench/cluster-summary.js';
import { DEFAULT_PHASES, PHASES } from '../../loadtests/bench/phases/index.js';
import type { Row } from '../../loadtests/bench/results.js';

const row = (section: string, target: string, value: number, p99 = 10): Row => ({
  section,
  target,
  figure: 'msgs/s',
  value,
  pointsPerSec: value,
  unit: 'msg/s',
  p50: p99 / 2,
  p99,
});

/** One run of the phase's five systems in one scenario. */
const run = (section: string, [sqlite, f1, g1, f3, g3]: number[]): Row[] => [
  row(section, SYSTEMS.sqlite, sqlite as number),
  row(section, SYSTEMS.floorR1, f1 as number),
  row(section, SYSTEMS.gwR1, g1 as number),
  row(section, SYSTEMS.floorR3, f3 as number),
  row(section, SYSTEMS.gwR3, g3 as number),
];

describe('cluster summary', () => {
  it("takes each run's ratios within that run, per scenario, in the rows' order", () => {
    const rows = [
      ...run('cluster mqtt json1 50c #1', [20_000, 10_000, 5_000, 8_000, 2_000]),
      ...run('cluster http 100c #1', [10_000, 10_000, 2_000, 10_000, 1_000]),
      ...run('cluster mqtt json1 50c #2', [10_000, 20_000, 5_000, 4_000, 2_000]),
    ];
    expect(clusterRatios(rows)).toEqual([
      { scenario: 'cluster mqtt json1 50c', r1: [0.5, 0.25], r3: [0.25, 0.5], r3VsSqlite: [0.1, 0.2] },
      { scenario: 'cluster http 100c', r1: [0.2], r3: [0.1], r3VsSqlite: [0.1] },
    ]);
  });

  it('adds no ratio for a run missing one of its two systems, or with a zero floor', () => {
    const rows = [
      row('cluster http 100c', SYSTEMS.gwR1, 1_000),
      row('cluster http 100c', SYSTEMS.floorR3, 0),
      row('cluster http 100c', SYSTEMS.gwR3, 500),
    ];
    expect(clusterRatios(rows)).toEqual([{ scenario: 'cluster http 100c', r1: [], r3: [], r3VsSqlite: [] }]);
  });

  it('prints the median of the runs and each run for several, the one figure for one', () => {
    expect(ratioText([0.5])).toBe('50 %');
    expect(ratioText([0.25, 0.5, 0.3])).toBe('30 % (25, 50, 30)');
    expect(ratioText([])).toBe('');
  });

  it('prints a line per system with the median of its runs, then the ratios; an empty window as such', () => {
    const rows = [
      ...run('cluster mqtt json1 50c #1', [20_000, 10_000, 5_000, 8_000, 2_000]),
      ...run('cluster mqtt json1 50c #2', [10_000, 20_000, 5_000, 4_000, 2_000]),
      ...run('cluster mqtt json1 50c #3', [30_000, 30_000, 6_000, 6_000, 3_000]),
    ];
    rows.push({ ...row('cluster http 100c', SYSTEMS.gwR3, 225, 0), p50: 0 });
    const lines = clusterTable(rows);
    expect(lines[0]).toContain('median of 3 alternating runs');
    expect(lines.find((l) => l.includes(SYSTEMS.sqlite))).toMatch(
      /cluster mqtt json1 50c\s+gw sqlite\s+20,000\s+20,000\s+5\.0\s+10\.0$/,
    );
    expect(lines.find((l) => l.startsWith('cluster http 100c'))).toMatch(/gw R3\s+225\s+225\s+> window\s+> window$/);
    const ratios = lines.find((l) => l.startsWith('cluster mqtt json1 50c') && l.includes('%'));
    expect(ratios).toBe(
      `${'cluster mqtt json1 50c'.padEnd(24)} ${'25 % (50, 25, 20)'.padEnd(22)} ${'50 % (25, 50, 50)'.padEnd(22)} 10 % (10, 20, 10)`,
    );
    expect(clusterTable([])).toEqual([]);
  });

  it('is a bench phase that runs only when --only names it', () => {
    expect(PHASES.map((p) => p.name)).toContain('cluster');
    expect(DEFAULT_PHASES.map((p) => p.name)).not.toContain('cluster');
  });
});
