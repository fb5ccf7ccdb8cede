import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script run by `pretest` before the build, without type declarations
import { found, missing, onPath, PREREQUISITES, postgresBinDirs } from '../../scripts/test-prerequisites.mjs';

interface Prerequisite {
  command: string;
  pkg: string;
  why: string;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A directory holding executables (and non-executables) with the given names. */
function binDir(executables: string[], plain: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'prereq-'));
  dirs.push(dir);
  for (const name of executables) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
  for (const name of plain) writeFileSync(join(dir, name), '');
  return dir;
}

describe('test prerequisites', () => {
  it('names every program the tests run with the Debian package that provides it', () => {
    const commands = (PREREQUISITES as Prerequisite[]).map((p) => p.command);
    expect(commands).toEqual(
      expect.arrayContaining([
        'mosquitto_pub',
        'mosquitto_sub',
        'mosquitto',
        'wrk',
        'hey',
        'chromium',
        'initdb',
        'postgres',
      ]),
    );
    for (const p of PREREQUISITES as Prerequisite[]) expect(p.pkg).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
  });

  it('finds a program only as an executable file on PATH', () => {
    const dir = binDir(['mosquitto_pub'], ['wrk']);
    expect(onPath('mosquitto_pub', dir)).toBe(true);
    expect(onPath('wrk', dir)).toBe(false);
    expect(onPath('hey', dir)).toBe(false);
  });

  it('groups what is missing by package, so each package is installed once', () => {
    const dir = binDir(['mosquitto', 'wrk', 'hey', 'nats-server', 'chromium', 'initdb', 'postgres']);
    const need = missing(PREREQUISITES, dir) as Map<string, Prerequisite[]>;
    expect([...need.keys()]).toEqual(['mosquitto-clients']);
    expect(need.get('mosquitto-clients')?.map((p) => p.command)).toEqual(['mosquitto_pub', 'mosquitto_sub']);
    const all = binDir([
      'mosquitto',
      'mosquitto_pub',
      'mosquitto_sub',
      'wrk',
      'hey',
      'nats-server',
      'chromium',
      'initdb',
      'postgres',
    ]);
    expect((missing(PREREQUISITES, all) as Map<string, Prerequisite[]>).size).toBe(0);
  });

  it("finds PostgreSQL's server programs in Debian's versioned directories, off PATH, newest first", () => {
    const root = mkdtempSync(join(tmpdir(), 'prereq-pg-'));
    dirs.push(root);
    for (const v of ['13', '15', 'common']) {
      const bin = join(root, v, 'bin');
      mkdirSync(bin, { recursive: true });
      if (v !== 'common') writeFileSync(join(bin, 'initdb'), '#!/bin/sh\n', { mode: 0o755 });
    }
    expect(postgresBinDirs(root)).toEqual([join(root, '15', 'bin'), join(root, '13', 'bin')]);
    const initdb = { command: 'initdb', pkg: 'postgresql', why: 'x', dirs: () => postgresBinDirs(root) };
    expect(found(initdb, binDir([]))).toBe(true);
    expect(found({ ...initdb, dirs: () => postgresBinDirs(join(root, 'none')) }, binDir([]))).toBe(false);
  });
});
