/**
 * The ingest stages run from one list: each message ends in exactly one acknowledgement (after the store)
 * or one refusal, counted once with the stage that refused it. The sources here are what a protocol
 * adapter supplies (the HTTP and MQTT adapters are tested end to end in test/integration/).
 */
import { describe, expect, it } from 'vitest';
import { InvalidBodyError, StoreFullError } from '../../gateway/errors.js';
import { events, type IngestRejectedEvent } from '../../gateway/events.js';
import { INGEST_STAGES, IngestPipeline, type IngestSource, type StageName } from '../../gateway/ingest/pipeline.js';
import type { Device } from '../../gateway/model.js';
import { planRoutes, RouteFanOut } from '../../gateway/routes/routes.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';

const device: Device = { id: 'd1', name: 'd1', token: 'tok-1', params: [], tags: [] };

interface Outcome {
  acked: number[];
  refused: Array<{ code: string; stage: StageName }>;
  rejected: IngestRejectedEvent[];
}

/** Runs one message; `throwAt` makes that adapter-supplied stage refuse it. */
async function runOne(
  pipeline: IngestPipeline,
  opts: { throwAt?: StageName; body?: unknown; retryStore?: () => Promise<boolean> } = {},
): Promise<Outcome> {
  const out: Outcome = { acked: [], refused: [], rejected: [] };
  const unsub = events.ingestRejected.subscribe((e) => out.rejected.push(e));
  const refuseAt = (stage: StageName) => {
    if (opts.throwAt === stage) throw new InvalidBodyError(`refused at ${stage}`);
  };
  const source: IngestSource = {
    protocol: 'http',
    arrivedAtMs: Date.now(),
    admit: () => refuseAt('admit'),
    authenticate: () => {
      refuseAt('authenticate');
      return device;
    },
    limit: () => refuseAt('limit'),
    decode: (_d, done) => {
      if (opts.throwAt === 'decode') return done(new InvalidBodyError('refused at decode'));
      done(null, { kind: 'json', body: opts.body ?? { variable: 'v', value: 1 }, raw: '' });
    },
    ack: (points) => {
      refuseAt('ack');
      out.acked.push(points);
    },
    refuse: (err, stage) => {
      out.refused.push({ code: err.code, stage });
      if (stage === 'store' && opts.retryStore) return opts.retryStore();
      return undefined;
    },
  };
  pipeline.run(source);
  await pipeline.idle();
  unsub();
  return out;
}

describe('ingest stages', () => {
  it('are declared once, in order', () => {
    expect(INGEST_STAGES.map((s) => s.name)).toEqual([
      'admit',
      'authenticate',
      'limit',
      'decode',
      'parse',
      'validate',
      'store',
      'ack',
    ]);
  });

  it('acknowledge only after the store has the points', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000 });
    const out = await runOne(new IngestPipeline({ store: new RouteFanOut(planRoutes({}), store), parsers: null }));
    expect(out).toEqual({ acked: [1], refused: [], rejected: [] });
    expect(store.stats().depthPoints).toBe(1);
  });

  it.each(['admit', 'authenticate', 'limit', 'decode'] as const)(
    'a refusal at %s is answered and counted once, and nothing is stored',
    async (stage) => {
      const store = new MemoryStore({ maxBytes: 1_000_000 });
      const out = await runOne(new IngestPipeline({ store: new RouteFanOut(planRoutes({}), store), parsers: null }), {
        throwAt: stage,
      });
      expect(out.acked).toEqual([]);
      expect(out.refused).toEqual([{ code: 'EDGE_ERR_INVALID_BODY', stage }]);
      expect(out.rejected).toHaveLength(1);
      expect(out.rejected[0]).toMatchObject({ protocol: 'http', code: 'EDGE_ERR_INVALID_BODY', stage });
      expect(store.stats().depthPoints).toBe(0);
    },
  );

  it('a record that breaks TagoIO’s rules is refused at validate', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000 });
    const out = await runOne(new IngestPipeline({ store: new RouteFanOut(planRoutes({}), store), parsers: null }), {
      body: { value: 1 },
    });
    expect(out.refused).toEqual([{ code: 'EDGE_ERR_INVALID_RECORD', stage: 'validate' }]);
    expect(out.rejected).toMatchObject([{ stage: 'validate', deviceId: 'd1' }]);
  });

  it('a full store refuses at store; the adapter may run that stage again, each refusal counted', async () => {
    const store = new MemoryStore({ maxBytes: 10 });
    let tries = 0;
    const out = await runOne(new IngestPipeline({ store: new RouteFanOut(planRoutes({}), store), parsers: null }), {
      retryStore: async () => ++tries < 3,
    });
    expect(out.acked).toEqual([]);
    expect(out.refused.map((r) => r.stage)).toEqual(['store', 'store', 'store']);
    expect(out.rejected.map((r) => r.code)).toEqual(Array(3).fill(new StoreFullError('x').code));
  });

  it('an acknowledgement that fails is answered, and the stored message is not counted as refused', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000 });
    const out = await runOne(new IngestPipeline({ store: new RouteFanOut(planRoutes({}), store), parsers: null }), {
      throwAt: 'ack',
    });
    expect(out.refused).toEqual([{ code: 'EDGE_ERR_INVALID_BODY', stage: 'ack' }]);
    expect(out.rejected).toEqual([]);
    expect(store.stats().depthPoints).toBe(1);
  });
});
