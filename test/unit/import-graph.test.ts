/**
 * How the product's parts depend on each other, read from every TypeScript source's relative import
 * specifiers: the parser sandbox depends on no other part (it once imported gateway/'s error catalogue while
 * gateway/ ran the parser host: a cycle), no cycle passes through it, the gateway never imports the
 * load-test harness or the CLI, and no two top-level folders depend on each other at all (loadtests/ once
 * took the CLI's usage error and certificate code while the CLI's `loadtest` command ran loadtests/).
 * test/ is left out: its helpers may use any part.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
/** Every top-level folder holding TypeScript sources, but the tests (and what is built or installed). */
const PARTS = readdirSync(ROOT).filter(
  (name) =>
    !['test', 'node_modules', 'dist', 'coverage'].includes(name) &&
    !name.startsWith('.') &&
    statSync(join(ROOT, name)).isDirectory() &&
    sources(join(ROOT, name)).length > 0,
);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Folder → the other top-level folders its sources import. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>(PARTS.map((p) => [p, new Set<string>()]));
  for (const part of PARTS) {
    for (const file of sources(join(ROOT, part))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(ROOT, resolve(dirname(file), m[1] as string)).split(sep)[0] as string;
        if (target !== part && graph.has(target)) graph.get(part)?.add(target);
      }
    }
  }
  return graph;
}

/** Each cycle between folders, as "a -> b -> a". */
function cycles(graph: Map<string, Set<string>>): string[] {
  const found: string[] = [];
  const walk = (node: string, path: string[]): void => {
    for (const next of graph.get(node) ?? []) {
      if (next === path[0]) found.push([...path, next].join(' -> '));
      else if (!path.includes(next) && next > (path[0] as string)) walk(next, [...path, next]);
    }
  };
  for (const start of graph.keys()) walk(start, [start]);
  return found;
}

describe('import graph between the product parts', () => {
  it('keeps parsers/ free of every other part, so no cycle passes through it', () => {
    const graph = folderGraph();
    expect([...(graph.get('parsers') ?? [])]).toEqual([]);
    expect(cycles(graph).filter((c) => c.includes('parsers'))).toEqual([]);
  });

  it('keeps gateway/ free of the load-test harness and the CLI', () => {
    const gateway = folderGraph().get('gateway');
    expect(gateway?.has('loadtests')).toBe(false);
    expect(gateway?.has('cli')).toBe(false);
  });

  it('has no cycle between any two top-level folders', () => {
    expect(PARTS).toEqual(expect.arrayContaining(['cli', 'gateway', 'loadtests', 'parsers', 'simulators']));
    expect(cycles(folderGraph())).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(cycles(graph)).toEqual(['a -> b -> c -> a']);
    const pair = new Map([
      ['cli', new Set(['loadtests'])],
      ['loadtests', new Set(['cli'])],
    ]);
    expect(cycles(pair)).toEqual(['cli -> loadtests -> cli']);
  });
});
