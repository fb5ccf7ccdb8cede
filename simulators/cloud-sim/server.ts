import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PREFIX, handleControl } from './control-routes.js';
import { deleteData, getData, getInfo, postData } from './data-routes.js';
import { parseFaultsPatch } from './faults.js';
import { fail, sleep, tokenOf } from './http-io.js';
import type { CloudSimOptions, Faults } from './options.js';
import { DEFAULTS } from './options.js';
import { SimState } from './state.js';
import type { SimStats } from './stats.js';

/**
 * The simulator's HTTP server. Every API request goes through the same stages, in this order:
 *   outage ─▶ socket destroyed, no answer          latency ─▶ wait `latencyMs`
 *   error rate ─▶ `errorStatus` "Service Unavailable"
 *   token ─▶ 401 "Authorization Denied" (missing, unknown or refused), 403 (forbidden)
 *   route ─▶ POST /data, GET /data, DELETE /data, GET /info (`data-routes.ts`), else 404
 * Control routes (`/_sim/*`) are matched before all of it, so they work during an outage.
 */
export interface CloudSim {
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): SimStats;
  setFaults(f: Partial<Faults>): void;
  reset(): void;
}

const API_ROUTES = new Set(['POST /data', 'GET /data', 'DELETE /data', 'GET /info']);

async function handleApi(state: SimState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { faults, stats } = state;
  const token = tokenOf(req);
  stats.request(token);
  if (faults.inOutage(state.now())) {
    stats.destroyed++;
    req.socket.destroy();
    return;
  }
  res.on('finish', () => stats.answered(res.statusCode));
  if (faults.latencyMs > 0) await sleep(faults.latencyMs);
  if (faults.rollError()) {
    req.resume();
    return fail(res, faults.errorStatus, 'Service Unavailable');
  }
  const route = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
  if (!API_ROUTES.has(route)) {
    req.resume();
    return fail(res, 404, `Route ${route} not found`);
  }
  if (!token || (state.tokens.size > 0 && !state.tokens.has(token)) || faults.refused.has(token)) {
    req.resume();
    return fail(res, 401, 'Authorization Denied');
  }
  if (faults.forbidden.has(token)) {
    req.resume();
    return fail(res, 403, 'Forbidden: this device token may not access the resource');
  }
  switch (route) {
    case 'POST /data':
      return postData(state, token, req, res);
    case 'GET /data':
      return getData(state, token, url, res);
    case 'DELETE /data':
      return deleteData(state, token, url, res);
    default:
      return getInfo(state, token, res);
  }
}

export async function startCloudSim(opts: CloudSimOptions = {}): Promise<CloudSim> {
  const state = new SimState(opts);
  const setFaults = (f: Partial<Faults>): void => state.faults.apply(parseFaultsPatch(f), state.now());

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://cloud-sim');
    const work = url.pathname.startsWith(CONTROL_PREFIX)
      ? handleControl(state, req, res, url, (patch) => state.faults.apply(patch, state.now()))
      : handleApi(state, req, res, url);
    work.catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else fail(res, 500, `cloud-sim internal error: ${(err as Error).message}`);
    });
  });
  // Load tests open many short-lived keep-alive connections; don't let idle ones hold `close()` up.
  server.keepAliveTimeout = 5_000;

  const host = opts.host ?? DEFAULTS.host;
  server.listen(opts.port ?? DEFAULTS.port, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  if (opts.quiet === false) process.stdout.write(`${JSON.stringify({ event: 'listening', port, url })}\n`);

  return {
    url,
    port,
    stats: () => state.snapshot(),
    setFaults,
    reset: () => state.reset(),
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
