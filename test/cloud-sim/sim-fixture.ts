import { request } from 'undici';
import { onTestFinished } from 'vitest';
import { type CloudSim, type CloudSimOptions, startCloudSim } from '../../simulators/cloud-sim/index.js';

/** A simulator on an ephemeral port, closed when the test finishes. */
export async function sim(opts: CloudSimOptions = {}): Promise<CloudSim> {
  const s = await startCloudSim(opts);
  onTestFinished(() => s.close());
  return s;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of many shapes, each asserted by its test
  body: any;
}

export async function call(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers['device-token'] = opts.token;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? null : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export const post = (base: string, token: string, body: unknown) => call(base, 'POST', '/data', { token, body });
export const get = (base: string, token: string, path: string) => call(base, 'GET', path, { token });
