/**
 * The go-live gate: start (or point at) a target, run the scenarios in order, judge every SLO, write
 * `report.json` and `report.html`. The verdict passes only when no check fails.
 *
 *   local stack (cloud-sim + gateway processes) ─▶ sampler (gateway /metrics, 1 s)
 *     ─▶ http-ladder ─▶ settle ─▶ sizing ─▶ settle ─▶ headroom ─▶ settle ─▶ outage [─▶ soak]
 *     ─▶ verdict ─▶ report
 *
 * "Settle" waits for the gateway's store to empty between scenarios, so one scenario's backlog is not
 * charged to the next.
 */
import { cpus, totalmem } from 'node:os';
import { Progress } from './progress.js';
import { type Report, writeReport } from './report/report.js';
import { Sampler } from './sampler.js';
import type { Ctx, RunSettings, ScenarioName, ScenarioResult, Target } from './scenarios/context.js';
import { type Agreement, describeAgreement } from './scenarios/cross-check.js';
import { headroom } from './scenarios/headroom.js';
import { httpLadder } from './scenarios/http-ladder.js';
import { outage } from './scenarios/outage.js';
import { sizing } from './scenarios/sizing.js';
import { soak } from './scenarios/soak.js';
import type { Slos } from './slo.js';
import { type LocalStack, startLocalStack } from './stack.js';
import { Timeline } from './timeline.js';
import { verdictOf } from './verdict.js';

export interface GateOptions extends RunSettings {
  scenarios: ScenarioName[];
  slos: Slos;
  reportDir: string;
  outageWindowMs: number;
  /** Remote mode when either is set: nothing is started locally. */
  targetHttp: string | undefined;
  targetMqtt: string | undefined;
  tokens: string[] | undefined;
  readUrl: string | undefined;
  /** Gateway `upstream.requestsPerMinute` for the local stack. */
  upstreamRpm: number;
  quiet?: boolean;
}

export interface GateResult {
  report: Report;
  files: { json: string; html: string };
}

async function settle(ctx: Ctx, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const depth = await ctx.sampler.depth();
    if (depth === undefined || depth === 0) return;
    if (Date.now() >= deadline) {
      ctx.progress.log(`settle: store still holds ${depth} points after ${maxMs / 1000} s; going on`);
      return;
    }
    ctx.progress.status(`settle: ${depth} points still to deliver`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function runGate(o: GateOptions): Promise<GateResult> {
  const progress = new Progress({ quiet: o.quiet ?? false });
  const timeline = new Timeline();
  const startedAt = new Date();
  const remote = o.targetHttp !== undefined || o.targetMqtt !== undefined;
  let stack: LocalStack | undefined;
  let target: Target;
  if (remote) {
    target = {
      http: o.targetHttp,
      mqtt: o.targetMqtt,
      simUrl: undefined,
      readUrl: o.readUrl,
      tokens: o.tokens,
      gatewayPid: undefined,
      local: false,
    };
    progress.log(`target: ${[o.targetHttp, o.targetMqtt].filter(Boolean).join(' and ')} (nothing started locally)`);
  } else {
    progress.log('starting the local stack: cloud-sim and gateway as separate processes');
    stack = await startLocalStack({ requestsPerMinute: o.upstreamRpm });
    target = {
      http: stack.http,
      mqtt: stack.mqtt,
      simUrl: stack.simUrl,
      readUrl: undefined,
      tokens: o.tokens,
      gatewayPid: stack.gatewayPid,
      local: true,
    };
    progress.log(
      `gateway ${stack.http} ${stack.mqtt} (pid ${stack.gatewayPid}), cloud-sim ${stack.simUrl}, upstream limit ${o.upstreamRpm}/min`,
    );
  }
  const sampler = new Sampler(
    timeline,
    target.http ? `${target.http.replace(/\/+$/, '')}/metrics` : undefined,
    target.gatewayPid,
  );
  sampler.start(1_000);
  const ctx: Ctx = {
    target,
    settings: { quick: o.quick, speedup: o.speedup, durationMs: o.durationMs, memoryLimitMb: o.memoryLimitMb },
    slos: o.slos,
    timeline,
    sampler,
    progress,
  };
  const settleMs = o.quick ? 10_000 : 30_000;
  const results: ScenarioResult[] = [];
  try {
    for (const name of o.scenarios) {
      const result = await runScenario(ctx, name, o, () => settle(ctx, settleMs));
      if (result.skipped) progress.log(`${name}: skipped: ${result.skipped}`);
      results.push(result);
      await settle(ctx, settleMs);
    }
  } finally {
    sampler.stop();
    await stack?.stop();
  }
  const checks = results.flatMap((r) => r.checks);
  const verdict = verdictOf(checks);
  const notes: string[] = [];
  const ladder = results.find((r) => r.name === 'http-ladder')?.data.crossCheck as Record<string, unknown> | undefined;
  if (ladder && 'tool' in ladder) {
    notes.push(`http-ladder cross-check at 50 connections: ${describeAgreement(ladder as Partial<Agreement>)}`);
  } else if (ladder && 'error' in ladder) notes.push(`http-ladder cross-check: ${ladder.error}`);
  const hr = results.find((r) => r.name === 'headroom')?.data;
  if (hr && typeof hr.ratio === 'number') {
    notes.push(
      `headroom: ${hr.ratio.toFixed(0)}× the sizing target (100,000 points/day)${hr.lowerBound ? ', a lower bound: no step broke' : ''}`,
    );
  }
  for (const r of results) if (r.skipped) notes.push(`${r.name}: skipped: ${r.skipped}`);
  const cpu = cpus();
  const report: Report = {
    version: 1,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    elapsedMs: Date.now() - startedAt.getTime(),
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? 'unknown',
      memoryMb: Math.round(totalmem() / 1_048_576),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    target: { mode: remote ? 'remote' : 'local', http: target.http, mqtt: target.mqtt, readUrl: target.readUrl },
    settings: {
      scenarios: o.scenarios,
      quick: o.quick,
      speedup: o.speedup,
      durationMs: o.durationMs,
      memoryLimitMb: o.memoryLimitMb,
    },
    slos: o.slos,
    verdict,
    scenarios: results,
    notes,
    timeline: {
      latency: timeline.latency,
      throughput: timeline.throughput,
      samples: timeline.samples,
      phases: timeline.phases,
    },
  };
  const files = writeReport(o.reportDir, report);
  return { report, files };
}

function runScenario(
  ctx: Ctx,
  name: ScenarioName,
  o: GateOptions,
  settleFn: () => Promise<void>,
): Promise<ScenarioResult> {
  switch (name) {
    case 'http-ladder':
      return httpLadder(ctx);
    case 'sizing':
      return sizing(ctx);
    case 'headroom':
      return headroom(ctx, settleFn);
    case 'outage':
      return outage(ctx, o.outageWindowMs);
    case 'soak':
      return soak(ctx);
  }
}
