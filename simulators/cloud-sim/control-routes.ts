import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultsError, parseFaultsPatch } from './faults.js';
import { fail, readBody, sendJson } from './http-io.js';
import type { SimState } from './state.js';

/**
 * The `/_sim/*` control API for tests and load tests. It needs no token, is not counted in the stats and
 * keeps answering during an outage (the outage is what it controls).
 *   GET  /_sim/faults     current faults          POST /_sim/faults   patch them (JSON, see `Faults`)
 *   POST /_sim/reset      clear data and counters GET  /_sim/stats    counters (`SimStats`)
 *   GET  /_sim/received   sorted unique sequences per simulated device (`?device=NAME` for one;
 *                        `?order=arrival` in the order they first arrived)
 */
export const CONTROL_PREFIX = '/_sim/';

export async function handleControl(
  state: SimState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  onFaults: (patch: ReturnType<typeof parseFaultsPatch>) => void,
): Promise<void> {
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /_sim/faults':
      return sendJson(res, 200, state.faults.snapshot(state.now()));
    case 'POST /_sim/faults': {
      const body = await readBody(req, state.maxBodyBytes);
      let patch: ReturnType<typeof parseFaultsPatch>;
      try {
        patch = parseFaultsPatch(JSON.parse(body.bytes.toString('utf8') || '{}'));
      } catch (err) {
        if (err instanceof FaultsError || err instanceof SyntaxError) return fail(res, 400, err.message);
        throw err;
      }
      onFaults(patch);
      return sendJson(res, 200, state.faults.snapshot(state.now()));
    }
    case 'POST /_sim/reset':
      req.resume();
      state.reset();
      return sendJson(res, 200, { status: true, result: 'reset' });
    case 'GET /_sim/stats':
      return sendJson(res, 200, state.snapshot());
    case 'GET /_sim/received': {
      const device = url.searchParams.get('device') ?? undefined;
      const order = url.searchParams.get('order') === 'arrival' ? 'arrival' : 'sorted';
      return sendJson(res, 200, state.sequences.received(device, order));
    }
    default:
      req.resume();
      return fail(res, 404, `No control route ${route}`);
  }
}
