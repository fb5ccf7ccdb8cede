import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = `${root}bin/tago-edge.js`;

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** `npm test` builds first (pretest); run alone, rebuild when dist/ is older than our sources. */
beforeAll(async () => {
  const sources = [
    `${root}cli/commands/cloud-sim.ts`,
    ...readdirSync(`${root}simulators/cloud-sim`).map((f) => `${root}simulators/cloud-sim/${f}`),
  ];
  const built = mtime(`${root}dist/cli/commands/cloud-sim.js`);
  if (sources.some((s) => mtime(s) > built)) {
    // Other modules may be mid-edit: emit anyway, our files are what this test needs.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json', '--noEmitOnError', 'false'], {
      cwd: root,
    }).catch(() => undefined);
  }
}, 120_000);

function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [bin, 'cloud-sim', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

describe('tago-edge cloud-sim (CLI)', () => {
  it('prints one listening line, serves the API and exits 0 on SIGTERM', async () => {
    const child = run(['--port', '0', '--tokens', 'cli-a,cli-b', '--rpm', '100']);
    const listening = JSON.parse(await firstLine(child));
    expect(listening).toMatchObject({ event: 'listening', port: expect.any(Number) });
    expect(listening.url).toBe(`http://127.0.0.1:${listening.port}`);

    const ok = await fetch(`${listening.url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'device-token': 'cli-a' },
      body: JSON.stringify({ variable: 'v', value: 1 }),
    });
    expect(ok.status).toBe(200);
    const denied = await fetch(`${listening.url}/info`, { headers: { 'device-token': 'nope' } });
    expect(denied.status).toBe(401);
    const faults = await (await fetch(`${listening.url}/_sim/faults`)).json();
    expect(faults).toMatchObject({ requestsPerMinute: 100, outage: false });

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it.each([
    [['--rpm', 'many']],
    [['--error-rate', '2']],
    [['--port', '70000']],
    [['--tokens', 'a', '--tokens-file', 'x']],
    [['--tokens-file', '/nonexistent/tokens.txt']],
  ])('exits 2 naming the flag for %j', async (args) => {
    const child = run(args);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain(args[0]);
  });
});
