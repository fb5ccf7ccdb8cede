/**
 * The self-contained HTML report: verdict, the SLO table, per-scenario figures and charts over time
 * (latency percentiles, throughput, gateway CPU, memory, store depth). Inline CSS and SVG only: no script,
 * no font, no fetch.
 */
import { type Agreement, describeAgreement } from '../scenarios/cross-check.js';
import type { runData } from '../scenarios/mixed-load.js';
import type { Report } from './report.js';
import { type Band, esc, lineChart, type Series } from './svg.js';

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

function table(head: string[], rows: Array<Array<string | number>>, cls = ''): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

const n = (v: unknown, digits = 1): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

function ladderSection(data: Record<string, unknown>): string {
  const steps = (data.steps ?? []) as Array<Record<string, number>>;
  const rows = steps.map((s) => [
    s.connections!,
    n(s.requestsPerSec, 0),
    n(s.p50, 2),
    n(s.p99, 2),
    n(s.p999, 2),
    n(s.max, 1),
    `${n((s.success ?? 0) * 100, 3)} %`,
    `${n((s.errorRate ?? 0) * 100, 3)} %`,
  ]);
  const cc = data.crossCheck as Record<string, unknown> | undefined;
  const ccText = !cc
    ? ''
    : 'error' in cc
      ? `<p>Cross-check: ${esc(String(cc.error))}</p>`
      : `<p>Cross-check at 50 connections: ${esc(describeAgreement(cc as Partial<Agreement>))}. Both are closed loops, so the generator that offers more load sees a longer queue.</p>`;
  return `${table(['connections', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'success', 'errors'], rows)}${ccText}`;
}

function runsSection(data: Record<string, unknown>): string {
  const runs = (data.runs ?? []) as Array<ReturnType<typeof runData>>;
  if (runs.length === 0) return '';
  const rows = runs.map((r) => [
    r.name,
    r.devices,
    n(r.targetPerSec, 1),
    n(r.achieved?.ackedPerSec, 1),
    r.counts?.acked ?? 0,
    r.counts?.errors ?? 0,
    r.counts?.unacked ?? 0,
    n(r.latencyFromSchedule?.p50, 1),
    n(r.latencyFromSchedule?.p99, 1),
    n(r.latencyFromSchedule?.p999, 1),
    n(r.latencyFromSend?.p99, 1),
  ]);
  return `${table(
    [
      'fleet',
      'devices',
      'target pts/s',
      'acked pts/s',
      'acked',
      'errors',
      'unacked',
      'p50 ms*',
      'p99 ms*',
      'p99.9 ms*',
      'p99 from send',
    ],
    rows,
  )}<p class="small">* from the scheduled send time (open model)</p>`;
}

function headroomSection(data: Record<string, unknown>): string {
  const steps = (data.steps ?? []) as Array<{
    multiplier: number;
    ratePerSec: number;
    achievedPerSec: number;
    pass: boolean;
  }>;
  const rows = steps.map((s) => [
    `×${s.multiplier}`,
    n(s.ratePerSec, 0),
    n(s.achievedPerSec, 0),
    s.pass ? 'pass' : 'BREAKS',
  ]);
  return `<p>Headroom ratio: <b>${n(data.ratio, 0)}×</b> the sizing target${data.lowerBound ? ' (lower bound: no step broke)' : ''}.</p>${table(['step', 'target pts/s', 'acked pts/s', 'result'], rows)}`;
}

function lossText(data: Record<string, unknown>): string {
  const loss = data.loss as Record<string, unknown> | undefined;
  if (!loss) return '';
  const lost = loss.lost === undefined ? 'not measured' : String(loss.lost);
  const e2e = data.endToEnd as Record<string, number> | string | undefined;
  const e2eText =
    e2e === undefined
      ? ''
      : typeof e2e === 'string'
        ? ` End-to-end: ${esc(e2e)}.`
        : ` End-to-end (schedule → cloud) p50 ${n(e2e.p50, 0)} ms, p99 ≤ ${n(e2e.p99, 0)} ms.`;
  const drain =
    data.drainMs === undefined ? '' : ` Drain after the upstream returned: ${n(data.drainMs as number, 0)} ms.`;
  return `<p>Acknowledged ${esc(String(loss.acked))}, lost <b>${esc(lost)}</b>, duplicates ${esc(String(loss.duplicates ?? 'not measured'))} (${esc(String(loss.method))}).${drain}${e2eText}</p>`;
}

