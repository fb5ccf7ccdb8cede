/** The downlink listener over HTTPS (`downlink.tls`), with a CA made by `tago-edge certs`'s code. */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/stack.js';
import { makePki, type Pki, removePki } from '../security/fixtures.js';
import { device, SECRET, startDownlinkStack } from './downlink-fixture.js';

let pki: Pki | undefined;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => removePki(pki));

describe('downlink listener over TLS', () => {
  it('POST /publish over HTTPS verified against the CA reaches the device; plain HTTP does not', async () => {
    const p = pki as Pki;
    const { gw, mqtt: url } = await startDownlinkStack({
      devices: [{ name: 'tls-1', token: 'tok-tls-1' }],
      downlink: { tls: { certFile: p.files.serverCert, keyFile: p.files.serverKey } },
    });
    const d = await device(url, 'tok-tls-1');
    await d.client.subscribeAsync('devices/tls-1/cmd', { qos: 1 });
    const dispatcher = new Agent({ connect: { ca: p.ca } });
    const res = await request(`https://127.0.0.1:${gw.ports.downlink}/publish`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: SECRET, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'devices/tls-1/cmd', message: 'secure', qos: 1 }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    await waitFor(() => d.received.length === 1);
    expect(d.received[0]?.payload).toBe('secure');
    await expect(
      request(`http://127.0.0.1:${gw.ports.downlink}/publish`, { method: 'POST', body: '{}' }).then(
        (r) => r.statusCode,
      ),
    ).rejects.toThrow();
    await dispatcher.close();
  });
});
