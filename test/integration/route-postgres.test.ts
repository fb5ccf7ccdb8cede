/**
 * The `postgres` destination against a real PostgreSQL (test/helpers/postgres-server.ts), fed real batches
 * peeked from a real SQLite store: the table it creates, the rows points become, redelivery leaving one row
 * per point, the server going away and coming back, and the refusals that become dead letters.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { routeSchema } from '../../gateway/config/routes-schema.js';
import { createLogger } from '../../gateway/log.js';
import type { DataRecord } from '../../gateway/model.js';
import { type Delivery, pointsOf } from '../../gateway/routes/destination.js';
import { PostgresDestination, ROWS_PER_STATEMENT } from '../../gateway/routes/destinations/postgres.js';
import type { PendingBatch } from '../../gateway/store/store.js';
import { type PostgresServer, startPostgres } from '../../loadtests/lib/postgres-server.js';
import { openAt, tempDir } from '../store/helpers.js';

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.destroy());

const device = { id: 'dev-7f3a', name: 'boiler-1' };
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const at = (i: number) => new Date(T0 + i * 1000).toISOString();

let tables = 0;
/** A destination on a table of its own, with its log lines kept; closed when the test ends. */
function destination(over: { url?: string; table?: string; poolSize?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s)) });
  const table = over.table ?? `points_${++tables}`;
  const config = routeSchema.parse({
    name: 'plant',
    destination: { type: 'postgres', url: over.url ?? pg.url, table, timeoutMs: 5_000 },
  }).destination;
  if (config.type !== 'postgres') throw new Error('expected a postgres destination');
  const dest = new PostgresDestination(config, { route: 'plant', poolSize: over.poolSize ?? 2, log });
  onTestFinished(() => dest.close());
  return { dest, table, lines };
}

/** Each array is one append to a real store; the batch is what the store's peek returns for them. */
async function storedBatch(appends: DataRecord[][], path = join(tempDir(), 's.db')): Promise<PendingBatch> {
  const store = openAt(path);
  for (const records of appends) await store.append('tok-boiler', records);
  const batch = store.peek('tok-boiler', 100_000_000);
  if (!batch) throw new Error('nothing stored');
  return batch;
}

const delivery = (batch: PendingBatch): Delivery => ({ token: 'tok-boiler', device, batch });
const count = async (table: string) => (await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]?.n;

