/**
 * Transport security benchmark: what TLS costs, and what idle connections cost.
 *
 * Method (closed loops on purpose: they measure capacity, not latency under an arrival schedule; a 1 s
 * warm-up is discarded before each measured phase):
 *  1. TLS handshakes/s: C concurrent loops of tls.connect → secureConnect → destroy against MQTTS.
 *  2. MQTT vs MQTTS QoS 1: N MQTT.js clients, each `await publishAsync(tago/data/post, qos 1)` for S
 *     seconds, first over TCP, then over TLS, against the same gateway; ratio MQTTS/MQTT.
 *  3. HTTP vs HTTPS: autocannon, C connections, S seconds, POST /data (one record) against two gateways
 *     that differ only in `http.tls`; ratio HTTPS/HTTP.
 *  4. RSS of the real gateway CLI (spawned) with 10,000 idle MQTT connections (CONNECT sent, keepalive 0)
 *     opened from this process; reported per connection.
 * The gateways run with the memory store so that the figures are the transports', not the disk's
 * (store-bench.ts measures the store). Certificates: EC P-256 from `tago-edge certs` (openssl).
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/loadtests/bench/tls-bench.js [--seconds 10]
 *      [--clients 20] [--idle 10000]   (10,000 idle sockets need `ulimit -n` above ~10,100)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import autocannon from 'autocannon';
import mqtt from 'mqtt';
import { parseConfig } from '../../gateway/config/load.js';
import type { ConfigInput } from '../../gateway/config/schema.js';
import { type RunningGateway, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/log.js';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { parseFlags, runScript } from '../lib/args.js';
import { projectRoot, runProcess, startCli } from '../lib/processes.js';

const FLAGS = {
  seconds: { kind: 'number', default: 10, min: 1, help: 'measured seconds per phase' },
  clients: { kind: 'number', default: 20, min: 1, integer: true, help: 'clients / connections per phase' },
  idle: { kind: 'number', default: 10_000, min: 0, integer: true, help: 'idle MQTT connections for the RSS phase' },
} as const;
let SECONDS = 10;
let CLIENTS = 20;
let IDLE = 10_000;
const WARMUP_MS = 1_000;
const RECORD = JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Counts completions after a WARMUP_MS warm-up, until `seconds` later; `perSecond` over the measured part. */
function measuredWindow(seconds: number) {
  let count = 0;
  let counting = false;
  const deadline = Date.now() + WARMUP_MS + seconds * 1000;
  setTimeout(() => {
    counting = true;
  }, WARMUP_MS);
  return {
    running: () => Date.now() < deadline,
    done: () => {
      if (counting) count++;
    },
    perSecond: () => count / seconds,
  };
}

async function handshakes(port: number, ca: Buffer, seconds: number): Promise<number> {
  const w = measuredWindow(seconds);
  const loop = async () => {
    while (w.running()) {
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
          w.done();
          s.destroy();
          resolve();
        });
        s.on('error', () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  return w.perSecond();
}

async function mqttThroughput(url: string, ca: Buffer | undefined, seconds: number): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      mqtt.connectAsync(url, {
        username: 'Token',
        password: `bench-${i}`,
        protocolVersion: 4,
        reconnectPeriod: 0,
        ...(ca ? { ca } : {}),
      }),
    ),
  );
  const w = measuredWindow(seconds);
  await Promise.all(
    clients.map(async (c) => {
      while (w.running()) {
        await c.publishAsync('tago/data/post', RECORD, { qos: 1 });
        w.done();
      }
    }),
  );
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return w.perSecond();
}

async function httpThroughput(url: string, ca: Buffer | undefined, seconds: number): Promise<number> {
  const base = {
    url: `${url}/data`,
    connections: CLIENTS,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'device-token': 'bench-http' },
    body: RECORD,
  };
  // autocannon passes tlsOptions to tls.connect (not in our local type declaration).
  const opts = { ...base, ...(ca ? { tlsOptions: { ca, servername: 'localhost' } } : {}) };
  await autocannon({ ...opts, duration: 1 } as typeof base);
  const r = await autocannon({ ...opts, duration: seconds } as typeof base);
  if (r.errors > 0 || r.non2xx > 0) console.error(`  (${url}: ${r.errors} errors, ${r.non2xx} non-2xx)`);
  return r['2xx'] / seconds;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

function connectPacket(clientId: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
  };
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, 0b11000010, 0, 0]),
    str(clientId),
    str('Token'),
    str('idle'),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

