/** `tago-edge parser run` as a user runs it: a real child process on the built CLI (needs `npm run build`). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parserDir } from './test/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/tago-edge.js', import.meta.url));
const hexSensor = fileURLToPath(new URL('examples/hex-sensor.js', import.meta.url));

beforeAll(() => {
  if (!existsSync(new URL('../dist/cli/commands/parser.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` before this test');
  }
});

interface CliResult {
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return run([], args);
}

function run(nodeArgs: string[], args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, bin, 'parser', 'run', ...args],
      { cwd: root, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, signal: err?.signal ?? null, stdout, stderr });
      },
    );
  });
}

describe('tago-edge parser run', () => {
  it('prints only the resulting JSON array on stdout, console lines on stderr, and exits 0', async () => {
    const file = parserDir()(
      'p.js',
      'console.log("got", payload.length, "records for", device.name);\nconsole.error("careful");\npayload = payload.concat([{ variable: "site", value: device.tags[0].value }]);',
    );
    const r = await cli(
      file,
      '--payload',
      '{"variable":"temperature","value":21}',
      '--device',
      '{"name":"pump","tags":[{"key":"site","value":"north"}]}',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { variable: 'temperature', value: 21 },
      { variable: 'site', value: 'north' },
    ]);
    expect(r.stderr).toContain('[log] got 1 records for pump');
    expect(r.stderr).toContain('[error] careful');
    expect(r.stdout).not.toContain('got 1');
  });

  it('exits 0 when the exit teardown runs a GC after isolated-vm has shut down', async () => {
    // The preload forces what CPU contention causes now and then (CI saw it): an incremental GC during
    // Node's teardown, which aborts in isolated-vm's weak callbacks (SIGABRT) on a natural exit.
    const preload = fileURLToPath(new URL('test/gc-at-exit.mjs', import.meta.url));
    for (let i = 0; i < 4; i++) {
      const r = await run(['--import', preload], [hexSensor, '--raw-hex', '0e1000eb37']);
      expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 0, signal: null });
      expect(JSON.parse(r.stdout)).toHaveLength(3);
    }
  });

  it('exits 0 after a parser that left a large heap (its isolate takes a while to be destroyed)', async () => {
    // A bare process.exit right after disposing this isolate raced isolated-vm's pool thread: SIGSEGV in about
    // a third of the runs. The CLI waits for the disposal to finish.
    const file = parserDir()(
      'big.js',
      'globalThis.keep = [];\nfor (let i = 0; i < 400000; i++) globalThis.keep.push({ i, s: "x" + i });\npayload = [{ variable: "n", value: globalThis.keep.length }];',
    );
    for (let i = 0; i < 6; i++) {
      const r = await cli(file, '--raw', 'x', '--memory-mb', '128');
      expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 0, signal: null });
      expect(JSON.parse(r.stdout)).toEqual([{ variable: 'n', value: 400000 }]);
    }
  });

  it('decodes a hex frame with the hex-sensor example', async () => {
    const r = await cli(hexSensor, '--raw-hex', '0e1000eb37');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Array<{ variable: string; value: number }>;
    expect(out.map((x) => [x.variable, x.value])).toEqual([
      ['battery', 3.6],
      ['temperature', 23.5],
      ['humidity', 55],
    ]);
  });

  it('--raw builds the payload record from text', async () => {
    const file = parserDir()('p.js', 'payload = [{ variable: "echo", value: payload[0].value + "|" + raw_payload }];');
    const r = await cli(file, '--raw', 'a=1');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ variable: 'echo', value: 'a=1|a=1' }]);
  });

  it('a parser error goes to stderr with exit 1 and nothing on stdout', async () => {
    const r = await cli(hexSensor, '--raw-hex', '0e10');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/EDGE_ERR_PARSER: parser threw at line \d+: hex-sensor: frame must be at least 5 bytes/);
  });

  it('a timeout exits 1', async () => {
    const file = parserDir()('loop.js', 'while (true) {}');
    const r = await cli(file, '--raw', 'x', '--timeout-ms', '100');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('EDGE_ERR_PARSER_TIMEOUT: parser ran past its 100 ms time limit');
  });

  it.each([
    [['--payload', '{not json'], '--payload: not valid JSON'],
    [['--payload', '[1]'], '--payload: record 0 is not an object'],
    [[], 'give exactly one of --payload, --raw or --raw-hex'],
    [['--raw', 'a', '--raw-hex', '00'], 'give exactly one of --payload, --raw or --raw-hex'],
    [['--raw-hex', 'abc'], '--raw-hex: not an even number of hex digits'],
    [['--raw', 'a', '--device', '[]'], '--device: not an object'],
    [['--raw', 'a', '--timeout-ms', 'soon'], '--timeout-ms must be a positive integer'],
  ])('bad usage %j exits 2 naming the flag', async (args, message) => {
    const r = await cli(hexSensor, ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('a missing parser file exits 2', async () => {
    const r = await cli('/nonexistent/parser.js', '--raw', 'x');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('no such parser file');
  });
});
