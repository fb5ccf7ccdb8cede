/** (d) memory: a fresh gateway's RSS with `--idle-conns` idle MQTT connections, then after `--soak-minutes` at `--rate`. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { rssMb } from '../../lib/processes.js';
import { TARGETS } from '../context.js';
import { closeIdle, openIdle } from '../idle-connections.js';
import { collector, fmt, log } from '../results.js';
import { openLoad } from './open-load.js';
import type { Phase } from './phase.js';

export const memoryPhase: Phase = {
  name: 'memory',
  about: 'memory: gateway RSS with --idle-conns idle MQTT connections, then after --soak-minutes at --rate',
  sharedGateway: false,
  async run(ctx) {
    const out = collector(ctx.label);
    const { idleConns, soakMinutes, rate } = ctx.opts;
    const mdir = join(ctx.dir, 'memory');
    mkdirSync(mdir, { recursive: true });
    const gw = await ctx.startGateway(mdir);
    const port = Number(gw.ports.mqtt);
    await new Promise((r) => setTimeout(r, 1_000));
    const base = rssMb(gw.pid);
    log(`memory: opening ${fmt(idleConns)} idle MQTT connections`);
    const idle = await openIdle(port, idleConns, (i) => `bench-idle-${i}`);
    await new Promise((r) => setTimeout(r, 3_000));
    const withIdle = rssMb(gw.pid);
    out.addRow({
      section: 'memory',
      target: 'gateway',
      figure: 'RSS',
      value: withIdle,
      unit: `MB RSS with ${fmt(idleConns)} idle connections (${fmt(base)} MB before, ${fmt(((withIdle - base) * 1024) / idleConns, 1)} kB/conn)`,
    });
    out.verdict(
      `RSS with ${fmt(idleConns)} idle MQTT connections ≤ ${TARGETS.rssMb} MB`,
      `${fmt(withIdle)} MB`,
      withIdle <= TARGETS.rssMb,
    );
    if (soakMinutes > 0) {
      log(`memory: ${soakMinutes} min at ${fmt(rate)} points/s (500 more connections, idle ones kept open)`);
      let peak = withIdle;
      const r = await openLoad(`mqtt://127.0.0.1:${port}`, ctx.opts, soakMinutes, () => {
        peak = Math.max(peak, rssMb(gw.pid));
      });
      const after = rssMb(gw.pid);
      peak = Math.max(peak, after);
      out.addRow({
        section: 'memory',
        target: 'gateway',
        figure: 'RSS',
        value: after,
        unit: `MB RSS after ${soakMinutes} min at ${fmt(rate)} points/s (peak ${fmt(peak)} MB; p99 ${fmt(r.p99Ms, 1)} ms, max ${fmt(r.maxMs, 1)} ms, ${r.unanswered ?? 0} unanswered)`,
      });
      out.verdict(
        `RSS after ${soakMinutes} min at ${fmt(rate)} points/s ≤ ${TARGETS.rssMb} MB`,
        `${fmt(after)} MB (peak ${fmt(peak)})`,
        after <= TARGETS.rssMb,
      );
    }
    closeIdle(idle);
    await gw.stop();
    return out;
  },
};
