/**
 * Spawns the real CLI (bin/tago-edge.js → dist/, built by `npm test`'s pretest) and reads its output, on the
 * load tests' process library; each process (its whole group) is killed when the test finishes.
 */
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { type Child, spawnProcess } from '../../loadtests/lib/processes.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/tago-edge.js', import.meta.url));

export type Spawned = Pick<Child, 'child' | 'stdout' | 'stderr' | 'waitForEvent' | 'exit'>;

export function spawnCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; command?: string[]; keep?: boolean } = {},
): Spawned {
  const command = [...(opts.command ?? [process.execPath, BIN]), ...args];
  const p = spawnProcess('tago-edge', command, {
    cwd: opts.cwd ?? ROOT,
    ...(opts.env ? { env: opts.env } : {}),
    detached: true,
    keepOutput: Number.POSITIVE_INFINITY,
  });
  if (!opts.keep) onTestFinished(() => p.kill());
  return p;
}

export async function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, opts);
  const code = await p.exit();
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
