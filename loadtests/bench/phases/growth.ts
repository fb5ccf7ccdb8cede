/**
 * (e) growth, opt-in (`--only growth`): how the gateway's cost grows with its work (loadtests/growth/): idle
 * connections, reconnect storm, registry size, parser files, backlog depth, points per message. Each curve
 * starts and stops its own gateways (forwarding to the context's cloud-sim); a table per curve goes to stdout
 * and one HTML page of SVG charts to `--growth-html` (its path is printed). Its rows (one per figure of each
 * curve's table, report.ts curveRows) go to `--json` like every phase's; it has no verdicts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { curveRows } from '../../growth/report.js';
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
    const { curves } = await runGrowth({
      curves: g.curves,
      scale: g.scale,
      full: g.full,
      ...(g.htmlFile !== undefined ? { htmlFile: g.htmlFile } : {}),
      dir,
      simUrl: ctx.simUrl,
    });
    const out = collector(ctx.label);
    // Pushed, not addRow'd: each curve's table is already printed, one log line per cell would repeat it.
    for (const c of curves) out.rows.push(...curveRows(c));
    return out;
  },
};
