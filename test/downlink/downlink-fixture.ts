/**
 * Downlink test fixture: a real gateway with the downlink listener on an ephemeral port in front of a
 * real cloud-sim (test/helpers/stack.ts), a `POST /publish` client (undici) and MQTT.js devices.
 */
import mqtt from 'mqtt';
import { request } from 'undici';
import { onTestFinished } from 'vitest';
import type { ConfigInput } from '../../gateway/config/schema.js';
import { merge, type Stack, startStack, waitFor } from '../helpers/stack.js';

export const SECRET = 'downlink-secret-0123456789';

export interface DownlinkStack extends Stack {
  downlink: string;
}

export async function startDownlinkStack(overrides: Record<string, unknown> = {}): Promise<DownlinkStack> {
  const base = { downlink: { port: 0, host: '127.0.0.1', secret: SECRET } };
  const stack = await startStack(merge(base, overrides) as Partial<ConfigInput> as never);
  return { ...stack, downlink: `http://127.0.0.1:${stack.gw.ports.downlink}` };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { status: boolean; message?: string; result?: { id: string; status: string; [k: string]: unknown } };
}

/** POST /publish with the relay's raw `Authorization: <secret>` unless told otherwise. */
export async function publish(
  base: string,
  body: unknown,
  auth: string | null = SECRET,
  raw?: string,
): Promise<Answer> {
  const res = await request(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth === null ? {} : { authorization: auth }) },
    body: raw ?? JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Answer['body'] };
}

export async function status(base: string, id: string): Promise<string | undefined> {
  const res = await request(`${base}/downlink/${id}`, { headers: { authorization: `Bearer ${SECRET}` } });
  const body = (await res.body.json()) as Answer['body'];
  return body.result?.status;
}

export function waitForStatus(base: string, id: string, want: string, timeoutMs = 10_000): Promise<string> {
  return waitFor(async () => ((await status(base, id)) === want ? want : null), timeoutMs);
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** An MQTT.js device: CONNECT with the token as password, every message it receives recorded. */
export async function device(url: string, token: string, opts: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, {
    username: 'Token',
    password: token,
    protocolVersion: 4,
    reconnectPeriod: 0,
    ...opts,
  });
  onTestFinished(() => client.endAsync(true));
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain });
  });
  return { client, received };
}

export async function metricValue(httpBase: string, name: string): Promise<number> {
  const res = await request(`${httpBase}/metrics`);
  const text = await res.body.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}