async function idleRss(dir: string, upstream: string): Promise<{ before: number; after: number; open: number }> {
  const configFile = join(dir, 'idle.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      http: { port: 0, host: '127.0.0.1' },
      mqtt: { port: 0, host: '127.0.0.1', connectTimeoutMs: 600_000 },
      upstream: { url: upstream },
      store: { dir: join(dir, 'idle-data'), engine: 'memory' },
      log: { level: 'warn' },
    }),
  );
  const gw = await startCli('gateway', ['gateway', '--config', configFile]);
  const port = Number(gw.ports.mqtt);
  await sleep(1_000);
  const pid = gw.pid;
  const before = rssKb(pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < IDLE; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, IDLE - i) }, (_, j) => {
        const s = netConnect(port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
        return new Promise<void>((resolve) => {
          s.once('connect', () => s.write(connectPacket(`idle-${i + j}`)));
          s.once('data', () => resolve()); // CONNACK
          s.once('close', () => resolve());
        });
      }),
    );
  }
  await sleep(2_000);
  const open = sockets.filter((s) => !s.destroyed).length;
  const after = rssKb(pid);
  for (const s of sockets) s.destroy();
  await gw.stop();
  return { before, after, open };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-tls-bench-'));
  const sim = await startCloudSim({ port: 0, quiet: true });
  const gws: RunningGateway[] = [];
  try {
    // The real `tago-edge certs` command, as an operator makes them (its files: ca.crt, server.crt, server.key).
    const pki = join(dir, 'pki');
    const bin = join(projectRoot(), 'bin', 'tago-edge.js');
    await runProcess('certs', [process.execPath, bin, 'certs', '--out', pki, '--hosts', 'localhost,127.0.0.1']);
    const ca = readFileSync(join(pki, 'ca.crt'));
    const tls = { certFile: join(pki, 'server.crt'), keyFile: join(pki, 'server.key') };
    const start = async (over: ConfigInput) => {
      const config = parseConfig({
        http: { port: 0, host: '127.0.0.1' },
        mqtt: { port: 0, host: '127.0.0.1' },
        upstream: { url: sim.url, requestsPerMinute: 1_000_000 },
        store: { dir: join(dir, `gw-${gws.length}`), engine: 'memory' },
        log: { level: 'silent' },
        ...over,
      });
      const gw = await startGateway(config, { log: createLogger('silent') });
      gws.push(gw);
      return gw;
    };
    const a = await start({ mqtt: { port: 0, host: '127.0.0.1', tlsPort: 0, tls } });
    const b = await start({ http: { port: 0, host: '127.0.0.1', tls } });

    console.log(
      `tls-bench: node ${process.version}, ${platform()} ${release()}, ${cpus().length}× ${cpus()[0]?.model},`,
    );
    console.log(
      `  ${Math.round(totalmem() / 2 ** 30)} GiB; ${CLIENTS} clients/connections, ${SECONDS} s per phase, memory store`,
    );

    const hs = await handshakes(a.ports.mqtts as number, ca, Math.min(SECONDS, 5));
    console.log(`TLS handshakes/s (EC P-256, TLS 1.3, ${CLIENTS} concurrent): ${fmt(hs)}`);

    const plain = await mqttThroughput(`mqtt://127.0.0.1:${a.ports.mqtt}`, undefined, SECONDS);
    const secure = await mqttThroughput(`mqtts://127.0.0.1:${a.ports.mqtts}`, ca, SECONDS);
    console.log(`MQTT  QoS 1 publishes/s: ${fmt(plain)}`);
    console.log(`MQTTS QoS 1 publishes/s: ${fmt(secure)}   ratio MQTTS/MQTT = ${(secure / plain).toFixed(2)}`);

    const http = await httpThroughput(`http://127.0.0.1:${a.ports.http}`, undefined, SECONDS);
    const https = await httpThroughput(`https://127.0.0.1:${b.ports.http}`, ca, SECONDS);
    console.log(`HTTP  POST /data req/s: ${fmt(http)}`);
    console.log(`HTTPS POST /data req/s: ${fmt(https)}   ratio HTTPS/HTTP = ${(https / http).toFixed(2)}`);

    const idle = await idleRss(dir, sim.url);
    const perConn = ((idle.after - idle.before) * 1024) / Math.max(1, idle.open);
    console.log(
      `Gateway CLI RSS: ${fmt(idle.before / 1024)} MiB idle → ${fmt(idle.after / 1024)} MiB with ${fmt(idle.open)} ` +
        `idle MQTT connections (≈ ${fmt(perConn / 1024)} KiB per connection)`,
    );
  } finally {
    for (const gw of gws) await gw.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runScript('tls-bench', async () => {
  ({ seconds: SECONDS, clients: CLIENTS, idle: IDLE } = parseFlags('node dist/loadtests/bench/tls-bench.js', FLAGS));
  await main();
}).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
