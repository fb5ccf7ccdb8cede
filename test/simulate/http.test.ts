import { afterEach, describe, expect, it } from 'vitest';
import { expandRanges, runFleet } from '../../simulators/fleet/index.js';
import { type HttpIngest, startHttpIngest } from './servers.js';

let server: HttpIngest | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('simulate over HTTP', () => {
  it('sends every point once, acks them all and reports the acked seq ranges', async () => {
    server = await startHttpIngest();
    const s = await runFleet({ protocol: 'http', targetHttp: server.url, devices: 20, ratePerSec: 400, count: 5 });
    expect(s.counts).toMatchObject({ scheduled: 100, sent: 100, acked: 100, errors: 0, unacked: 0 });
    expect(Object.keys(s.acked)).toHaveLength(20);
    for (const [device, ranges] of Object.entries(s.acked)) {
      expect(ranges).toEqual([[0, 4]]);
      expect([...(server.received.get(device) ?? [])].sort((a, b) => a - b)).toEqual(expandRanges(ranges));
    }
    expect(s.latencyMs.fromSchedule.count).toBe(100);
    expect(s.latencyMs.fromSchedule.p50).toBeGreaterThan(0);
    expect(s.latencyMs.fromSchedule.max).toBeGreaterThanOrEqual(s.latencyMs.fromSend.max - 1);
  });

  it('counts queueing in latency from schedule when connections are the bottleneck', async () => {
    server = await startHttpIngest({ delayMs: 50 });
    // 1 connection, 50 ms per request, 40 points/s offered: the FIFO grows, from-schedule latency must show it.
    const s = await runFleet({
      protocol: 'http',
      targetHttp: server.url,
      devices: 4,
      ratePerSec: 40,
      count: 5,
      httpConnections: 1,
    });
    expect(s.counts.acked).toBe(20);
    expect(s.latencyMs.fromSend.p50).toBeLessThan(200);
    expect(s.latencyMs.fromSchedule.max).toBeGreaterThan(300);
  });

  it('injects bad input of every JSON kind, counts it and sees it rejected', async () => {
    server = await startHttpIngest();
    const s = await runFleet({
      protocol: 'http',
      targetHttp: server.url,
      devices: 10,
      ratePerSec: 1000,
      count: 40,
      badRatio: 0.3,
      seed: 7,
    });
    const bad = s.counts.badSent;
    expect(Object.keys(bad).sort()).toEqual(['forbidden-char', 'invalid-json', 'missing-variable', 'value-too-long']);
    expect(s.counts.badSentTotal).toBeGreaterThan(80);
    expect(s.counts.rejected).toBe(s.counts.badSentTotal);
    expect(s.counts.badAcked).toBe(0);
    expect(s.counts.acked + s.counts.badSentTotal).toBe(400);
    expect(s.counts.errors).toBe(0);
    expect(server.rejected).toBe(s.counts.badSentTotal);
    // Good seqs stay contiguous: bad points take none.
    for (const ranges of Object.values(s.acked)) expect(ranges.length).toBe(1);
  });

  it('sends hex frames as text/plain and bad frames of the hex kind', async () => {
    server = await startHttpIngest();
    const s = await runFleet({
      protocol: 'http',
      targetHttp: server.url,
      devices: 6,
      ratePerSec: 600,
      count: 10,
      profile: 'hex',
      badRatio: 0.2,
    });
    expect(Object.keys(s.counts.badSent)).toEqual(['bad-hex-frame']);
    expect(s.counts.rejected).toBe(s.counts.badSentTotal);
    expect(server.hexBodies.length).toBe(s.counts.acked);
    expect(s.acked).toEqual({}); // hex frames carry no seq
  });

  it('counts refused good points and network errors as errors, by kind', async () => {
    const s = await runFleet({
      protocol: 'http',
      targetHttp: 'http://127.0.0.1:1',
      devices: 2,
      ratePerSec: 100,
      count: 3,
    });
    expect(s.counts.errors).toBe(6);
    expect(s.counts.errorsByKind).toEqual({ network: 6 });
    expect(s.counts.acked).toBe(0);
  });
});
