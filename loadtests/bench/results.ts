/**
 * What a bench phase measures: rows (one figure of one system in one scenario) and verdicts (a target met or
 * not). A phase collects its own and returns them; the driver (run.ts) prints and writes them all. Each row
 * is logged to stderr as it is measured, so a long run shows progress.
 */
import type { Inside } from './gateway-inside.js';

export interface Row {
  section: string;
  target: string;
  figure: string;
  value: number;
  unit: string;
  /** Points answered per second, where a message carries more than one figure's worth (the cluster phase). */
  pointsPerSec?: number;
  p50?: number;
  p99?: number;
  floor?: string;
  ratio?: number;
  /** CPU of the system under test per message (all its threads), µs; and the machine's busy share. */
  cpuUsPerMsg?: number;
  machineBusyPct?: number;
  /**
   * The system under test's main thread in the window: % of the time on a CPU, and % runnable but waiting
   * for one (the two cores are shared). Their sum near 100 % means it never idles: it, or the cores, are the bound.
   */
  mainRunPct?: number;
  mainWaitPct?: number;
  /** The gateway's own view of the window (its /metrics): mean arrival → acknowledgement, parser stage, commits/s. */
  inside?: Inside;
}

export interface Verdict {
  target: string;
  measured: string;
  pass: boolean;
}

export interface PhaseResult {
  rows: Row[];
  verdicts: Verdict[];
}

export const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** e.g. "6.9 ms (parser 3.4 ms), 245 commits/s". */
function insideText(i: Inside): string {
  const parser = Number.isNaN(i.parserMs) ? '' : ` (parser ${fmt(i.parserMs, 1)} ms)`;
  return `${fmt(i.ackMs, 1)} ms${parser}, ${fmt(i.commitsPerSec)} commits/s`;
}

/** "on-CPU+waiting %" of the main thread, e.g. "66+26 %". */
export function mainShare(r: Row): string {
  if (r.mainRunPct === undefined || Number.isNaN(r.mainRunPct)) return '';
  return `${fmt(r.mainRunPct)}+${fmt(r.mainWaitPct ?? Number.NaN)} %`;
}

/** A phase's rows and verdicts as it measures them; `label` (e.g. "baseline v1.2") prefixes its log lines. */
export function collector(label = ''): PhaseResult & {
  addRow(r: Row): void;
  verdict(target: string, measured: string, pass: boolean): void;
} {
  const rows: Row[] = [];
  const verdicts: Verdict[] = [];
  const prefix = label ? `[${label}] ` : '';
  return {
    rows,
    verdicts,
    addRow(r) {
      rows.push(r);
      const lat = r.p99 !== undefined ? `  p50 ${fmt(r.p50 ?? 0, 1)} ms  p99 ${fmt(r.p99, 1)} ms` : '';
      const ratio = r.ratio !== undefined ? `  = ${fmt(r.ratio * 100, 0)} % of ${r.floor}` : '';
      const cpu = r.cpuUsPerMsg !== undefined ? `  cpu ${fmt(r.cpuUsPerMsg, 1)} µs/msg` : '';
      const main = r.mainRunPct !== undefined ? `  main thread ${mainShare(r)}` : '';
      const inside = r.inside ? `  inside: ack ${insideText(r.inside)}` : '';
      log(`${prefix}${r.section} ${r.target}: ${fmt(r.value)} ${r.unit}${lat}${ratio}${cpu}${main}${inside}`);
    },
    verdict(target, measured, pass) {
      verdicts.push({ target, measured, pass });
    },
  };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** The table of rows as the bench prints it (header line first). */
export function rowTable(rows: readonly Row[]): string[] {
  const out = [
    `${'scenario'.padEnd(30)} ${'system'.padEnd(10)} ${'figure'.padStart(12)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'cpu µs/msg'.padStart(10)} ${'busy'.padStart(5)} ${'main'.padStart(9)}  ratio`,
  ];
  for (const r of rows) {
    const cpu = r.cpuUsPerMsg !== undefined ? fmt(r.cpuUsPerMsg, 1).padStart(10) : ' '.repeat(10);
    const busy = r.machineBusyPct !== undefined ? `${fmt(r.machineBusyPct)} %`.padStart(5) : ' '.repeat(5);
    const main = mainShare(r).padStart(9);
    out.push(
      `${r.section.padEnd(30)} ${r.target.padEnd(10)} ${fmt(r.value, r.figure === 'p99' ? 1 : 0).padStart(12)} ${r.p50 !== undefined ? fmt(r.p50, 1).padStart(8) : '        '} ${r.p99 !== undefined ? fmt(r.p99, 1).padStart(8) : '        '} ${cpu} ${busy} ${main}  ${r.ratio !== undefined ? `${fmt(r.ratio * 100)} % of ${r.floor}` : ''}  ${r.unit}`,
    );
  }
  return out;
}
