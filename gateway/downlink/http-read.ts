/**
 * HTTP devices read their downlinks the way a device reads its TagoIO bucket: `GET /data` on the ingest
 * port with the device token (the official SDK's `device.getData()`), answered from the gateway's queue
 * as TagoIO records of the variable `downlink.httpVariable`:
 *   {"id","variable","value":<message>,"metadata":{"topic","qos","retain"},"time","group"}
 * A query that names other variables is also sent on to TagoIO with the device's token (the device's own
 * read, so it counts in its profile's GET budget as it would without the gateway), and TagoIO's records
 * follow the queue's; TagoIO's refusal (401, 429, …) is answered as it came. Handing a message over marks
 * it delivered (reason `http`): HTTP has nothing after the response to acknowledge it with.
 */
import { DownlinkUpstreamError } from '../errors.js';
import type { Device } from '../model.js';
import type { DownlinkMessage } from './downlink-store.js';

/** The variables a TagoIO GET /data query names (`variable`, `variables`, `variables[]`, `variables[0]`). */
export function queriedVariables(search: string): string[] {
  const out: string[] = [];
  for (const [k, v] of new URLSearchParams(search)) {
    if (/^variables?(\[\d*\])?$/.test(k)) out.push(...v.split(',').map((x) => x.trim().toLowerCase()));
  }
  return out.filter((x) => x !== '');
}

export interface HttpDownlinkReader {
  variable: string;
  take(device: Device): Promise<DownlinkMessage[]>;
  /** TagoIO's base URL (`upstream.url`) and the request timeout. */
  upstreamUrl: string;
  timeoutMs: number;
}

export interface ReadAnswer {
  status: number;
  body: unknown;
}

function toRecords(reader: HttpDownlinkReader, list: DownlinkMessage[]): unknown[] {
  return list.map((m) => ({
    id: m.id,
    variable: reader.variable,
    value: m.payload.toString('utf8'),
    metadata: { topic: m.topic, qos: m.qos, retain: m.retain },
    group: m.id,
    time: new Date(m.createdAt).toISOString(),
  }));
}

export async function readDownlinks(reader: HttpDownlinkReader, device: Device, search: string): Promise<ReadAnswer> {
  const asked = queriedVariables(search);
  const others = asked.filter((v) => v !== reader.variable);
  let upstream: unknown[] = [];
  if (others.length > 0) {
    // Read upstream first: a refusal there leaves the queue untouched.
    let res: Response;
    try {
      res = await fetch(`${reader.upstreamUrl.replace(/\/+$/, '')}/data${search}`, {
        headers: { 'device-token': device.token },
        signal: AbortSignal.timeout(reader.timeoutMs),
      });
    } catch (err) {
      throw new DownlinkUpstreamError(`GET /data: TagoIO could not be reached (${(err as Error).message})`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new DownlinkUpstreamError(`GET /data: TagoIO answered ${res.status} with something that is not JSON`);
    }
    if (!res.ok) return { status: res.status, body };
    const result = (body as { result?: unknown }).result;
    upstream = Array.isArray(result) ? result : [];
  }
  const local =
    asked.length === 0 || asked.includes(reader.variable) ? toRecords(reader, await reader.take(device)) : [];
  return { status: 200, body: { status: true, result: [...local, ...upstream] } };
}
