/** (c) drain: a `--drain-points` backlog written into a store file, then forwarded to cloud-sim by a fresh gateway. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TARGETS, waitForEmptyQueue } from '../context.js';
import type { fillBacklog as FillBacklog } from '../fill-backlog.js';
import { collector, fmt, log } from '../results.js';
import type { Phase } from './phase.js';

export const drainPhase: Phase = {
  name: 'drain',
  about: 'drain: points/s forwarding a --drain-points backlog from the store to cloud-sim',
  sharedGateway: false,
  async run(ctx) {
    const out = collector(ctx.label);
    const { drainPoints, drainDevices } = ctx.opts;
    const ddir = join(ctx.dir, 'drain');
    mkdirSync(join(ddir, 'data'), { recursive: true });
    log(`drain: writing a ${fmt(drainPoints)}-point backlog over ${drainDevices} devices`);
    const t0 = performance.now();
    // Written by the measured tree's own store code: a baseline tree opens only the schema it knows.
    const module = pathToFileURL(join(ctx.root, 'dist/loadtests/bench/fill-backlog.js')).href;
    const { fillBacklog } = (await import(module)) as { fillBacklog: typeof FillBacklog };
    const { bytes } = await fillBacklog(join(ddir, 'data', 'tago-edge.db'), drainPoints, drainDevices);
    log(`drain: backlog written in ${fmt((performance.now() - t0) / 1000, 1)} s (${fmt(bytes / 1024 ** 2, 0)} MB)`);
    const t1 = performance.now();
    const gw = await ctx.startGateway(ddir);
    const started = performance.now();
    const http = `http://127.0.0.1:${gw.ports.http}`;
    const { initial, left: depth } = await waitForEmptyQueue(http, 600_000);
    const seconds = (performance.now() - started) / 1000;
    const perSec = (initial - depth) / seconds;
    await gw.stop();
    out.addRow({
      section: 'drain',
      target: 'gateway',
      figure: 'points/s',
      value: perSec,
      unit: `points/s (${fmt(initial)} points in ${fmt(seconds, 1)} s, startup ${fmt((started - t1) / 1000, 1)} s, ${fmt(depth)} left)`,
    });
    out.verdict(
      `drain of a ${fmt(drainPoints)}-point backlog ≥ ${fmt(TARGETS.drainPerSec)} points/s`,
      `${fmt(perSec)} points/s`,
      perSec >= TARGETS.drainPerSec && depth === 0,
    );
    return out;
  },
};
