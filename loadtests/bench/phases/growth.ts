/**
 * (e) growth, opt-in (`--only growth`): how the gateway's cost grows with its work (loadtests/growth/): idle
 * connections, reconnect storm, registry size, parser files, backlog depth, points per message. Each curve
 * starts and stops its own gateways (forwarding to the context's cloud-sim); a table per curve goes to stdout
 * and one HTML page of SVG charts to `--growth-html` (its path is printed). It returns no rows: its figures
 * are curves, not the default run's targets.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runGrowth } from '../../growth/run-growth.js';
import { collector } from '../results.js';
import type { Phase } from './phase.js';

export const growthPhase: Phase = {
  name: 'growth',
  about:
    'growth curves: idle connections, reconnect storm, registry size, parser files, backlog depth, points per message (--growth-curves, --sizes-scale); an HTML page of charts',
  sharedGateway: false,
  optIn: true,
  async run(ctx) {
    const dir = join(ctx.dir, 'growth');
    mkdirSync(dir, { recursive: true });
    const g = ctx.opts.growth;
    await runGrowth({
      curves: g.curves,
      scale: g.scale,
      full: g.full,
      ...(g.htmlFile !== undefined ? { htmlFile: g.htmlFile } : {}),
      dir,
      simUrl: ctx.simUrl,
    });
    return collector(ctx.label);
  },
};
