/**
 * HTTP devices read their downlinks the way a device reads its TagoIO bucket: `GET /data` on the ingest
 * port with the device token (the official SDK's `device.getData()`), answered from the gateway's queue
 * as TagoIO records of the variable `downlink.httpVariable`:
 *   {"id","variable","value":<message>,"metadata":{"topic","qos","retain"},"time","group"}
 * A query for other variables only answers `[]`: the gateway keeps no copy of the bucket. Handing a
 * message over marks it delivered (reason `http`): HTTP has nothing after the response to acknowledge it.
 */
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
  take(device: Device): DownlinkMessage[];
}

export function readDownlinks(reader: HttpDownlinkReader, device: Device, search: string): unknown[] {
  const asked = queriedVariables(search);
  if (asked.length > 0 && !asked.includes(reader.variable)) return [];
  return reader.take(device).map((m) => ({
    id: m.id,
    variable: reader.variable,
    value: m.payload.toString('utf8'),
    metadata: { topic: m.topic, qos: m.qos, retain: m.retain },
    group: m.id,
    time: new Date(m.createdAt).toISOString(),
  }));
}
