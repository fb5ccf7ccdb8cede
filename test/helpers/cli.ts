/** Spawns the real CLI (bin/tago-edge.js → dist/, built by `npm test`'s pretest) and reads its output. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/tago-edge.js', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout JSON line that has `event: name`. */
  waitForEvent(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exit(): Promise<number | null>;
}

export function spawnCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; command?: string[]; keep?: boolean } = {},
): Spawned {
  const [cmd, ...pre] = opts.command ?? [process.execPath, BIN];
  const child = spawn(cmd as string, [...pre, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  if (!opts.keep) {
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
    });
  }
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit: () => exited,
    async waitForEvent(name, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const line of out.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const obj = JSON.parse(line) as Record<string, unknown>;
            if (obj.event === name) return obj;
          } catch {
            // partial line
          }
        }
        if (child.exitCode !== null) throw new Error(`process exited ${child.exitCode} before "${name}": ${err}`);
        if (Date.now() > deadline) throw new Error(`no "${name}" event within ${timeoutMs} ms; stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

export async function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, opts);
  const code = await p.exit();
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
