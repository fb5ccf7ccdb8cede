import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerQueue } from '../../cli/commands/queue.js';
import { holdStore } from '../../gateway/admin/admin-server.js';
import { startGateway } from '../../gateway/gateway.js';
import { testConfig } from '../helpers/stack.js';
import { openAt, rec, tempDir } from './helpers.js';

async function cli(args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  const program = new Command('tago-edge').exitOverride();
  registerQueue(program);
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'tago-edge', 'queue', ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out, err, exitCode };
}

async function seed(dir: string): Promise<void> {
  const store = openAt(join(dir, 'tago-edge.db'));
  await store.append('tok-1', [rec('v', 1)]);
  await store.append('tok-1', [rec('v', 2)]);
  await store.append('tok-2', [rec('v', 3)]);
  await store.deadLetter([store.peek('tok-1', 1000)?.ids[0] ?? 0], 'upstream_400', 'Variable name invalid');
  await store.addDeadLetter({
    token: 'tok-3',
    deviceId: 'dev-3',
    reason: 'EDGE_ERR_PARSER',
    message: 'boom',
    records: [],
  });
  await store.close();
}

afterEach(() => {
  process.exitCode = 0;
});

describe('tago-edge queue', () => {
  it('stats prints a table, or JSON with --json; tokens never appear', async () => {
    const dir = tempDir();
    await seed(dir);
    const t = await cli(['stats', '--data-dir', dir]);
    expect(t.exitCode).toBe(0);
    expect(t.out).toMatch(/points pending\s+2/);
    expect(t.out).toMatch(/dead letters\s+2/);
    expect(t.out).not.toContain('tok-');
    const j = await cli(['stats', '--data-dir', dir, '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ depthPoints: 2, deadLetters: 2, devicesPending: 2 });
  });

  it('dead-letters lists them; replay --id and --all move them back', async () => {
    const dir = tempDir();
    await seed(dir);
    const t = await cli(['dead-letters', '--data-dir', dir]);
    expect(t.out).toMatch(/ID\s+CREATED\s+DEVICE\s+REASON\s+POINTS\s+MESSAGE/);
    expect(t.out).toContain('Variable name invalid');
    const list = JSON.parse((await cli(['dead-letters', '--data-dir', dir, '--json', '--limit', '1'])).out);
    expect(list).toHaveLength(1);
    const r = await cli(['replay', '--data-dir', dir, '--id', String(list[0].id), '--json']);
    expect(JSON.parse(r.out)).toEqual({ deadLetters: 1, points: 1 });
    const again = await cli(['replay', '--data-dir', dir, '--id', String(list[0].id)]);
    expect(again.exitCode).toBe(1);
    const all = await cli(['replay', '--data-dir', dir, '--all']);
    expect(all.out).toContain('replayed 1 dead letter(s): 0 point(s)');
    expect(JSON.parse((await cli(['stats', '--data-dir', dir, '--json'])).out)).toMatchObject({
      depthPoints: 3,
      deadLetters: 0,
    });
  });

  it('usage errors throw (exit 2 in main); a missing store is an operational error (exit 1)', async () => {
    const dir = tempDir();
    await expect(cli(['replay', '--data-dir', dir])).rejects.toMatchObject({ code: 'EDGE_ERR_USAGE' });
    await expect(cli(['replay', '--data-dir', dir, '--all', '--id', '1'])).rejects.toMatchObject({
      code: 'EDGE_ERR_USAGE',
    });
    await expect(cli(['dead-letters', '--limit', 'x'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    const r = await cli(['stats', '--data-dir', join(dir, 'nope')]);
    expect(r.exitCode).toBe(1);
    expect(r.err).toContain('no store at');
  });

  it('with a gateway running on the store, goes through it: the gateway’s store makes the replay', async () => {
    const dir = tempDir();
    await seed(dir);
    // Nothing listens upstream: the replayed points stay queued in the gateway.
    const gw = await startGateway(testConfig('http://127.0.0.1:9', { store: { dir } }));
    try {
      expect(gw.store.stats()).toMatchObject({ depthPoints: 2, deadLetters: 2 });
      const stats = JSON.parse((await cli(['stats', '--data-dir', dir, '--json'])).out);
      expect(stats).toMatchObject({ depthPoints: 2, deadLetters: 2, devicesPending: 2 });
      const r = await cli(['replay', '--data-dir', dir, '--all', '--json']);
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.out)).toEqual({ deadLetters: 2, points: 1 });
      // The running gateway's own counters moved: it made the write (nothing else writes its file).
      expect(gw.store.stats()).toMatchObject({ depthPoints: 3, deadLetters: 0 });
      expect(JSON.parse((await cli(['dead-letters', '--data-dir', dir, '--json'])).out)).toEqual([]);
    } finally {
      await gw.close();
    }
    // Stopped: the CLI reads the file itself.
    expect(JSON.parse((await cli(['stats', '--data-dir', dir, '--json'])).out)).toMatchObject({ depthPoints: 3 });
  });

  it('refuses a second writer: a second gateway on the store, or a gateway while the CLI writes', async () => {
    const dir = tempDir();
    await seed(dir);
    const gw = await startGateway(testConfig('http://127.0.0.1:9', { store: { dir } }));
    try {
      await expect(startGateway(testConfig('http://127.0.0.1:9', { store: { dir } }))).rejects.toMatchObject({
        code: 'EDGE_ERR_STORE_OPEN',
        message: expect.stringContaining(`held by a running gateway (pid ${process.pid})`),
      });
    } finally {
      await gw.close();
    }
    const cliHold = await holdStore(dir, 'queue-cli');
    try {
      await expect(startGateway(testConfig('http://127.0.0.1:9', { store: { dir } }))).rejects.toMatchObject({
        code: 'EDGE_ERR_STORE_OPEN',
        message: expect.stringContaining('held by tago-edge queue'),
      });
      const r = await cli(['replay', '--data-dir', dir, '--all']);
      expect(r.exitCode).toBe(1);
      expect(r.err).toContain('held by another tago-edge queue');
    } finally {
      await cliHold.close();
    }
    // Released: a gateway opens it again.
    const again = await startGateway(testConfig('http://127.0.0.1:9', { store: { dir } }));
    await again.close();
  });
});
