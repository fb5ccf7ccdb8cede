/**
 * A real PostgreSQL for tests and benchmarks: a fresh cluster (`initdb`) in a temporary directory, trust auth, listening on
 * a free port on 127.0.0.1 with its unix socket in that directory, `fsync=off` (nothing here must survive a
 * power cut). It can be stopped and started again on the same port and data, which is how tests take the
 * database away from a running destination.
 *
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user (the Debian
 * package creates it) and the directory is handed to that user; otherwise it runs as the current user.
 *
 * Invariant: a server started here is shut down (immediate shutdown, SIGQUIT) when this process exits,
 * whatever state the test left it in.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Client, type QueryResultRow } from 'pg';

export interface PostgresServer {
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /** Fast shutdown (SIGINT: open sessions are cut); resolves once the server has exited and the port is closed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** One statement on a connection of its own. */
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

/** A PostgreSQL server program: on PATH, else in the newest /usr/lib/postgresql/<version>/bin (Debian). */
export function postgresBinary(name: string, path = process.env.PATH ?? ''): string {
  const dirs = path.split(delimiter).filter(Boolean);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // no Debian PostgreSQL packages
  }
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  throw new Error(
    `PostgreSQL's ${name} is neither on PATH nor in /usr/lib/postgresql/*/bin: apt-get install postgresql`,
  );
}

/** uid/gid of the `postgres` system user when this process is root (PostgreSQL will not run as root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startPostgres(): Promise<PostgresServer> {
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  // cwd: the server's user must be able to enter it (root's home is closed to `postgres`).
  const asServer = { cwd: dir, ...(user ?? {}) };
  execFileSync(
    postgresBinary('initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
    {
      ...asServer,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let server: ChildProcess | undefined;

  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGQUIT');
    });
  }

  async function start(): Promise<void> {
    if (server) return;
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
    for (const setting of ['fsync=off', 'full_page_writes=off', 'max_connections=40', 'shared_buffers=16MB']) {
      args.push('-c', setting);
    }
    const child = spawn(postgresBinary('postgres'), args, { ...asServer, stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    server = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`postgres did not start within 20 s: ${log.slice(-2_000)}`)),
        20_000,
      );
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        if (log.length < 100_000) log += d;
        if (log.includes('ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        running.delete(child);
        if (server === child) server = undefined;
        clearTimeout(timer);
        reject(new Error(`postgres exited ${code} while starting: ${log.slice(-2_000)}`));
      });
    });
  }

  async function stop(): Promise<void> {
    const child = server;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      });
    }
    server = undefined;
    // The postmaster closes its listening socket before it exits; this only makes the promise explicit.
    for (let i = 0; i < 100 && (await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
  }

  await start();
  return {
    port,
    url,
    start,
    stop,
    async query<R extends QueryResultRow>(sql: string, params: unknown[] = []) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
