/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time, with
 * their share of the sampled time. Used by `run.ts --profile`; also runnable alone:
 *   node dist/loadtests/bench/cpu-profile-summary.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  fn: string;
  where: string;
  ms: number;
  share: number;
}

export function topSelfTime(file: string, top = 25): SelfTime[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i] ?? 0));
  }
  const agg = new Map<string, SelfTime>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    const fn = n.callFrame.functionName || '(anonymous)';
    const where = url ? `${url}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${fn} ${where}`;
    const e = agg.get(key) ?? { fn, where, ms: 0, share: 0 };
    e.ms += us / 1000;
    agg.set(key, e);
  }
  const list = [...agg.values()].sort((a, b) => b.ms - a.ms).slice(0, top);
  for (const e of list) e.share = total > 0 ? (e.ms * 1000) / total : 0;
  return list;
}

export function formatSelfTime(list: SelfTime[]): string {
  return list
    .map((e) => `${(e.share * 100).toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.fn}  ${e.where}`)
    .join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: cpu-profile-summary FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const i = process.argv.indexOf('--top');
  console.log(formatSelfTime(topSelfTime(file, i >= 0 ? Number(process.argv[i + 1]) : 25)));
}
