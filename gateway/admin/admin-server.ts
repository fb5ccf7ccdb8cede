/**
 * Holds a store: listens on its admin socket (admin-address.ts), which is the store's lock, and, for a
 * gateway, serves `tago-edge queue` over it so the CLI's writes (replay) are made by the gateway's store,
 * the file's only writer. A second holder is refused with StoreOpenError naming the first.
 *
 * Routes (JSON): `GET /v1/holder` (who holds the store; no token), `GET /v1/queue/stats`,
 * `GET /v1/dead-letters?limit=N`, `POST /v1/dead-letters/replay` with `{"ids": [...]}` or `{}` for all.
 * Every route but the first needs `Authorization: Bearer <admin.token>`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { StoreOpenError } from '../errors.js';
import { adminAddress, adminTokenPath, type HolderRole } from './admin-address.js';
import { queryHolder } from './admin-client.js';
import type { QueueOps } from './queue-ops.js';

export interface StoreHold {
  readonly role: HolderRole;
  /** Serves `tago-edge queue` from now on (a gateway, once its store is open). */
  serve(ops: QueueOps): void;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

export async function holdStore(storeDir: string, role: HolderRole, log?: Logger): Promise<StoreHold> {
  const address = adminAddress(storeDir);
  const token = randomBytes(32).toString('hex');
  let ops: QueueOps | undefined;
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log?.error({ err }, 'admin: request failed');
      reply(res, 500, { code: 'EDGE_ERR_INTERNAL', message: (err as Error).message });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method === 'GET' && url.pathname === '/v1/holder') return reply(res, 200, { pid: process.pid, role });
    if (!authorized(req.headers.authorization, token)) {
      return reply(res, 401, {
        code: 'EDGE_ERR_MISSING_TOKEN',
        message: `admin: give the token in ${adminTokenPath(storeDir)}`,
      });
    }
    if (!ops)
      return reply(res, 409, {
        code: 'EDGE_ERR_STORE_OPEN',
        message: `the store is held by ${role} (pid ${process.pid})`,
      });
    if (req.method === 'GET' && url.pathname === '/v1/queue/stats') return reply(res, 200, await ops.stats());
    if (req.method === 'GET' && url.pathname === '/v1/dead-letters') {
      const limit = Number(url.searchParams.get('limit') ?? 100);
      if (!Number.isInteger(limit) || limit <= 0)
        return reply(res, 400, { code: 'EDGE_ERR_BAD_REQUEST', message: 'limit: a positive integer' });
      return reply(res, 200, await ops.deadLetters(limit));
    }
    if (req.method === 'POST' && url.pathname === '/v1/dead-letters/replay') {
      const body = await readJson(req);
      const ids = (body as { ids?: unknown } | null)?.ids;
      if (ids !== undefined && !(Array.isArray(ids) && ids.every((i) => Number.isInteger(i) && i > 0))) {
        return reply(res, 400, { code: 'EDGE_ERR_BAD_REQUEST', message: 'ids: a list of positive integers' });
      }
      const result = await ops.replay(ids as number[] | undefined);
      log?.info({ event: 'admin_replay', ...result }, 'admin: dead letters replayed');
      return reply(res, 200, result);
    }
    return reply(res, 404, { code: 'EDGE_ERR_NOT_FOUND', message: `admin: no route ${req.method} ${url.pathname}` });
  }

  await listenExclusive(server, address, storeDir);
  writeFileSync(adminTokenPath(storeDir), `${token}\n`, { mode: 0o600 });
  chmodSync(adminTokenPath(storeDir), 0o600);
  return {
    role,
    serve(next) {
      ops = next;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (!address.startsWith('\0')) unlinkQuietly(address);
    },
  };
}

async function listenExclusive(server: Server, address: string, storeDir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw new StoreOpenError(`store.dir ${storeDir}: cannot open the admin socket (${(err as Error).message})`, {
          cause: err,
        });
      }
      const holder = await queryHolder(address);
      // A socket file left by a process that died (not on Linux's abstract sockets): take it over once.
      if (!holder && attempt === 0 && !address.startsWith('\0')) {
        unlinkQuietly(address);
        continue;
      }
      const who = holder
        ? `${holder.role === 'gateway' ? 'a running gateway' : 'tago-edge queue'} (pid ${holder.pid})`
        : 'another process';
      throw new StoreOpenError(
        `store.dir ${storeDir} is held by ${who}: one process writes a store at a time (use tago-edge queue, which goes through a running gateway)`,
      );
    }
  }
}

function authorized(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7).trim() : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('admin: request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return text === '' ? null : JSON.parse(text);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}
