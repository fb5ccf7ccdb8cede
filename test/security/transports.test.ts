/**
 * Encrypted transports end to end, with certificates made by `tago-edge certs` (openssl) for this run:
 * MQTT over TLS, WebSocket and secure WebSocket, HTTPS, and mTLS (a client certificate whose CN is a
 * configured device's `certificateCN` is that device, without a token; one from another CA is not).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startStack, waitFor } from '../helpers/stack.js';
import { connectMqtt, makePki, type Pki, post, removePki } from './fixtures.js';

const run = promisify(execFile);
let pki: Pki;
let foreign: Pki;

beforeAll(async () => {
  pki = await makePki(['sensor-1', 'stranger']);
  foreign = await makePki(['sensor-1']);
});
afterAll(() => {
  removePki(pki);
  removePki(foreign);
});

function tlsConfig(requestClientCert = false) {
  return {
    certFile: pki.files.serverCert,
    keyFile: pki.files.serverKey,
    caFile: pki.files.caCert,
    requestClientCert,
  };
}

const record = (value: number) => JSON.stringify({ variable: 'temperature', value });

describe('encrypted transports', () => {
  it('MQTT over TLS, WebSocket and secure WebSocket each deliver a QoS 1 publish', async () => {
    const { gw, sim } = await startStack({ mqtt: { tlsPort: 0, wsPort: 0, wssPort: 0, tls: tlsConfig() } });
    const { mqtts, ws, wss } = gw.ports;
    expect(mqtts).toBeGreaterThan(0);
    const a = await connectMqtt(`mqtts://127.0.0.1:${mqtts}`, 'tok-mqtts', { ca: pki.ca });
    await a.publishAsync('tago/data/post', record(1), { qos: 1 });
    const b = await connectMqtt(`ws://127.0.0.1:${ws}`, 'tok-ws');
    await b.publishAsync('tago/data/post', record(2), { qos: 1 });
    const c = await connectMqtt(`wss://127.0.0.1:${wss}`, 'tok-wss', { ca: pki.ca });
    await c.publishAsync('tago/data/post', record(3), { qos: 1 });
    await waitFor(() => {
      const t = sim.stats().tokens;
      return t['tok-mqtts']?.points === 1 && t['tok-ws']?.points === 1 && t['tok-wss']?.points === 1;
    });
  });

  it('MQTTS refuses a client that does not trust the server certificate (no silent downgrade)', async () => {
    const { gw } = await startStack({ mqtt: { tlsPort: 0, tls: tlsConfig() } });
    await expect(connectMqtt(`mqtts://127.0.0.1:${gw.ports.mqtts}`, 'tok')).rejects.toThrow(/self.signed|certificate/i);
  });

  it('mosquitto_pub over TLS with --cafile', async () => {
    const { gw, sim } = await startStack({ mqtt: { tlsPort: 0, tls: tlsConfig() } });
    await run('mosquitto_pub', [
      ...['-h', 'localhost', '-p', String(gw.ports.mqtts), '--cafile', pki.files.caCert, '-V', 'mqttv311'],
      ...['-u', 'Token', '-P', 'tok-mosq-tls', '-q', '1', '-t', 'tago/data/post', '-m', record(4)],
    ]);
    await waitFor(() => sim.stats().tokens['tok-mosq-tls']?.points === 1);
  });

  it('HTTPS: POST /data with undici trusting the local CA', async () => {
    const { gw, sim } = await startStack({
      http: { tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey } },
    });
    const dispatcher = new Agent({ connect: { ca: pki.ca } });
    const base = `https://127.0.0.1:${gw.ports.http}`;
    const res = await post(base, { variable: 'x', value: 1 }, { 'device-token': 'tok-https' }, { dispatcher });
    expect(res).toMatchObject({ status: 200, body: { status: true, result: '1 Data Added' } });
    await waitFor(() => sim.stats().tokens['tok-https']?.points === 1);
    // Plain HTTP on the HTTPS port is not served.
    await expect(post(`http://127.0.0.1:${gw.ports.http}`, { variable: 'x', value: 1 })).rejects.toThrow();
    await dispatcher.close();
  });
});

describe('mTLS', () => {
  const devices = [
    { name: 'sensor-1', token: 'tok-sensor-1', certificateCN: 'sensor-1' },
    { name: 'other', token: 'tok-other' },
  ];

  it('a client certificate whose CN is a device certificateCN is that device, without a token', async () => {
    const { gw, sim } = await startStack({
      auth: { mode: 'registry' },
      devices,
      mqtt: { tlsPort: 0, tls: tlsConfig(true) },
    });
    const url = `mqtts://127.0.0.1:${gw.ports.mqtts}`;
    const client = await connectMqtt(url, undefined, { ca: pki.ca, ...pki.client('sensor-1') });
    await client.publishAsync('tago/data/post', record(5), { qos: 1 });
    await waitFor(() => sim.stats().tokens['tok-sensor-1']?.points === 1);

    // A certificate from this CA whose CN is no device: it has to bring a token.
    await expect(connectMqtt(url, undefined, { ca: pki.ca, ...pki.client('stranger') })).rejects.toThrow(
      /Bad username or password/,
    );
    const withToken = await connectMqtt(url, 'tok-other', { ca: pki.ca, ...pki.client('stranger') });
    expect(withToken.connected).toBe(true);
  });

  it('HTTPS with a client certificate is that device without a token; a foreign CA is not', async () => {
    const { gw, sim } = await startStack({
      auth: { mode: 'registry' },
      devices,
      http: { tls: tlsConfig(true) },
    });
    const url = `https://127.0.0.1:${gw.ports.http}/data`;
    const send = async (cert: { cert: Buffer; key: Buffer } | undefined, token?: string) => {
      const agent = new Agent({ connect: { ca: pki.ca, ...(cert ?? {}) } });
      try {
        const res = await request(url, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', ...(token ? { 'device-token': token } : {}) },
          body: record(7),
        });
        await res.body.dump();
        return res.statusCode;
      } finally {
        await agent.close();
      }
    };
    expect(await send(pki.client('sensor-1'))).toBe(200);
    await waitFor(() => sim.stats().tokens['tok-sensor-1']?.points === 1);
    // A certificate from another CA does not verify: no device, and no token → 401.
    expect(await send(foreign.client('sensor-1'))).toBe(401);
    // A verified certificate whose CN is no device still needs its token.
    expect(await send(pki.client('stranger'))).toBe(401);
    expect(await send(pki.client('stranger'), 'tok-other')).toBe(200);
  });

  it('mTLS over secure WebSocket maps the certificate the same way', async () => {
    const { gw, sim } = await startStack({
      auth: { mode: 'registry' },
      devices,
      mqtt: { wssPort: 0, tls: tlsConfig(true) },
    });
    const client = await connectMqtt(`wss://127.0.0.1:${gw.ports.wss}`, undefined, {
      ca: pki.ca,
      ...pki.client('sensor-1'),
    });
    await client.publishAsync('tago/data/post', record(6), { qos: 1 });
    await waitFor(() => sim.stats().tokens['tok-sensor-1']?.points === 1);
  });

  it('a certificate with the same CN from another CA is not that device', async () => {
    const { gw, sim } = await startStack({
      auth: { mode: 'registry' },
      devices,
      mqtt: { tlsPort: 0, tls: tlsConfig(true) },
    });
    const url = `mqtts://127.0.0.1:${gw.ports.mqtts}`;
    await expect(connectMqtt(url, undefined, { ca: pki.ca, ...foreign.client('sensor-1') })).rejects.toThrow(
      /Bad username or password|Not authorized/,
    );
    expect(sim.stats().tokens['tok-sensor-1']).toBeUndefined();
  });

  it('a client without a certificate still authenticates with its token', async () => {
    const { gw } = await startStack({
      auth: { mode: 'registry' },
      devices,
      mqtt: { tlsPort: 0, tls: tlsConfig(true) },
    });
    const c = await connectMqtt(`mqtts://127.0.0.1:${gw.ports.mqtts}`, 'tok-other', { ca: pki.ca });
    expect(c.connected).toBe(true);
  });
});

describe('tago-edge certs', () => {
  it('creates a CA, a server certificate with the SANs and client certificates that verify', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tago-edge-certs-cli-'));
    try {
      const r = await runCli(['certs', '--out', out, '--hosts', 'gw.local,10.0.0.5', '--client', 'dev-1', 'dev 2']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'client-dev-1.crt', 'client-dev_2.key']) {
        expect(existsSync(join(out, f)), f).toBe(true);
      }
      const text = (await run('openssl', ['x509', '-in', join(out, 'server.crt'), '-noout', '-text'])).stdout;
      expect(text).toMatch(/DNS:gw\.local/);
      expect(text).toMatch(/IP Address:10\.0\.0\.5/);
      const v = await run('openssl', ['verify', '-CAfile', join(out, 'ca.crt'), join(out, 'client-dev_2.crt')]);
      expect(v.stdout).toMatch(/OK/);
      const subj = (await run('openssl', ['x509', '-in', join(out, 'client-dev_2.crt'), '-noout', '-subject'])).stdout;
      expect(subj).toMatch(/CN\s*=\s*dev 2/);
      // Refuses to overwrite a CA without --force (usage error, exit 2).
      const again = await runCli(['certs', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/--force/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
