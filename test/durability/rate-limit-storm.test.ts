/**
 * 429 storm: TagoIO's limit is far below what the gateway is configured for (a misconfigured plan). The
 * forwarder must honour Retry-After (TagoIO puts it in the message) and probe each new window with one
 * request instead of a burst, so refused requests stay close to one per window, and everything is
 * delivered once.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startStack, waitFor } from '../helpers/stack.js';

describe('429 storm', () => {
  it('honours Retry-After and sends few refused requests while the backlog drains at the limit', {
    timeout: 40_000,
  }, async () => {
    const limitPerWindow = 4;
    const windowMs = 1000;
    const { http, sim } = await startStack(
      { upstream: { requestsPerMinute: 60_000, maxInFlight: 8 } },
      { requestsPerMinute: limitPerWindow, rateWindowMs: windowMs },
    );
    const devices = 30;
    for (let d = 0; d < devices; d++) {
      const res = await request(`${http}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'device-token': `storm-${d}` },
        body: JSON.stringify([{ variable: 'v', value: d }]),
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const t0 = Date.now();
    await waitFor(() => sim.stats().points === devices, 30_000, 50);
    const elapsedWindows = Math.ceil((Date.now() - t0) / windowMs) + 1;
    const s = sim.stats();
    const accepted = s.requests.byStatus['200'] ?? 0;
    const refused = s.requests.rateLimited;
    console.info(`429 storm: ${accepted} accepted, ${refused} refused (429) over ~${elapsedWindows} windows`);
    // Every device delivered once; never more accepted per window than the limit (cloud-sim enforces it).
    expect(accepted).toBe(devices);
    for (let d = 0; d < devices; d++) expect(s.tokens[`storm-${d}`]?.points).toBe(1);
    // The first burst may meet up to maxInFlight refusals; after that about one probe per window.
    expect(refused).toBeLessThanOrEqual(8 + elapsedWindows);
    // It cannot have gone faster than the limit allows.
    expect(Date.now() - t0).toBeGreaterThanOrEqual((devices / limitPerWindow - 2) * windowMs);
  });
});
