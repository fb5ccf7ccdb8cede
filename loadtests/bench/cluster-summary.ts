/**
 * The cluster phase's summary: from its rows (one per system and scenario, `… #N` per repeated run), a table of
 * msg/s, points/s and publish→ack p50/p99 per system (the median of the runs), and three ratios per scenario,
 * each the median of the runs' ratios (a run's figures are measured one after another, so a run's ratio is
 * one machine state's): the gateway on JetStream R1 over the bare publish loop on R1, the same at R3, and the
 * gateway on R3 over the gateway on SQLite.
 */
import { fmt, median, type Row } from './results.js';

/** The systems of the phase, in the order they are measured and printed. */
export const SYSTEMS = {
  sqlite: 'gw sqlite',
  floorR1: 'nats R1',
  gwR1: 'gw R1',
  floorR3: 'nats R3',
  gwR3: 'gw R3',
} as const;

export interface ClusterRatios {
  /** The section without its run suffix, e.g. "cluster mqtt json1 50c". */
  scenario: string;
  r1: number[];
  r3: number[];
  r3VsSqlite: number[];
}

const scenarioOf = (section: string) => section.replace(/ #\d+$/, '');
const runOf = (section: string) => Number(/ #(\d+)$/.exec(section)?.[1] ?? 1);

/** Scenarios in the order their rows come, each with its rows grouped by run. */
function byScenario(rows: readonly Row[]): Map<string, Map<number, Map<string, Row>>> {
  const out = new Map<string, Map<number, Map<string, Row>>>();
  for (const r of rows) {
    const s = scenarioOf(r.section);
    const runs = out.get(s) ?? new Map<number, Map<string, Row>>();
    out.set(s, runs);
    const run = runs.get(runOf(r.section)) ?? new Map<string, Row>();
    runs.set(runOf(r.section), run);
    run.set(r.target, r);
  }
  return out;
}

/** Each run's three ratios per scenario; a run missing one of a ratio's two systems adds none to it. */
export function clusterRatios(rows: readonly Row[]): ClusterRatios[] {
  const out: ClusterRatios[] = [];
  for (const [scenario, runs] of byScenario(rows)) {
    const c: ClusterRatios = { scenario, r1: [], r3: [], r3VsSqlite: [] };
    const push = (into: number[], run: Map<string, Row>, num: string, den: string) => {
      const a = run.get(num)?.value;
      const b = run.get(den)?.value;
      if (a !== undefined && b) into.push(a / b);
    };
    for (const run of runs.values()) {
      push(c.r1, run, SYSTEMS.gwR1, SYSTEMS.floorR1);
      push(c.r3, run, SYSTEMS.gwR3, SYSTEMS.floorR3);
      push(c.r3VsSqlite, run, SYSTEMS.gwR3, SYSTEMS.sqlite);
    }
    out.push(c);
  }
  return out;
}

/** "45 %" for one run, "45 % (41, 45, 52)" for several; "" for none. */
export function ratioText(ratios: readonly number[]): string {
  if (ratios.length === 0) return '';
  const m = `${fmt(median(ratios) * 100)} %`;
  return ratios.length === 1 ? m : `${m} (${ratios.map((r) => fmt(r * 100)).join(', ')})`;
}

/** The printed table: per scenario, per system the median over runs; then the ratios. */
export function clusterTable(rows: readonly Row[]): string[] {
  const scenarios = byScenario(rows);
  if (scenarios.size === 0) return [];
  const runs = Math.max(...[...scenarios.values()].map((r) => r.size));
  const out = [
    `cluster: one gateway node on each store, and the bare JetStream publish-ack loop with the same shape${runs > 1 ? ` (median of ${runs} alternating runs)` : ''}`,
    `${'scenario'.padEnd(24)} ${'system'.padEnd(10)} ${'msg/s'.padStart(9)} ${'points/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
  ];
  for (const [scenario, byRun] of scenarios) {
    for (const system of Object.values(SYSTEMS)) {
      const rs = [...byRun.values()].flatMap((run) => run.get(system) ?? []);
      if (rs.length === 0) continue;
      const med = (f: (r: Row) => number | undefined) => median(rs.map((r) => f(r) ?? Number.NaN));
      // A latency of 0 is an empty histogram: nothing sent inside the window was answered inside it.
      const ms = (v: number) => (v > 0 ? fmt(v, 1) : '> window');
      const msgs = fmt(med((r) => r.value));
      const points = fmt(med((r) => r.pointsPerSec ?? r.value));
      out.push(
        `${scenario.padEnd(24)} ${system.padEnd(10)} ${msgs.padStart(9)} ${points.padStart(9)} ${ms(med((r) => r.p50)).padStart(8)} ${ms(med((r) => r.p99)).padStart(8)}`,
      );
    }
  }
  out.push(
    '',
    `${'scenario'.padEnd(24)} ${'gw R1 / nats R1'.padEnd(22)} ${'gw R3 / nats R3'.padEnd(22)} gw R3 / gw sqlite`,
  );
  for (const c of clusterRatios(rows)) {
    out.push(
      `${c.scenario.padEnd(24)} ${ratioText(c.r1).padEnd(22)} ${ratioText(c.r3).padEnd(22)} ${ratioText(c.r3VsSqlite)}`,
    );
  }
  return out;
}
