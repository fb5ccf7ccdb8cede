/** (a, open model) The shared gateway at `--rate` points/s, latency from the scheduled send time. */
import { settle, TARGETS } from '../context.js';
import { collector, fmt } from '../results.js';
import { openLoad } from './open-load.js';
import type { Phase } from './phase.js';

export const openPhase: Phase = {
  name: 'open',
  about: 'MQTT open model: publish→PUBACK p99 at --rate points/s, 500 connections',
  sharedGateway: true,
  async run(ctx) {
    const out = collector(ctx.label);
    const gw = await ctx.sharedGateway();
    const rate = ctx.opts.rate;
    await settle(`http://127.0.0.1:${gw.ports.http}`);
    const r = await openLoad(`mqtt://127.0.0.1:${gw.ports.mqtt}`, ctx.opts);
    out.addRow({
      section: `mqtt open-model ${fmt(rate)}/s 500c`,
      target: 'gateway',
      figure: 'p99',
      value: r.p99Ms,
      unit: `ms p99 publish→PUBACK from the scheduled time (p50 ${fmt(r.p50Ms, 1)}, p99.9 ${fmt(r.p999Ms, 1)}, max ${fmt(r.maxMs, 1)} ms; ${fmt(r.acked)} acked, ${r.unanswered ?? 0} unanswered)`,
    });
    out.verdict(
      `publish→PUBACK p99 ≤ ${TARGETS.p99Ms} ms at ${fmt(rate)} points/s (open model)`,
      `p99 ${fmt(r.p99Ms, 1)} ms`,
      r.p99Ms <= TARGETS.p99Ms && (r.unanswered ?? 0) === 0,
    );
    return out;
  },
};
