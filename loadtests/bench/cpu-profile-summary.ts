/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time, and the
 * source files with the most inclusive time (a sample counts once for every file on its stack, so a
 * file's share includes what it calls: `pipeline.js` 30 % means 30 % of the samples were under it).
 * Shares are of the sampled time, idle included. Used by `run.ts --profile`; also runnable alone:
 *   node dist/loadtests/bench/cpu-profile-summary.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
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
    const url = shortUrl(n.callFrame.url);
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

export interface FileTime {
  file: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
}

/**
 * Inclusive time per source file (and per V8 pseudo-frame such as `(garbage collector)`), as a share of
 * the busy (non-idle) time: the gateway idles while the floors are measured, which would dilute it.
 */
export function topFileTime(file: string, top = 25): FileTime[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The set of files on each node's stack, computed once per node.
  const filesOf = new Map<number, string[]>();
  const stackFiles = (id: number): string[] => {
    const cached = filesOf.get(id);
    if (cached) return cached;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const name = n.callFrame.url ? shortUrl(n.callFrame.url) : n.callFrame.functionName;
      if (name && name !== '(root)') seen.add(name);
    }
    const list = [...seen];
    filesOf.set(id, list);
    return list;
  };
  const us = new Map<string, number>();
  let busy = 0;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const d = Math.max(0, deltas[i] ?? 0);
    const files = stackFiles(samples[i] as number);
    if (files.length === 1 && files[0] === '(idle)') continue;
    busy += d;
    for (const f of files) us.set(f, (us.get(f) ?? 0) + d);
  }
  return [...us]
    .map(([f, t]) => ({ file: f, ms: t / 1000, share: busy > 0 ? t / busy : 0 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
}

export function formatFileTime(list: FileTime[]): string {
  return list
    .map((e) => `${(e.share * 100).toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.file}`)
    .join('\n');
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
  const top = i >= 0 ? Number(process.argv[i + 1]) : 25;
  console.log('top self time');
  console.log(formatSelfTime(topSelfTime(file, top)));
  console.log('\ninclusive time per source file (share of busy time)');
  console.log(formatFileTime(topFileTime(file, top)));
}
