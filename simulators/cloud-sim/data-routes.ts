import type { IncomingMessage, ServerResponse } from 'node:http';
import { QueryError, queryData } from './data-query.js';
import { fail, readBody, sendJson } from './http-io.js';
import { deviceIdFor, objectId } from './object-id.js';
import { oneParam, parseQuery } from './query-string.js';
import { isoTime, publicRecord, RecordError, type StoredRecord, validateBody } from './records.js';
import type { SimState } from './state.js';

/**
 * The TagoIO device API: POST /data, GET /data, GET /info, for a request that already passed the outage,
 * latency, error-rate and token checks (`server.ts`). POST /data answers in this order, each stage with
 * TagoIO's answer when it fails:
 *   429 ◀─ rate limit (per profile, per window)   413 ◀─ body > 200 kB   400 ◀─ JSON / record rules
 *   200 ◀─ stored (or, under `dropRate`, deliberately not stored)
 */

export async function postData(
  state: SimState,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { faults } = state;
  const decision = state.limiter.take(state.now(), faults.requestsPerMinute, faults.rateWindowMs);
  const body = await readBody(req, state.maxBodyBytes);
  if (!decision.allowed) {
    state.stats.rateLimited++;
    const n = decision.retryAfterS;
    return fail(res, 429, `Too many requests (Retry-After: ${n})`, { 'retry-after': String(n) });
  }
  if (body.tooLarge) return fail(res, 413, `Request body exceeds ${state.maxBodyBytes} bytes (TagoIO's 200 kB limit)`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(body.bytes.toString('utf8'));
  } catch {
    return fail(res, 400, 'Invalid JSON body (the simulator has no payload parser for raw payloads)');
  }
  let inputs: ReturnType<typeof validateBody>;
  try {
    inputs = validateBody(parsed);
  } catch (err) {
    if (err instanceof RecordError) return fail(res, 400, err.message);
    throw err;
  }

  const added = `${inputs.length} Data Added`;
  if (faults.rollDrop()) {
    // Acknowledged but lost: the loss a gateway's end-to-end accounting must be able to detect.
    state.stats.dropped++;
    return sendJson(res, 200, { status: true, result: added });
  }

  const nowMs = state.now();
  const createdAt = isoTime(nowMs);
  const device = deviceIdFor(token);
  // TagoIO generates one group per request for records that bring none (an ObjectId-like 24-hex id).
  const requestGroup = objectId(nowMs);
  // Only the records GET /data can still read back are built (the store keeps the last N per token); the
  // counters below see every record.
  const records: StoredRecord[] = [];
  for (let i = Math.max(0, inputs.length - state.records.keep); i < inputs.length; i++) {
    const r = inputs[i]!;
    const t = r.timeMs ?? nowMs;
    const rec: StoredRecord = { id: objectId(nowMs), device, variable: r.variable } as StoredRecord;
    if (r.value !== undefined) rec.value = r.value;
    if (r.unit !== undefined) rec.unit = r.unit;
    if (r.metadata !== undefined) rec.metadata = r.metadata;
    if (r.location !== undefined) rec.location = r.location;
    rec.group = r.group ?? requestGroup;
    rec.time = isoTime(t);
    rec.created_at = createdAt;
    rec.timeMs = t;
    records.push(rec);
  }
  state.records.add(token, records);
  for (const r of inputs) state.sequences.note(r.metadata);
  state.stats.stored(token, inputs.length);
  sendJson(res, 200, { status: true, result: added });
}

export function getData(state: SimState, token: string, url: URL, res: ServerResponse): void {
  const decision = state.readLimiter.take(state.now(), state.faults.getRequestsPerMinute, state.faults.rateWindowMs);
  if (!decision.allowed) {
    state.stats.rateLimited++;
    const n = decision.retryAfterS;
    fail(res, 429, `Too many requests (Retry-After: ${n})`, { 'retry-after': String(n) });
    return;
  }
  const query = parseQuery(url.search);
  let result: ReturnType<typeof queryData>;
  try {
    result = queryData(state.records.list(token), query, state.now());
  } catch (err) {
    if (!(err instanceof QueryError)) throw err;
    fail(res, 400, err.message);
    return;
  }
  // Like TagoIO, `created_at` is internal detail, answered only with `details=true`.
  const details = ['true', '1'].includes(oneParam(query, 'details', 'detail') ?? '');
  sendJson(res, 200, {
    status: true,
    result: typeof result === 'number' ? result : result.map((r) => publicRecord(r, details)),
  });
}

/**
 * DELETE /data: the records the same filters select (TagoIO's `qty` default 15 applies), removed at once
 * (TagoIO may take 10–30 s; the simulator is immediate). Answers `"N Data Removed"`.
 */
export function deleteData(state: SimState, token: string, url: URL, res: ServerResponse): void {
  const query = parseQuery(url.search);
  let result: ReturnType<typeof queryData>;
  try {
    result = queryData(state.records.list(token), query, state.now());
  } catch (err) {
    if (!(err instanceof QueryError)) throw err;
    fail(res, 400, err.message);
    return;
  }
  const ids = new Set(typeof result === 'number' ? [] : result.map((r) => r.id));
  const n = state.records.remove(token, ids);
  sendJson(res, 200, { status: true, result: `${n} Data Removed` });
}

export function getInfo(state: SimState, token: string, res: ServerResponse): void {
  const id = deviceIdFor(token);
  const last = state.records.list(token).at(-1);
  sendJson(res, 200, {
    status: true,
    result: {
      id,
      name: `cloud-sim device ${id.slice(-6)}`,
      type: 'immutable',
      active: true,
      visible: true,
      // Placeholders: the simulator has no networks or connectors, but clients expect the fields.
      network: '000000000000000000000001',
      connector: '000000000000000000000002',
      payload_decoder: null,
      tags: [],
      last_input: last ? last.created_at : null,
      created_at: new Date(state.startedAtMs).toISOString(),
      updated_at: new Date(state.startedAtMs).toISOString(),
    },
  });
}
