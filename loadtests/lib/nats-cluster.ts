/**
 * A real NATS JetStream cluster for tests and benchmarks: N `nats-server` processes (Debian's package) on
 * free loopback ports, each with its own JetStream directory under one temporary directory, routed to each
 * other as one cluster (no cluster block when N is 1). A server can be killed (SIGKILL) or stopped and
 * started again on the same ports and data, which is how tests take a server, or the quorum, away.
 *
 * Invariant: every server started here is killed when this process exits, whatever state a test left it in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort, waitPort } from './processes.js';

export interface NatsNode {
  name: string;
  /** Client port on 127.0.0.1. */
  port: number;
  url: string;
  readonly running: boolean;
  /** SIGKILL: the server dies with whatever it had not written. */
  kill(): Promise<void>;
  /** SIGTERM (lame duck off): a clean stop. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every server's client URL, for `store.jetstream.servers`. */
  servers: string[];
  /** Resolves once JetStream answers an account info request through `via` (default: any running server). */
  waitJetStream(timeoutMs?: number, via?: NatsNode): Promise<void>;
  /** Kills every server and removes the directory. */
  destroy(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export const NATS_SERVER = process.env.TAGO_EDGE_NATS_SERVER ?? 'nats-server';

export async function startNatsCluster(size = 3, opts: { name?: string } = {}): Promise<NatsCluster> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-nats-'));
  const ports = await Promise.all(Array.from({ length: size }, async () => [await freePort(), await freePort()]));
  const clusterName = opts.name ?? 'tago-edge-test';
  const nodes = ports.map(([port, clusterPort], i): NatsNode => {
    const name = `n${i + 1}`;
    const storeDir = join(dir, name);
    mkdirSync(storeDir, { recursive: true });
    const conf = join(dir, `${name}.conf`);
    const routes = ports.filter((_, j) => j !== i).map(([, c]) => `nats-route://127.0.0.1:${c}`);
    const lines = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${port}`,
      'jetstream {',
      `  store_dir: "${storeDir}"`,
      '  max_memory_store: 64MB',
      '  max_file_store: 8GB',
      '}',
    ];
    if (size > 1) {
      lines.push('cluster {', `  name: ${clusterName}`, `  listen: 127.0.0.1:${clusterPort}`);
      lines.push(`  routes: [${routes.join(', ')}]`, '}');
    }
    writeFileSync(conf, `${lines.join('\n')}\n`);
    let child: ChildProcess | undefined;
    let log = '';
    const exited = (c: ChildProcess) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve();
        else c.once('exit', () => resolve());
      });
    const node: NatsNode = {
      name,
      port: port as number,
      url: `nats://127.0.0.1:${port}`,
      get running() {
        return child !== undefined;
      },
      async start() {
        if (child) return;
        const c = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
        c.stderr?.setEncoding('utf8').on('data', (d: string) => {
          log = (log + d).slice(-8_000);
        });
        running.add(c);
        child = c;
        c.once('exit', () => {
          running.delete(c);
          if (child === c) child = undefined;
        });
        try {
          await waitPort(port as number, 15_000);
        } catch (err) {
          throw new Error(`nats-server ${name} did not listen on ${port}: ${(err as Error).message}\n${log}`);
        }
      },
      async kill() {
        const c = child;
        if (!c) return;
        c.kill('SIGKILL');
        await exited(c);
      },
      async stop() {
        const c = child;
        if (!c) return;
        c.kill('SIGTERM');
        await exited(c);
      },
    };
    return node;
  });
  await Promise.all(nodes.map((n) => n.start()));

  const cluster: NatsCluster = {
    nodes,
    servers: nodes.map((n) => n.url),
    async waitJetStream(timeoutMs = 30_000, via) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        const targets = via ? [via] : nodes.filter((n) => n.running);
        try {
          const nc = await connect({ servers: targets.map((n) => n.url), timeout: 2_000 });
          try {
            const jsm = await jetstreamManager(nc, { timeout: 2_000 });
            await jsm.getAccountInfo();
            return;
          } finally {
            await nc.close();
          }
        } catch (err) {
          last = err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      throw new Error(`JetStream not ready within ${timeoutMs} ms: ${(last as Error)?.message}`);
    },
    async destroy() {
      await Promise.all(nodes.map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitJetStream();
  return cluster;
}
