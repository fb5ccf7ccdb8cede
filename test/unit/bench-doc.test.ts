import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BenchJson, END, renderTable, replaceTable, START } from '../../loadtests/bench/update-bench-doc.js';

const ROOT = join(import.meta.dirname, '../..');

/** Two alternating runs of one MQTT scenario and one drain figure, in `npm run bench -- --json`'s shape. */
const bench: BenchJson = {
  machine: '2 × Test CPU, 24 GiB, Linux, Node v20',
  rows: [
    { section: 'mqtt json1 50c #1', target: 'mosquitto', figure: 'msg/s', value: 50_000, unit: 'msg/s', p99: 10 },
    {
      section: 'mqtt json1 50c #1',
      target: 'gateway',
      figure: 'msg/s',
      value: 45_000,
      unit: 'msg/s',
      p99: 20,
      floor: 'mosquitto',
      ratio: 0.9,
      cpuUsPerMsg: 18,
    },
    { section: 'mqtt json1 50c #2', target: 'mosquitto', figure: 'msg/s', value: 60_000, unit: 'msg/s', p99: 12 },
    {
      section: 'mqtt json1 50c #2',
      target: 'gateway',
      figure: 'msg/s',
      value: 48_000,
      unit: 'msg/s',
      p99: 22,
      floor: 'mosquitto',
      ratio: 0.8,
      cpuUsPerMsg: 20,
    },
    { section: 'drain', target: 'gateway', figure: 'points/s', value: 846_068, unit: 'points/s' },
    {
      section: 'memory',
      target: 'gateway',
      figure: 'RSS',
      value: 169,
      unit: 'MB RSS with 5,000 idle connections (16 kB/conn)',
    },
    {
      section: 'memory',
      target: 'gateway',
      figure: 'RSS',
      value: 200,
      unit: 'MB RSS after 1 min at 5,000 points/s (peak 217 MB)',
    },
  ],
  verdicts: [
    { target: 'MQTT json1 ≥ 50 % of mosquitto', measured: 'median of 2 runs 85 %', pass: true },
    { target: 'drain ≥ 20,000 points/s', measured: '846,068 points/s', pass: true },
  ],
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('bench:doc', () => {
  it('folds repeated runs into one line per scenario and system: median, range and each run’s ratio', () => {
    const table = renderTable(bench, 'abc1234', '2026-12-06');
    expect(table).toContain('Measured at `abc1234` on 2026-12-06, median of 2 alternating runs');
    expect(table).toContain(
      '| mqtt json1 50c | gateway | 46,500 (45,000–48,000) msg/s | 21.0 | 19.0 | 85 % of mosquitto (90, 80) |',
    );
    expect(table).toContain('| mqtt json1 50c | mosquitto | 55,000 (50,000–60,000) msg/s | 11.0 |  |  |');
    expect(table).toContain('| drain | gateway | 846,068 points/s |');
    expect(table).toContain('| memory | gateway | 169 MB RSS with 5,000 idle connections (16 kB/conn) |');
    expect(table).toContain('| memory | gateway | 200 MB RSS after 1 min at 5,000 points/s (peak 217 MB) |');
    expect(table).toContain('- **PASS** drain ≥ 20,000 points/s: 846,068 points/s');
    expect(table.match(/\| mqtt json1 50c \| gateway/g)).toHaveLength(1);
  });

  it('replaces only what is between the markers', () => {
    const page = `# Performance\n\nintro\n\n${START}\nold table\n${END}\n\n## Method\n`;
    const out = replaceTable(page, 'NEW');
    expect(out).toBe(`# Performance\n\nintro\n\n${START}\nNEW\n${END}\n\n## Method\n`);
    expect(replaceTable(out, 'NEWER')).toContain(`${START}\nNEWER\n${END}`);
  });

  it('refuses a page without markers and a file that is not the bench’s JSON', () => {
    expect(() => replaceTable('# Performance\n', 'x')).toThrow(/bench-table:start/);
    expect(() => renderTable({ machine: 'm' } as BenchJson, 'c', 'd')).toThrow(/rows/);
  });

  it('rewrites the page from the command line, and the page in the repository carries the markers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
    dirs.push(dir);
    const json = join(dir, 'bench.json');
    const doc = join(dir, 'performance.md');
    writeFileSync(json, JSON.stringify(bench));
    writeFileSync(doc, `before\n${START}\n${END}\nafter\n`);
    const script = join(ROOT, 'dist/loadtests/bench/update-bench-doc.js');
    execFileSync(process.execPath, [script, json, '--doc', doc, '--commit', 'feed123', '--date', '2026-12-01']);
    const out = readFileSync(doc, 'utf8');
    expect(out).toMatch(/^before\n<!-- bench-table:start -->\nMeasured at `feed123` on 2026-12-01/);
    expect(out).toContain('after\n');
    const bad = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('FILE: expected one bench JSON file');
    const page = readFileSync(join(ROOT, 'docs/performance.md'), 'utf8');
    expect(page.indexOf(START)).toBeGreaterThan(0);
    expect(page.indexOf(END)).toBeGreaterThan(page.indexOf(START));
    expect(page).toContain('npm run bench:doc');
  });
});
