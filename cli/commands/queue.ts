/**
 * `tago-edge queue stats | dead-letters | replay`: inspect the local store and replay dead letters.
 * With a gateway running on the store, every command goes through it (its admin socket, gateway/admin/),
 * so its store stays the file's only writer. With none, the read-only commands open the file read-only,
 * and `replay` holds the store's lock while it writes (a gateway starting meanwhile is refused).
 * Exit codes: 0 done, 1 operational failure (no store, wrong key, nothing to replay), 2 bad usage.
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { AdminRequestError, connectAdmin } from '../../gateway/admin/admin-client.js';
import { holdStore, type StoreHold } from '../../gateway/admin/admin-server.js';
import { deadLettersOfRoute, localQueueOps, type QueueOps, type QueueStats } from '../../gateway/admin/queue-ops.js';
import { deviceIdOf } from '../../gateway/auth/device-directory.js';
import { loadConfig } from '../../gateway/config/load.js';
import type { Config } from '../../gateway/config/schema.js';
import { isEdgeError } from '../../gateway/errors.js';
import { planRoutes } from '../../gateway/routes/routes.js';
import { parseQueueKey } from '../../gateway/store/queue-key.js';
import type { DeadLetter, Store } from '../../gateway/store/store.js';
import { UsageError } from '../usage-error.js';

interface CommonOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

class OperationalError extends Error {}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('inspect the local store; replay dead letters');

  common(queue.command('stats').description('points pending, bytes, age of the oldest point, dead letters')).action(
    (opts: CommonOptions) => run(opts, 'read', async (ops) => printStats(await ops.stats(), opts.json === true)),
  );

  common(queue.command('dead-letters').description('list dead letters (oldest first)'))
    .option('--limit <n>', 'how many to list', positiveInt('--limit'), 100)
    .action((opts: CommonOptions & { limit: number }) =>
      run(opts, 'read', async (ops) => printDeadLetters(await ops.deadLetters(opts.limit), opts.json === true)),
    );

  common(queue.command('replay').description('move dead letters back into the queue, to be forwarded again'))
    .option('--id <n...>', 'dead letter ids to replay (repeatable)', collectIds, [])
    .option('--all', 'replay every dead letter')
    .option('--route <name>', "replay every dead letter of one route (its name in routes:; default route 'tagoio')")
    .action((opts: CommonOptions & { id: number[]; all?: boolean; route?: string }) => {
      const given = [opts.all === true, opts.id.length > 0, opts.route !== undefined].filter(Boolean).length;
      if (given > 1) throw new UsageError('queue replay: give one of --id N..., --all or --route NAME');
      if (given === 0) throw new UsageError('queue replay: give --id N..., --all or --route NAME');
      return run(opts, 'write', async (ops, config) => {
        let ids: number[] | undefined = opts.all ? undefined : opts.id;
        if (opts.route !== undefined) {
          const routes = planRoutes(config);
          if (!routes.some((r) => r.name === opts.route)) {
            throw new UsageError(
              `queue replay: --route ${opts.route}: no such route (configured: ${routes.map((r) => r.name).join(', ')})`,
            );
          }
          const all = await ops.deadLetters(Number.MAX_SAFE_INTEGER);
          ids = deadLettersOfRoute(all, opts.route, routes).map((d) => d.id);
          if (ids.length === 0) throw new OperationalError(`nothing replayed: route ${opts.route} has no dead letters`);
        }
        const { deadLetters: letters, points } = await ops.replay(ids);
        if (opts.json) process.stdout.write(`${JSON.stringify({ deadLetters: letters, points })}\n`);
        else process.stdout.write(`replayed ${letters} dead letter(s): ${points} point(s) queued again\n`);
        if (letters === 0) throw new OperationalError('nothing replayed (no such dead letter, or none readable)');
      });
    });
}

function common(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (YAML or JSON); default TAGO_EDGE_CONFIG')
    .option('--data-dir <dir>', 'data directory (overrides store.dir)')
    .option('--json', 'print JSON instead of a table');
}

async function run(
  opts: CommonOptions,
  access: 'read' | 'write',
  body: (ops: QueueOps, config: Config) => Promise<void>,
): Promise<void> {
  const config = loadConfig({ file: opts.config }); // ConfigError: exit 2 via main
  const storeConfig = { ...config.store, ...(opts.dataDir !== undefined ? { dir: opts.dataDir } : {}) };
  const { openJetStreamStore, openSqliteStore, storePath } = await import('../../gateway/store/open-store.js');
  const path = storePath(storeConfig);
  let store: Store | undefined;
  let hold: StoreHold | undefined;
  try {
    if (storeConfig.engine === 'jetstream') {
      // The cluster's stream, read directly (no node needs to run); a node on this machine adds its live view.
      const gateway = existsSync(storeConfig.dir) ? await connectAdmin(storeConfig.dir) : null;
      if (gateway) await body(gateway.ops, config);
      else {
        // A replayed dead letter goes back on its device's partition subject.
        // Attached, not provisioned: a command that reads must not rewrite the stream's limits with its config.
        const cluster = await openJetStreamStore(storeConfig, {
          deviceIdOf: (k) => deviceIdOf(parseQueueKey(k).token),
          attachOnly: true,
        });
        store = cluster;
        await cluster.refresh();
        const where = `jetstream ${cluster.names.stream} (${storeConfig.jetstream.servers.join(', ')})`;
        await body(localQueueOps(cluster, where, planRoutes(config)), config);
      }
      return;
    }
    if (!existsSync(path))
      throw new OperationalError(`no store at ${path} (store.dir; choose another with --data-dir)`);
    const gateway = await connectAdmin(storeConfig.dir);
    if (gateway && gateway.holder.role !== 'gateway') {
      throw new OperationalError(`the store is held by another tago-edge queue (pid ${gateway.holder.pid}); try again`);
    }
    if (gateway) await body(gateway.ops, config);
    else {
      if (access === 'write') hold = await holdStore(storeConfig.dir, 'queue-cli');
      // deviceIdOf is only used when points are dead-lettered, which these commands never do.
      store = openSqliteStore(storeConfig, { deviceIdOf: () => '', readOnly: access === 'read' });
      await body(localQueueOps(store, path, planRoutes(config)), config);
    }
  } catch (err) {
    if (!(err instanceof OperationalError) && !(err instanceof AdminRequestError) && !isEdgeError(err)) throw err;
    process.stderr.write(`tago-edge queue: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await store?.close();
    await hold?.close();
  }
}

function printStats(s: QueueStats, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  const pct = s.maxBytes > 0 ? ((100 * s.depthBytes) / s.maxBytes).toFixed(1) : '0';
  const rows: Array<[string, string]> = [
    ['store', s.path],
    ['points pending', String(s.depthPoints)],
    ['devices pending', String(s.devicesPending)],
    ['bytes', `${formatBytes(s.depthBytes)} of ${formatBytes(s.maxBytes)} (${pct} %)`],
    ['oldest point', s.depthPoints === 0 ? '-' : formatAge(s.oldestAgeMs)],
    ['dead letters', String(s.deadLetters)],
  ];
  const c = s.cluster;
  if (c) {
    rows.push(
      [
        'stream',
        `${c.stream.name}: ${c.stream.current} of ${c.stream.replicas} replicas current, leader ${c.stream.leader ?? 'none'}`,
      ],
      ['stream messages', `${c.stream.messages} (${formatBytes(c.stream.bytes)})`],
      ['node', `${c.node}: ${c.partitions.held.length} of ${c.partitions.total} partitions, ${c.nodes} node(s) alive`],
      ['consumer lag', String(c.consumerLag)],
    );
    if (c.lastError) rows.push(['last error', c.lastError]);
  }
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(16)} ${v}\n`);
  if (s.routes.length > 1 || s.routes[0]?.name !== 'tagoio') {
    const table = [
      ['ROUTE', 'DESTINATION', 'POINTS', 'DEVICES', 'BYTES', 'OLDEST', 'DEAD LETTERS', 'STATE', 'DELIVERED', 'RETRIES'],
      ...s.routes.map((r) => [
        r.name,
        r.destination,
        String(r.depthPoints),
        String(r.devicesPending),
        formatBytes(r.depthBytes),
        r.depthPoints === 0 ? '-' : formatAge(r.oldestAgeMs),
        String(r.deadLetters),
        r.live?.state ?? '-',
        r.live ? String(r.live.delivered) : '-',
        r.live ? String(r.live.retries) : '-',
      ]),
    ];
    process.stdout.write('\n');
    printTable(table);
  }
}

function printDeadLetters(list: DeadLetter[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(list)}\n`);
    return;
  }
  if (list.length === 0) {
    process.stdout.write('no dead letters\n');
    return;
  }
  // The route column only when a dead letter left a route other than the primary (routes: configured).
  const routed = list.some((d) => d.route !== undefined);
  const table = [
    ['ID', 'CREATED', 'DEVICE', ...(routed ? ['ROUTE'] : []), 'REASON', 'POINTS', 'MESSAGE'],
    ...list.map((d) => [
      String(d.id),
      d.createdAt,
      d.deviceId || '-',
      ...(routed ? [d.route ?? '-'] : []),
      d.reason,
      String(d.records.length),
      d.message.length > 80 ? `${d.message.slice(0, 77)}...` : d.message,
    ]),
  ];
  printTable(table);
}

/** Columns padded to their widest cell, the last left as it is. */
function printTable(table: string[][]): void {
  const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  for (const r of table) {
    process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`);
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return n;
  };
}

function collectIds(text: string, previous: number[]): number[] {
  return [...previous, positiveInt('--id')(text)];
}
