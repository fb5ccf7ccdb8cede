/**
 * The simulator's encrypted transports against the real gateway: mqtts, wss and https with a CA made by
 * `tago-edge certs` (`--ca`), and `--insecure` without it. Every acknowledged point reaches cloud-sim.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countMissing, type FleetSummary, runFleet } from '../../simulators/fleet/index.js';
import { startStack, waitFor } from '../helpers/stack.js';
import { makePki, type Pki, removePki } from '../security/fixtures.js';

let pki: Pki;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => removePki(pki));

async function lost(simUrl: string, s: FleetSummary): Promise<number> {
  const res = await request(`${simUrl}/_sim/received`);
  return countMissing(s.acked, (await res.body.json()) as Record<string, number[]>);
}

describe('simulator over TLS', () => {
  it('mqtts, wss and https deliver with the CA, and mqtts with --insecure', { timeout: 60_000 }, async () => {
    const tls = { certFile: pki.files.serverCert, keyFile: pki.files.serverKey };
    const { gw, sim } = await startStack({ mqtt: { tlsPort: 0, wssPort: 0, tls }, http: { tls } });
    const { mqtts, wss, http } = gw.ports;
    const common = { devices: 5, ratePerSec: 50, count: 5, profile: 'env' as const };
    const runs = await Promise.all([
      runFleet({ ...common, protocol: 'mqtts', targetMqtt: `mqtts://localhost:${mqtts}`, ca: pki.ca, seed: 11 }),
      runFleet({ ...common, protocol: 'wss', targetMqtt: `wss://localhost:${wss}`, ca: pki.ca, seed: 12 }),
      runFleet({ ...common, protocol: 'https', targetHttp: `https://localhost:${http}`, ca: pki.ca, seed: 13 }),
      runFleet({ ...common, protocol: 'mqtts', targetMqtt: `mqtts://127.0.0.1:${mqtts}`, insecure: true, seed: 14 }),
    ]);
    for (const s of runs) expect(s.counts.acked).toBe(25);
    for (const s of runs) await waitFor(async () => (await lost(sim.url, s)) === 0, 10_000, 100);
  });

  it('refuses a server it cannot verify (no CA, not insecure)', async () => {
    const tls = { certFile: pki.files.serverCert, keyFile: pki.files.serverKey };
    const { gw } = await startStack({ http: { tls } });
    const s = await runFleet({
      protocol: 'https',
      targetHttp: `https://localhost:${gw.ports.http}`,
      devices: 1,
      ratePerSec: 10,
      count: 2,
      seed: 15,
    });
    expect(s.counts.acked).toBe(0);
    expect(s.counts.errors).toBe(2);
  });
});
