/** The fleet against the real cloud simulator: loss = acknowledged seqs the cloud never stored. */
import { afterEach, describe, expect, it } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { type AckedRanges, countMissing, runFleet } from '../../simulators/fleet/index.js';

type Sim = Awaited<ReturnType<typeof startCloudSim>>;
let sim: Sim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function lost(url: string, acked: AckedRanges): Promise<number> {
  const received = (await (await fetch(`${url}/_sim/received`)).json()) as Record<string, number[]>;
  return countMissing(acked, received);
}

describe('simulate against cloud-sim', () => {
  it('zero lost when nothing is lost', async () => {
    sim = await startCloudSim({ port: 0 });
    const s = await runFleet({ protocol: 'http', targetHttp: sim.url, devices: 20, ratePerSec: 500, count: 10 });
    expect(s.counts.acked).toBe(200);
    expect(await lost(sim.url, s.acked)).toBe(0);
    expect(sim.stats().sequences['sim-1-0']).toMatchObject({ unique: 10, duplicates: 0 });
  });

  it('counts exactly the points cloud-sim drops on purpose (dropRate 0.1)', async () => {
    sim = await startCloudSim({ port: 0, seed: 3 });
    const faults = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', body: '{"dropRate":0.1}' });
    expect(faults.status).toBe(200);
    const s = await runFleet({ protocol: 'http', targetHttp: sim.url, devices: 20, ratePerSec: 1000, count: 25 });
    expect(s.counts.acked).toBe(500);
    const dropped = sim.stats().requests.dropped; // one record per request, so requests dropped = points dropped
    expect(dropped).toBeGreaterThan(20);
    expect(await lost(sim.url, s.acked)).toBe(dropped);
  });

  it('bad input is refused by cloud-sim with 400 and counted as rejected', async () => {
    sim = await startCloudSim({ port: 0 });
    const s = await runFleet({
      protocol: 'http',
      targetHttp: sim.url,
      devices: 10,
      ratePerSec: 1000,
      count: 20,
      badRatio: 0.2,
    });
    expect(s.counts.badSentTotal).toBeGreaterThan(10);
    expect(s.counts.rejected).toBe(s.counts.badSentTotal);
    expect(s.counts.errors).toBe(0);
    expect(await lost(sim.url, s.acked)).toBe(0);
  });
});
