#!/usr/bin/env node
/**
 * `npm test`'s first step: makes sure the real external programs the tests talk to are on this machine.
 * The tests keep real clients and servers (mosquitto_pub/sub as devices, a bare mosquitto as the
 * broker baseline, wrk and hey cross-checking the load-test harness, headless Chromium opening the HTML
 * report, a throw-away PostgreSQL cluster for the postgres route, a
 * 3-server NATS JetStream cluster for cluster mode), so a fresh machine with only Node and npm
 * needs them installed first.
 *
 * What is missing is found by looking each program up on PATH (and, for PostgreSQL's server programs, which
 * Debian keeps off PATH, in /usr/lib/postgresql/<version>/bin). As root on a Debian-family machine the
 * missing packages are installed with apt-get, printing what and why; otherwise this stops with one line
 * naming the command to run. Exit codes: 0 all present (or installed), 1 missing and not installable.
 *
 * Usage: node scripts/test-prerequisites.mjs [--check]   (--check: report only, never install)
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Debian's PostgreSQL server program directories, newest version first (they are not on PATH). */
export function postgresBinDirs(root = '/usr/lib/postgresql') {
  try {
    return readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => join(root, v, 'bin'));
  } catch {
    return [];
  }
}

/**
 * Each program the tests run, the Debian package that provides it, and what the tests use it for; `dirs`:
 * where to look besides PATH.
 */
export const PREREQUISITES = [
  { command: 'mosquitto_pub', pkg: 'mosquitto-clients', why: 'real MQTT device client in the ingest tests' },
  { command: 'mosquitto_sub', pkg: 'mosquitto-clients', why: 'real MQTT subscriber in the downlink tests' },
  { command: 'mosquitto', pkg: 'mosquitto', why: 'bare broker: the MQTT baseline and a TLS broker peer' },
  { command: 'wrk', pkg: 'wrk', why: 'cross-checks the load-test harness HTTP figures' },
  { command: 'hey', pkg: 'hey', why: 'cross-checks the load-test harness HTTP figures' },
  { command: 'nats-server', pkg: 'nats-server', why: 'the 3-server JetStream cluster the cluster-mode tests run on' },
  { command: 'chromium', pkg: 'chromium', why: 'opens the HTML load-test report headless' },
  {
    command: 'initdb',
    pkg: 'postgresql',
    why: 'creates a throw-away cluster for the postgres route tests',
    dirs: postgresBinDirs,
  },
  {
    command: 'postgres',
    pkg: 'postgresql',
    why: 'the PostgreSQL server the postgres route tests write to',
    dirs: postgresBinDirs,
  },
];

/** Whether `command` is an executable file in one of PATH's directories. */
export function onPath(command, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** Whether a prerequisite is an executable file on PATH or in one of its own `dirs`. */
export function found(prerequisite, path = process.env.PATH ?? '') {
  return onPath(prerequisite.command, [path, ...(prerequisite.dirs?.() ?? [])].join(delimiter));
}

/** The prerequisites not found (PATH and their own `dirs`), grouped by package: Map<pkg, entries>. */
export function missing(prerequisites = PREREQUISITES, path = process.env.PATH ?? '') {
  const byPackage = new Map();
  for (const p of prerequisites) {
    if (found(p, path)) continue;
    const list = byPackage.get(p.pkg) ?? [];
    list.push(p);
    byPackage.set(p.pkg, list);
  }
  return byPackage;
}

function describe(byPackage) {
  return [...byPackage]
    .map(([pkg, list]) => `${pkg} (${list.map((p) => `${p.command}: ${p.why}`).join('; ')})`)
    .join(', ');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

function main() {
  const checkOnly = process.argv.includes('--check');
  const need = missing();
  if (need.size === 0) return 0;
  const pkgs = [...need.keys()];
  const canInstall = !checkOnly && process.getuid?.() === 0 && onPath('apt-get');
  if (!canInstall) {
    const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
    console.error(
      `npm test needs ${describe(need)}: install with \`${sudo}apt-get install -y --no-install-recommends ${pkgs.join(' ')}\` and run npm test again`,
    );
    return 1;
  }
  console.log(`test prerequisites: installing ${describe(need)}`);
  const ok =
    run('apt-get', ['update', '-qq']) && run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  const still = missing();
  if (!ok || still.size > 0) {
    console.error(`test prerequisites: apt-get could not provide ${describe(still.size > 0 ? still : need)}`);
    return 1;
  }
  console.log(`test prerequisites: installed ${pkgs.join(' ')}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exit(main());
