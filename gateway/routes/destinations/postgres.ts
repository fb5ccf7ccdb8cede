/**
 * The `postgres` destination: each point becomes one row of a table (created when missing), keyed by its
 * point id (gateway/routes/destination.ts `pointsOf`).
 *
 * Invariants:
 * - A batch is one transaction of `INSERT … ON CONFLICT (point_id) DO NOTHING`: `delivered` only after its
 *   COMMIT. A redelivery (the gateway crashed before its ack, or the COMMIT's answer was lost) inserts
 *   nothing twice: at least once on the wire, exactly once in the table.
 * - Only a refusal that would repeat with the same data (SQLSTATE class 22 data exception, class 23
 *   integrity violation) is a dead letter; anything else — the server down or restarting, timeouts,
 *   permissions, a missing schema — is `retry`, so an operator's fix lets the queued points through.
 * - PostgreSQL being down at start fails nothing: the table is created by the first delivery that reaches it.
 */
import { DatabaseError, escapeIdentifier, Pool, type PoolClient } from 'pg';
import type { DestinationConfig } from '../../config/routes-schema.js';
import type { Logger } from '../../log.js';
import type { DataRecord } from '../../model.js';
import { type Delivery, type DeliveryOutcome, type Destination, errorText, pointsOf } from '../destination.js';

type PostgresConfig = Extract<DestinationConfig, { type: 'postgres' }>;

/** The inserted columns, in the order of each row's parameters (received_at takes its default). */
const COLUMNS = [
  'point_id',
  'device_id',
  'device_name',
  'variable',
  'value_number',
  'value_string',
  'value_boolean',
  'unit',
  'group_id',
  'latitude',
  'longitude',
  'metadata',
  'time',
] as const;

/** PostgreSQL's protocol counts a statement's parameters in 16 bits: larger batches take several statements. */
const MAX_PARAMETERS = 65_535;
export const ROWS_PER_STATEMENT = Math.floor(MAX_PARAMETERS / COLUMNS.length);

type Row = unknown[];

/** A point as its row's parameters: exactly one value column set, by the value's JS type (none: all null). */
function rowOf(id: string, delivery: Delivery, r: DataRecord): Row {
  const v = r.value;
  const loc = r.location;
  const [lat, lng] =
    loc === undefined ? [null, null] : 'lat' in loc ? [loc.lat, loc.lng] : [loc.coordinates[1], loc.coordinates[0]];
  return [
    id,
    delivery.device.id,
    delivery.device.name,
    r.variable,
    typeof v === 'number' ? v : null,
    typeof v === 'string' ? v : null,
    typeof v === 'boolean' ? v : null,
    r.unit ?? null,
    r.group ?? null,
    lat,
    lng,
    // Stringified here: pg would send a JS array as a PostgreSQL array, not as JSON.
    r.metadata === undefined ? null : JSON.stringify(r.metadata),
    r.time,
  ];
}

/** SQLSTATE of a server's refusal; undefined for a connection-level failure (refused, reset, timed out). */
function sqlState(err: unknown): string | undefined {
  return err instanceof DatabaseError ? err.code : undefined;
}

/** Whether sending the same rows again would be refused again. */
function refusedForGood(state: string): boolean {
  return state.startsWith('22') || state.startsWith('23');
}

/** Creating the table failed: `cause` is PostgreSQL's or the connection's error. */
class TableSetupError extends Error {
  constructor(override readonly cause: unknown) {
    super(errorText(cause));
  }
}

