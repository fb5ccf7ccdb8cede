/**
 * What each route destination received, as the durability tests count it: the sequence numbers of the
 * seq-load points (metadata.sim_device / sim_seq, test/helpers/seq-load.ts) per simulated device, and how
 * many arrived more than once. A webhook receiver (a real node:http server that can be told to fail), a
 * subscriber on the TLS mosquitto, and a query of the PostgreSQL table.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { request } from 'undici';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { type PostgresServer, startPostgres } from '../../loadtests/lib/postgres-server.js';
import { startTlsMosquitto, type TlsMosquitto } from './tls-mosquitto.js';

interface SeqRecord {
  variable?: string;
  value?: unknown;
  location?: unknown;
  metadata?: { sim_device?: string; sim_seq?: number };
}

/** Sequences per device, counted as they arrive. */
export class Tally {
  private readonly seen = new Map<string, Set<number>>();
  duplicates = 0;
  /** Every record as it arrived (for filter and transform checks). */
  readonly records: SeqRecord[] = [];

  add(r: SeqRecord): void {
    this.records.push(r);
    const d = r.metadata?.sim_device;
    const n = r.metadata?.sim_seq;
    if (typeof d !== 'string' || typeof n !== 'number') return;
    let s = this.seen.get(d);
    if (!s) {
      s = new Set();
      this.seen.set(d, s);
    }
    if (s.has(n)) this.duplicates++;
    else s.add(n);
  }

  /** Sorted unique sequences per device (the shape of cloud-sim's /_sim/received). */
  received(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [d, s] of this.seen) out[d] = [...s].sort((a, b) => a - b);
    return out;
  }

  get points(): number {
    let n = 0;
    for (const s of this.seen.values()) n += s.size;
    return n;
  }
}

export interface Webhook {
  url: string;
  tally: Tally;
  /** Devices named in the bodies, as the gateway sent them. */
  devices: Set<string>;
  /** While set, every request is answered with this status. */
  failWith: number | null;
  /** Requests answered so far. */
  requests: number;
}

export async function startWebhook(): Promise<Webhook> {
  const hook: Webhook = { url: '', tally: new Tally(), devices: new Set(), failWith: null, requests: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      hook.requests++;
      if (hook.failWith !== null) {
        res.writeHead(hook.failWith, { 'content-type': 'application/json' }).end('{"error":"scripted"}');
        return;
      }
      const parsed = JSON.parse(body) as { device: { name: string }; records: SeqRecord[] };
      hook.devices.add(parsed.device.name);
      for (const r of parsed.records) hook.tally.add(r);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return hook;
}

/** Subscribes to everything on the broker with the client certificate; a reconnecting subscriber. */
export async function subscribeBroker(broker: TlsMosquitto): Promise<{ tally: Tally; topics: Set<string> }> {
  const tally = new Tally();
  const topics = new Set<string>();
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    clientId: `route-sink-${process.pid}`,
    ca: readFileSync(broker.caFile),
    cert: readFileSync(broker.certFile),
    key: readFileSync(broker.keyFile),
    reconnectPeriod: 200,
  });
  client.on('error', () => {});
  client.on('message', (topic, payload) => {
    topics.add(topic);
    const parsed = JSON.parse(payload.toString()) as SeqRecord | SeqRecord[];
    for (const r of Array.isArray(parsed) ? parsed : [parsed]) tally.add(r);
  });
  client.on('connect', () => client.subscribe('#', { qos: 1 }));
  await client.subscribeAsync('#', { qos: 1 });
  onTestFinished(() => client.endAsync(true).catch(() => undefined));
  return { tally, topics };
}

/** The seq-load points in a route's table: sequences per device, and rows beyond one per point. */
export async function tableTally(pg: PostgresServer, table = 'tago_points'): Promise<Tally & { rows: number }> {
  const rows = await pg.query<{ metadata: SeqRecord['metadata']; variable: string }>(
    `SELECT variable, metadata FROM public.${table}`,
  );
  const tally = new Tally();
  for (const r of rows) tally.add({ variable: r.variable, metadata: r.metadata ?? {} });
  return Object.assign(tally, { rows: rows.length });
}

/** A real PostgreSQL and a TLS mosquitto for one test file: started before its tests, removed after them. */
export function routeServers(): { pg: PostgresServer; broker: TlsMosquitto } {
  const servers = {} as { pg: PostgresServer; broker: TlsMosquitto };
  beforeAll(async () => {
    [servers.pg, servers.broker] = await Promise.all([startPostgres(), startTlsMosquitto()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([servers.pg?.destroy(), servers.broker?.destroy()]);
  });
  return servers;
}

/** What cloud-sim (TagoIO) received: sorted unique sequences per simulated device. */
export async function simReceived(simUrl: string): Promise<Record<string, number[]>> {
  const res = await request(`${simUrl}/_sim/received`);
  return (await res.body.json()) as Record<string, number[]>;
}