describe('postgres destination', () => {
  it('creates the table with the documented columns, key and index on the first delivery', async () => {
    const { dest, table } = destination();
    expect(await pg.query('SELECT to_regclass($1) AS t', [table])).toEqual([{ t: null }]);
    expect(await dest.deliver(delivery(await storedBatch([[{ variable: 't', value: 1, time: at(0) }]])))).toEqual({
      kind: 'delivered',
    });
    const columns = await pg.query(
      `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    const nullable = (name: string, type: string) => ({
      column_name: name,
      data_type: type,
      is_nullable: 'YES',
      column_default: null,
    });
    const required = (name: string, type: string) => ({
      column_name: name,
      data_type: type,
      is_nullable: 'NO',
      column_default: null,
    });
    expect(columns).toEqual([
      required('point_id', 'text'),
      required('device_id', 'text'),
      required('device_name', 'text'),
      required('variable', 'text'),
      nullable('value_number', 'double precision'),
      nullable('value_string', 'text'),
      nullable('value_boolean', 'boolean'),
      nullable('unit', 'text'),
      nullable('group_id', 'text'),
      nullable('latitude', 'double precision'),
      nullable('longitude', 'double precision'),
      nullable('metadata', 'jsonb'),
      required('time', 'timestamp with time zone'),
      { ...required('received_at', 'timestamp with time zone'), column_default: 'now()' },
    ]);
    const indexes = await pg.query<{ indexdef: string }>(
      'SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname',
      [table],
    );
    expect(indexes.map((i) => i.indexdef)).toEqual([
      `CREATE INDEX ${table}_device_variable_time_idx ON public.${table} USING btree (device_id, variable, "time")`,
      `CREATE UNIQUE INDEX ${table}_pkey ON public.${table} USING btree (point_id)`,
    ]);
  });

  it('writes each point as a row: typed value, unit, group, either location shape, metadata, time', async () => {
    const { dest, table } = destination();
    const records: DataRecord[] = [
      { variable: 'a_temp', value: 21.5, unit: '°C', group: 'g-1', time: at(1), location: { lat: -23.5, lng: -46.6 } },
      { variable: 'b_state', value: 'open', time: at(2), location: { type: 'Point', coordinates: [13.4, 52.5] } },
      { variable: 'c_alarm', value: false, time: at(3), metadata: { color: 'red', nested: { list: [1, 'x'] } } },
      { variable: 'd_tick', time: at(4) },
    ];
    const batch = await storedBatch([records.slice(0, 2), records.slice(2)]);
    expect(batch.entries).toHaveLength(2);
    const before = Date.now();
    expect(await dest.deliver(delivery(batch))).toEqual({ kind: 'delivered' });
    const rows = await pg.query(`SELECT * FROM ${table} ORDER BY variable`);
    const ids = [...pointsOf(delivery(batch))].map((p) => p.id);
    const common = { device_id: device.id, device_name: device.name };
    const none = { value_number: null, value_string: null, value_boolean: null, unit: null, group_id: null };
    const noPlace = { latitude: null, longitude: null };
    expect(rows.map(({ received_at, ...r }) => r)).toEqual([
      {
        ...common,
        ...none,
        point_id: ids[0],
        variable: 'a_temp',
        value_number: 21.5,
        unit: '°C',
        group_id: 'g-1',
        latitude: -23.5,
        longitude: -46.6,
        metadata: null,
        time: new Date(at(1)),
      },
      {
        ...common,
        ...none,
        point_id: ids[1],
        variable: 'b_state',
        value_string: 'open',
        latitude: 52.5,
        longitude: 13.4,
        metadata: null,
        time: new Date(at(2)),
      },
      {
        ...common,
        ...none,
        ...noPlace,
        point_id: ids[2],
        variable: 'c_alarm',
        value_boolean: false,
        metadata: { color: 'red', nested: { list: [1, 'x'] } },
        time: new Date(at(3)),
      },
      { ...common, ...none, ...noPlace, point_id: ids[3], variable: 'd_tick', metadata: null, time: new Date(at(4)) },
    ]);
    for (const r of rows) expect((r.received_at as Date).getTime()).toBeGreaterThanOrEqual(before - 5_000);
  });

  it('leaves exactly one row per point when a batch is delivered again, also after the store reopens', async () => {
    const { dest, table } = destination();
    const path = join(tempDir(), 's.db');
    const appends = [
      [
        { variable: 'v', value: 1, time: at(1) },
        { variable: 'v', value: 1, time: at(1) },
      ],
      [{ variable: 'v', value: 2, time: at(2) }],
    ];
    const batch = await storedBatch(appends, path);
    expect(await dest.deliver(delivery(batch))).toEqual({ kind: 'delivered' });
    expect(await dest.deliver(delivery(batch))).toEqual({ kind: 'delivered' });
    // The gateway stopped before its ack: the reopened store hands out the same points, with the same ids.
    const again = openAt(path).peek('tok-boiler', 100_000_000);
    expect(again?.points).toBe(3);
    expect(await dest.deliver(delivery(again as PendingBatch))).toEqual({ kind: 'delivered' });
    // Two identical records of one append are two points, not one.
    expect(await count(table)).toBe(3);
  });

  it('splits a batch past the parameter limit into statements of one transaction', async () => {
    const { dest, table } = destination();
    const many = (n: number, tail: DataRecord[] = []) => [
      ...Array.from({ length: n }, (_, i) => ({ variable: 'v', value: i, time: at(i) })),
      ...tail,
    ];
    const n = ROWS_PER_STATEMENT + 50;
    // A refusal in the last statement takes the earlier statements' rows with it.
    const bad = await storedBatch([many(n, [{ variable: 'w', value: 'nul\u0000', time: at(0) }])]);
    expect(await dest.deliver(delivery(bad))).toMatchObject({ kind: 'dead_letter', reason: 'postgres_22021' });
    expect(await count(table)).toBe(0);
    expect(await dest.deliver(delivery(await storedBatch([many(n)])))).toEqual({ kind: 'delivered' });
    expect(await count(table)).toBe(n);
  });

  it('dead-letters a point PostgreSQL refuses for good (a NUL byte in text) and goes on delivering', async () => {
    const { dest, table, lines } = destination();
    const bad = await storedBatch([
      [
        { variable: 'ok', value: 'fine', time: at(1) },
        { variable: 'bad', value: 'a\u0000b', time: at(2) },
      ],
    ]);
    const outcome = await dest.deliver(delivery(bad));
    expect(outcome).toEqual({
      kind: 'dead_letter',
      reason: 'postgres_22021',
      message: 'invalid byte sequence for encoding "UTF8": 0x00',
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'postgres: batch refused', sqlstate: '22021', points: 2 }),
    );
    expect(await count(table)).toBe(0);
    expect(await dest.deliver(delivery(await storedBatch([[{ variable: 'ok', value: 1, time: at(3) }]])))).toEqual({
      kind: 'delivered',
    });
    expect(await count(table)).toBe(1);
  });

  it('creates the table again when it is dropped while running', async () => {
    const { dest, table } = destination();
    expect(await dest.deliver(delivery(await storedBatch([[{ variable: 'v', value: 1, time: at(1) }]])))).toEqual({
      kind: 'delivered',
    });
    await pg.query(`DROP TABLE ${table}`);
    expect(await dest.deliver(delivery(await storedBatch([[{ variable: 'v', value: 2, time: at(2) }]])))).toEqual({
      kind: 'delivered',
    });
    expect(await pg.query(`SELECT value_number FROM ${table}`)).toEqual([{ value_number: 2 }]);
  });

  it('answers retry while permission is denied, and delivers once an operator grants it', async () => {
    await pg.query('DROP ROLE IF EXISTS edge_writer');
    await pg.query('CREATE ROLE edge_writer LOGIN');
    onTestFinished(async () => {
      await pg.query('DROP OWNED BY edge_writer');
      await pg.query('DROP ROLE edge_writer');
    });
    const { dest, table } = destination({ url: pg.url.replace('postgres@', 'edge_writer@') });
    const batch = await storedBatch([[{ variable: 'v', value: 1, time: at(1) }]]);
    const refused = await dest.deliver(delivery(batch));
    expect(refused).toMatchObject({ kind: 'retry' });
    expect(refused.kind === 'retry' && refused.error).toMatch(/permission denied for schema public \(42501\)/);
    await pg.query('GRANT CREATE ON SCHEMA public TO edge_writer');
    expect(await dest.deliver(delivery(batch))).toEqual({ kind: 'delivered' });
    expect(await count(table)).toBe(1);
  });

  it('answers retry while PostgreSQL is down, without crashing, and delivers every point once it is back', async () => {
    const warm = destination();
    const first = await storedBatch([[{ variable: 'v', value: 1, time: at(1) }]]);
    expect(await warm.dest.deliver(delivery(first))).toEqual({ kind: 'delivered' });
    await pg.stop();
    // A destination made while the server is down (a gateway starting before its database) fails nothing.
    const cold = destination();
    const second = await storedBatch([
      [
        { variable: 'v', value: 2, time: at(2) },
        { variable: 'v', value: 3, time: at(3) },
      ],
    ]);
    for (const d of [warm, cold]) {
      const outcome = await d.dest.deliver(delivery(second));
      expect(outcome).toMatchObject({ kind: 'retry' });
      expect(outcome.kind === 'retry' && outcome.error).toMatch(/ECONNREFUSED/);
    }
    // The warm pool's idle connection was cut by the shutdown: reported, not thrown.
    expect(warm.lines).toContainEqual(expect.objectContaining({ msg: 'postgres: idle connection lost' }));
    await pg.start();
    for (const d of [warm, cold]) {
      expect(await d.dest.deliver(delivery(second))).toEqual({ kind: 'delivered' });
      expect(await d.dest.deliver(delivery(first))).toEqual({ kind: 'delivered' });
    }
    for (const d of [warm, cold]) {
      expect(await pg.query(`SELECT value_number AS v FROM ${d.table} ORDER BY time`)).toEqual([
        { v: 1 },
        { v: 2 },
        { v: 3 },
      ]);
    }
  });

  it('answers retry after close', async () => {
    const { dest, table } = destination();
    await dest.close();
    expect(await dest.deliver(delivery(await storedBatch([[{ variable: 'v', value: 1, time: at(1) }]])))).toEqual({
      kind: 'retry',
      error: 'postgres destination closed',
    });
    expect(await pg.query('SELECT to_regclass($1) AS t', [table])).toEqual([{ t: null }]);
  });
});
