/**
 * Shared fixtures for the security suite: certificates made with openssl (through `createCertificates`,
 * what `tago-edge certs` runs) into a temporary directory once per file, and small HTTP/MQTT helpers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { request } from 'undici';
import { onTestFinished } from 'vitest';
import { type CertFiles, createCertificates } from '../../cli/commands/certs.js';

export interface Pki {
  dir: string;
  files: CertFiles;
  ca: Buffer;
  client(cn: string): { cert: Buffer; key: Buffer };
}

export async function makePki(clients: string[] = []): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-pki-'));
  const files = await createCertificates({ out: dir, hosts: ['localhost', '127.0.0.1', '::1'], clients });
  return {
    dir,
    files,
    ca: readFileSync(files.caCert),
    client(cn) {
      const c = files.clients.find((x) => x.cn === cn);
      if (!c) throw new Error(`no client certificate for ${cn}`);
      return { cert: readFileSync(c.cert), key: readFileSync(c.key) };
    },
  };
}

export function removePki(pki: Pki | undefined): void {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
}

export async function post(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
  opts: Parameters<typeof request>[1] = {},
) {
  const res = await request(`${base}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    ...opts,
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: the test looks at status and text
  }
  return { status: res.statusCode, headers: res.headers, body: json, text };
}

export async function connectMqtt(url: string, token: string | undefined, opts: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, {
    username: 'Token',
    ...(token !== undefined ? { password: token } : {}),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...opts,
  });
  onTestFinished(() => client.endAsync(true));
  return client;
}

/** Resolves when the client's connection closes. */
export function closed(client: mqtt.MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (client.disconnected || !client.connected) {
      resolve();
      return;
    }
    client.once('close', () => resolve());
  });
}
