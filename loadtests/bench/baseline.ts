/**
 * `--baseline REF`: the tree at git ref REF, checked out in a temporary worktree and built, so the bench can
 * measure its gateway, cloud-sim and floors with this tree's generator in the same run (the way aedes's
 * benchmarks/report.js and fastify's branchcmp compare two versions on one machine at one time).
 * node_modules is a symlink to this tree's when package-lock.json is the same at REF, else `npm ci` runs there.
 *
 * Invariant: the worktree is removed (`git worktree remove --force`, then the temporary directory) when
 * `remove` is called, when this process exits, and on SIGINT/SIGTERM (which then exit 130/143).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../lib/processes.js';
import { LoadtestUsageError } from '../lib/usage-error.js';
import { log } from './results.js';

export interface Baseline {
  ref: string;
  /** The commit REF named when the worktree was made. */
  commit: string;
  root: string;
  remove(): void;
}

function git(root: string, args: string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export async function prepareBaseline(ref: string, root: string): Promise<Baseline> {
  let commit: string;
  try {
    commit = git(root, ['rev-parse', '--verify', `${ref}^{commit}`]);
  } catch {
    throw new LoadtestUsageError(`--baseline: ${JSON.stringify(ref)} is not a commit in ${root}`);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tago-edge-bench-baseline-'));
  const tree = join(tmp, 'tree');
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    try {
      git(root, ['worktree', 'remove', '--force', tree]);
    } catch {
      // not added yet, or already gone: prune below forgets it either way
    }
    rmSync(tmp, { recursive: true, force: true });
    try {
      git(root, ['worktree', 'prune']);
    } catch {
      // nothing to prune
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', remove);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`baseline: checking out ${ref} (${commit.slice(0, 12)}) in ${tree}`);
    git(root, ['worktree', 'add', '--detach', tree, commit]);
    const lock = (dir: string) => {
      const f = join(dir, 'package-lock.json');
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    };
    if (lock(tree) === lock(root) && existsSync(join(root, 'node_modules'))) {
      symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir');
    } else {
      log('baseline: package-lock.json differs, npm ci');
      await runProcess('npm ci', ['npm', 'ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: tree });
      // better-sqlite3 and isolated-vm build their native parts in their install scripts.
      await runProcess('npm rebuild', ['npm', 'rebuild', 'better-sqlite3', 'isolated-vm'], { cwd: tree });
    }
    log('baseline: npm run build');
    await runProcess('npm run build', ['npm', 'run', 'build'], { cwd: tree });
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ref,
    commit,
    root: tree,
    remove() {
      remove();
      process.off('exit', remove);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
