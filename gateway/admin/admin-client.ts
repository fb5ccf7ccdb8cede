/** Talks to the process holding a store (admin-server.ts) over its admin socket. */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { DeadLetter } from '../store/store.js';
import { adminAddress, adminTokenPath, type HolderRole } from './admin-address.js';
import type { QueueOps, QueueStats, ReplayResult } from './queue-ops.js';

export interface Holder {
  pid: number;
  role: HolderRole;
}

/** An admin request that failed: the holder's answer, or why there was none. */
export class AdminRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'AdminRequestError';
  }
}

function call(
  address: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: address,
        // A connection per request: a pooled one may belong to a holder that has since gone.
        agent: false,
        method,
        path,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(text !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: raw === '' ? null : JSON.parse(raw) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Who holds the store at this address; null when nobody listens. */
export async function queryHolder(address: string): Promise<Holder | null> {
  try {
    const r = await call(address, 'GET', '/v1/holder');
    return r.status === 200 ? (r.body as Holder) : null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT') return null;
    throw err;
  }
}

/** The store's holder and, when it is a gateway, `tago-edge queue` through it; null when no one holds it. */
export async function connectAdmin(storeDir: string): Promise<{ holder: Holder; ops: QueueOps } | null> {
  const address = adminAddress(storeDir);
  const holder = await queryHolder(address);
  if (!holder) return null;
  const tokenFile = adminTokenPath(storeDir);
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new AdminRequestError(
      `cannot read ${tokenFile} (${(err as NodeJS.ErrnoException).code}): run as the gateway's user`,
      0,
    );
  }
  const ask = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await call(address, method, path, token, body);
    if (r.status !== 200) {
      const message = (r.body as { message?: string } | null)?.message ?? `HTTP ${r.status}`;
      throw new AdminRequestError(message, r.status);
    }
    return r.body as T;
  };
  return {
    holder,
    ops: {
      stats: () => ask<QueueStats>('GET', '/v1/queue/stats'),
      deadLetters: (limit) => ask<DeadLetter[]>('GET', `/v1/dead-letters?limit=${limit}`),
      replay: (ids) => ask<ReplayResult>('POST', '/v1/dead-letters/replay', ids ? { ids } : {}),
    },
  };
}
