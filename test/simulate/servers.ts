/** Real servers on port 0 for the simulator tests: a TagoIO-like HTTP ingest and an aedes MQTT broker. */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

const FORBIDDEN = /[*?!<>.\-=$ ]/;

/** Why a TagoIO record is invalid, or undefined (a small subset of SPEC.md's rules). */
export function invalidRecord(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not an object';
  const rec = r as { variable?: unknown; value?: unknown };
  if (typeof rec.variable !== 'string') return 'variable missing';
  if (FORBIDDEN.test(rec.variable)) return 'variable has a forbidden character';
  if (typeof rec.value === 'string' && rec.value.length > 6 * 1024) return 'value too long';
  return undefined;
}

export interface HttpIngest {
  url: string;
  /** Accepted records by sim_device → seqs. */
  received: Map<string, number[]>;
  requests: number;
  rejected: number;
  hexBodies: string[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** POST /data: 200 {"status":true,"result":"1 Data Added"}, 400 on invalid JSON, records or hex frames. */
export async function startHttpIngest(opts: { delayMs?: number } = {}): Promise<HttpIngest> {
  const state: HttpIngest = {
    url: '',
    received: new Map(),
    requests: 0,
    rejected: 0,
    hexBodies: [],
    close: async () => {},
  };
  const server = createHttpServer(async (req, res) => {
    state.requests++;
    const text = await body(req);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const refuse = (message: string) => {
      state.rejected++;
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ status: false, message }));
    };
    if ((req.headers['content-type'] ?? '').startsWith('text/plain')) {
      if (!/^([0-9a-f]{2}){5}$/i.test(text)) return refuse('bad frame');
      state.hexBodies.push(text);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return refuse('invalid JSON');
      }
      const problem = invalidRecord(parsed);
      if (problem) return refuse(problem);
      const meta = (parsed as { metadata?: { sim_device?: string; sim_seq?: number } }).metadata;
      if (meta?.sim_device !== undefined && meta.sim_seq !== undefined) {
        const list = state.received.get(meta.sim_device) ?? [];
        list.push(meta.sim_seq);
        state.received.set(meta.sim_device, list);
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":true,"result":"1 Data Added"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

export interface Broker {
  url: string;
  port: number;
  /** Publishes by topic. */
  publishes: Map<string, number>;
  /** JSON publishes on tago/data/post: sim_device → seqs. */
  received: Map<string, number[]>;
  passwords: Set<string>;
  close(): Promise<void>;
}

/** A bare aedes 1.x broker on `port` (0 = ephemeral). */
export async function startBroker(port = 0): Promise<Broker> {
  const aedes = await Aedes.createBroker();
  const b: Broker = {
    url: '',
    port: 0,
    publishes: new Map(),
    received: new Map(),
    passwords: new Set(),
    close: async () => {},
  };
  aedes.authenticate = (_client, username, password, done) => {
    if (username !== 'Token' || !password) return done(null, false);
    b.passwords.add(password.toString());
    done(null, true);
  };
  aedes.on('publish', (packet, client) => {
    if (!client) return;
    b.publishes.set(packet.topic, (b.publishes.get(packet.topic) ?? 0) + 1);
    if (packet.topic !== 'tago/data/post') return;
    try {
      const rec = JSON.parse(packet.payload.toString()) as { metadata?: { sim_device: string; sim_seq: number } };
      if (rec.metadata) {
        const list = b.received.get(rec.metadata.sim_device) ?? [];
        list.push(rec.metadata.sim_seq);
        b.received.set(rec.metadata.sim_device, list);
      }
    } catch {}
  });
  const server: Server = createNetServer(aedes.handle as (s: import('node:net').Socket) => void);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  b.port = (server.address() as AddressInfo).port;
  b.url = `mqtt://127.0.0.1:${b.port}`;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  b.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => aedes.close(() => r()));
  };
  return b;
}