/** An error for an operator: its text and the SQLSTATE when the server answered, else the system code. */
function describe(err: unknown): string {
  const code = sqlState(err) ?? (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `${errorText(err)} (${code})` : errorText(err);
}

export class PostgresDestination implements Destination {
  readonly type = 'postgres';
  private readonly pool: Pool;
  private readonly target: string;
  private readonly ddl: string;
  private readonly log: Logger;
  private readonly route: string;
  /** The table is known to exist; reset when an insert says it is gone (42P01) or creating it failed. */
  private ready: Promise<void> | null = null;
  private closed = false;

  constructor(config: PostgresConfig, opts: { route: string; poolSize: number; log: Logger }) {
    this.log = opts.log;
    this.route = opts.route;
    this.pool = new Pool({
      connectionString: config.url,
      max: opts.poolSize,
      application_name: `tago-edge-${opts.route}`,
      connectionTimeoutMillis: config.timeoutMs,
      statement_timeout: config.timeoutMs,
      // The server's statement_timeout answers first with a SQLSTATE; this client-side bound is for a
      // server or network that no longer answers at all.
      query_timeout: config.timeoutMs + 1_000,
      keepAlive: true,
    });
    // An idle client's connection dying (the server restarting) is reported here; without a listener it
    // would be an unhandled 'error' event and end the process. The pool replaces the client on next use.
    this.pool.on('error', (err) =>
      this.log.warn({ route: this.route, err: errorText(err) }, 'postgres: idle connection lost'),
    );
    // Schema and table are validated lower-case identifiers; quoting still keeps reserved words valid.
    this.target = `${escapeIdentifier(config.schema)}.${escapeIdentifier(config.table)}`;
    const index = escapeIdentifier(`${config.table}_device_variable_time_idx`.slice(0, 63));
    this.ddl = `CREATE TABLE IF NOT EXISTS ${this.target} (
  point_id text PRIMARY KEY,
  device_id text NOT NULL,
  device_name text NOT NULL,
  variable text NOT NULL,
  value_number double precision,
  value_string text,
  value_boolean boolean,
  unit text,
  group_id text,
  latitude double precision,
  longitude double precision,
  metadata jsonb,
  time timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${index} ON ${this.target} (device_id, variable, time);`;
  }

  async deliver(delivery: Delivery): Promise<DeliveryOutcome> {
    if (this.closed) return { kind: 'retry', error: 'postgres destination closed' };
    const rows: Row[] = [];
    for (const { id, record } of pointsOf(delivery)) rows.push(rowOf(id, delivery, record));
    if (rows.length === 0) return { kind: 'delivered' };
    let client: PoolClient | undefined;
    // A checked-out client has no pool listener: a connection lost between two statements must not be an
    // unhandled 'error' event (the statement in flight, or the next, rejects and is classified).
    const onClientError = () => {};
    try {
      client = await this.pool.connect();
      client.on('error', onClientError);
      await this.ensureTable(client);
      try {
        await this.insert(client, rows);
      } catch (err) {
        if (sqlState(err) !== '42P01') throw err;
        // The table went away while running (dropped, a restore): create it again and insert once more.
        this.ready = null;
        await this.ensureTable(client);
        await this.insert(client, rows);
      }
      client.off('error', onClientError);
      client.release();
      return { kind: 'delivered' };
    } catch (err) {
      // After any failure the connection is dropped (the server then aborts an open transaction): cheap
      // next to a failure, and no aborted transaction, statement still running after a client-side
      // timeout or terminated session can reach the next batch.
      client?.off('error', onClientError);
      client?.release(true);
      return this.outcomeOf(err, rows.length);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Creates the table once per destination, and again after a 42P01; concurrent deliveries share it. */
  private async ensureTable(client: PoolClient): Promise<void> {
    this.ready ??= client.query(this.ddl).then(() => {
      this.log.info({ route: this.route, table: this.target }, 'postgres: table ready');
    });
    const attempt = this.ready;
    try {
      await attempt;
    } catch (err) {
      if (this.ready === attempt) this.ready = null;
      throw new TableSetupError(err);
    }
  }

  /** Every row in one transaction; one statement unless the batch exceeds the parameter limit. */
  private async insert(client: PoolClient, rows: Row[]): Promise<void> {
    if (rows.length <= ROWS_PER_STATEMENT) {
      await client.query(this.insertSql(rows.length), rows.flat());
      return;
    }
    await client.query('BEGIN');
    try {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const part = rows.slice(i, i + ROWS_PER_STATEMENT);
        await client.query(this.insertSql(part.length), part.flat());
      }
      await client.query('COMMIT');
    } catch (err) {
      // After a refusal the caller may use this connection again (re-creating a dropped table): end the
      // aborted transaction. Otherwise the caller drops the connection, which aborts it.
      if (sqlState(err) !== undefined) await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  private insertSql(rowCount: number): string {
    const n = COLUMNS.length;
    const values: string[] = [];
    for (let r = 0; r < rowCount; r++) {
      values.push(`(${COLUMNS.map((_, c) => `$${r * n + c + 1}`).join(',')})`);
    }
    return `INSERT INTO ${this.target} (${COLUMNS.join(',')}) VALUES ${values.join(',')} ON CONFLICT (point_id) DO NOTHING`;
  }

  private outcomeOf(err: unknown, points: number): DeliveryOutcome {
    // Creating the table is always retried, whatever its SQLSTATE: two gateways creating the same table
    // at once can fail with 23505 on the catalogue, which is no fault of the points.
    if (err instanceof TableSetupError) {
      return { kind: 'retry', error: `postgres: cannot create ${this.target}: ${describe(err.cause)}` };
    }
    const state = sqlState(err);
    if (state !== undefined && refusedForGood(state)) {
      this.log.warn({ route: this.route, sqlstate: state, points, err: errorText(err) }, 'postgres: batch refused');
      return { kind: 'dead_letter', reason: `postgres_${state}`, message: errorText(err) };
    }
    return { kind: 'retry', error: `postgres: ${describe(err)}` };
  }
}
