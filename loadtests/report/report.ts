/** report.json: the stable, machine-readable result of a gate run (the HTML is drawn from it). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult } from '../scenarios/context.js';
import type { Slos } from '../slo.js';
import type { Timeline } from '../timeline.js';
import type { Verdict } from '../verdict.js';
import { renderHtml } from './html.js';

export interface Report {
  version: 1;
  startedAt: string;
  endedAt: string;
  elapsedMs: number;
  machine: { cpus: number; cpuModel: string; memoryMb: number; node: string; platform: string };
  target: { mode: 'local' | 'remote'; http: string | undefined; mqtt: string | undefined; readUrl: string | undefined };
  settings: {
    scenarios: string[];
    quick: boolean;
    speedup: number;
    durationMs: number | undefined;
    memoryLimitMb: number;
  };
  slos: Slos;
  verdict: Verdict;
  scenarios: ScenarioResult[];
  /** Notes the table has no room for (e.g. the ladder's cross-check). */
  notes: string[];
  timeline: Pick<Timeline, 'latency' | 'throughput' | 'samples' | 'phases'>;
}

export function writeReport(dir: string, report: Report): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