export function renderHtml(r: Report): string {
  const bands: Band[] = r.timeline.phases.map((p) => ({ name: p.name, start: p.start, end: p.end }));
  const latBySeries = groupBy(r.timeline.latency, (p) => p.series);
  const latency = (k: 'p50' | 'p99'): Series[] =>
    [...latBySeries].map(([name, pts]) => ({
      name: `${name} ${k}`,
      points: pts.map((p) => [p.t, p[k]] as [number, number]),
    }));
  const tput: Series[] = [...groupBy(r.timeline.throughput, (p) => p.series)].map(([name, pts]) => ({
    name,
    points: pts.map((p) => [p.t, p.perSec] as [number, number]),
  }));
  const sample = (f: (s: Report['timeline']['samples'][number]) => number | undefined): Array<[number, number]> =>
    r.timeline.samples.flatMap((s) => {
      const v = f(s);
      return v === undefined ? [] : [[s.t, v] as [number, number]];
    });
  const charts = [
    lineChart({
      title: 'Latency p99 over time (per second; end-to-end per poll)',
      yLabel: 'ms',
      series: latency('p99'),
      bands,
      refs: [{ label: `SLO ${r.slos.latencyP99Ms} ms`, y: r.slos.latencyP99Ms }],
      log: true,
    }),
    lineChart({ title: 'Latency p50 over time', yLabel: 'ms', series: latency('p50'), bands, log: true }),
    lineChart({ title: 'Throughput (acknowledged per second)', yLabel: 'per second', series: tput, bands }),
    lineChart({
      title: 'Gateway CPU (% of one core)',
      yLabel: '%',
      series: [{ name: 'cpu', points: sample((s) => s.cpuPct) }],
      bands,
      refs: [{ label: `SLO ${r.slos.cpuAvgPctMax} % (average, sizing)`, y: r.slos.cpuAvgPctMax }],
    }),
    lineChart({
      title: 'Gateway resident memory (MB)',
      yLabel: 'MB',
      series: [{ name: 'rss', points: sample((s) => s.rssMb) }],
      bands,
      refs: [
        {
          label: `SLO ${r.slos.memoryPctMax} % of ${r.settings.memoryLimitMb} MB`,
          y: (r.slos.memoryPctMax / 100) * r.settings.memoryLimitMb,
        },
      ],
    }),
    lineChart({
      title: 'Store depth (points not yet delivered upstream)',
      yLabel: 'points',
      series: [{ name: 'depth', points: sample((s) => s.depthPoints) }],
      bands,
    }),
  ];
  const v = r.verdict;
  const statusCell = (s: string) => (s === 'pass' ? 'PASS' : s === 'fail' ? 'FAIL' : 'NOT MEASURED');
  const checkRows = v.checks
    .map(
      (c) =>
        `<tr class="${c.status}"><td>${esc(c.scenario)}</td><td>${esc(c.slo)}</td><td>${esc(c.target)}</td><td>${esc(c.measured)}</td><td class="st">${statusCell(c.status)}</td><td class="small">${esc(c.note ?? '')}</td></tr>`,
    )
    .join('');
  const sections = r.scenarios
    .map((s) => {
      const body = s.skipped
        ? `<p>Skipped: ${esc(s.skipped)}</p>`
        : s.name === 'http-ladder'
          ? ladderSection(s.data)
          : s.name === 'headroom'
            ? headroomSection(s.data)
            : runsSection(s.data) + lossText(s.data);
      return `<section><h3>${esc(s.name)}</h3>${body}</section>`;
    })
    .join('');
  const m = r.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tago-edge load test: ${v.pass ? 'PASS' : 'FAIL'}</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1160px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f4f4f4}
tr.pass td.st{color:#1a7f37;font-weight:bold}
tr.fail td{background:#fde8e8}
tr.fail td.st{color:#c62828;font-weight:bold}
tr.not-measured td.st{color:#8a6d00}
.banner{font-size:28px;font-weight:bold;padding:12px 16px;border-radius:6px;color:#fff;display:inline-block}
.banner.pass{background:#1a7f37}.banner.fail{background:#c62828}
.small{font-size:11px;color:#555}
svg{display:block;margin:12px 0}
</style></head><body>
<h1>tago-edge go-live load test</h1>
<div id="verdict" class="banner ${v.pass ? 'pass' : 'fail'}">VERDICT: ${v.pass ? 'PASS' : 'FAIL'}</div>
<p>${v.checks.length} checks, ${v.failed} failed, ${v.notMeasured} not measured. Started ${esc(r.startedAt)}, took ${n(r.elapsedMs / 1000, 0)} s.
Target: ${r.target.mode === 'local' ? 'local stack (cloud-sim + gateway as separate processes)' : `remote ${esc(r.target.http ?? '')} ${esc(r.target.mqtt ?? '')}`}.
Machine: ${m.cpus} × ${esc(m.cpuModel)}, ${m.memoryMb} MB, Node ${esc(m.node)}, ${esc(m.platform)}.</p>
<h2>SLOs</h2>
<table id="checks"><thead><tr><th>scenario</th><th>SLO</th><th>target</th><th>measured</th><th>result</th><th>note</th></tr></thead><tbody>${checkRows}</tbody></table>
${r.notes.length ? `<ul>${r.notes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}
<h2>Scenarios</h2>${sections}
<h2>Over time</h2>${charts.join('\n')}
<h2>Method</h2>
<ul class="small">
<li>Fleet scenarios are open-model: each simulated device sends on a wall-clock schedule and latency is measured from the scheduled time (HdrHistogram), so a stall shows in full.</li>
<li>The HTTP ladder is closed-loop (autocannon, one connection per client); autocannon's coordinated-omission correction is off because it assumes a 1 ms interval whatever the rate.</li>
<li>Loss is counted exactly: every acknowledged (sim_device, sim_seq) must be found upstream after a drain wait.</li>
<li>End-to-end latency is observed by polling the cloud simulator: an upper bound, at most one poll interval high.</li>
<li>Gateway CPU and memory are the gateway process's own (its /metrics), not the load generator's.</li>
</ul>
</body></html>
`;
}
