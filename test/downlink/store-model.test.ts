/**
 * The downlink store against an in-memory model (Vector's disk-buffer habit): random enqueues to a few
 * targets, deliveries, clock jumps with expiry sweeps, and reopenings of the file, checking after every
 * step that each message's status and the queue depth match the model — the per-target bound (oldest
 * overflows to a dead letter), expiry at `ttlMs`, and nothing lost or changed across a reopen.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type DownlinkStatus, DownlinkStore } from '../../gateway/downlink/downlink-store.js';
import { tempDir } from '../helpers/stack.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const TTL = 1_000;
const PER_TARGET = 3;

/** A store with `sync: full` and room for 10 messages. */
const fullSyncStore = (dir: string) =>
  new DownlinkStore({ dir, sync: 'full', ttlMs: TTL, maxQueuedPerDevice: 10, maxQueued: 10, retryAfterSeconds: 1 });

describe('downlink store (model-based)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: statuses and depth follow the model through 400 random steps`, () => {
      const dir = tempDir();
      const opts = {
        dir,
        sync: 'normal' as const,
        ttlMs: TTL,
        maxQueuedPerDevice: PER_TARGET,
        maxQueued: 10_000,
        retryAfterSeconds: 1,
      };
      let store = new DownlinkStore(opts);
      const random = rng(seed);
      const model = new Map<string, { target: string; status: DownlinkStatus; expiresAt: number; seq: number }>();
      let now = 1_000_000;
      let seq = 0;
      const queued = () => [...model.entries()].filter(([, m]) => m.status === 'queued');
      try {
        for (let step = 0; step < 400; step++) {
          const r = random();
          if (r < 0.5) {
            const target = `dev-${Math.floor(random() * 4)}`;
            const { message, overflowed } = store.enqueue(
              {
                target,
                topic: `devices/${target}/cmd`,
                payload: Buffer.from(`m${step}`),
                qos: 1,
                retain: false,
                source: 'push',
              },
              now,
            );
            const mine = queued()
              .filter(([, m]) => m.target === target)
              .sort((a, b) => a[1].seq - b[1].seq);
            const over = mine.length + 1 - PER_TARGET;
            const expectOverflow = over > 0 ? mine.slice(0, over).map(([id]) => id) : [];
            expect(overflowed.map((m) => m.id)).toEqual(expectOverflow);
            for (const id of expectOverflow) (model.get(id) as { status: DownlinkStatus }).status = 'dead_letter';
            model.set(message.id, { target, status: 'queued', expiresAt: now + TTL, seq: seq++ });
          } else if (r < 0.7) {
            const list = queued();
            const pick = list[Math.floor(random() * list.length)];
            if (pick) {
              expect(store.markDelivered(pick[0], now, 'mqtt')).toBe(true);
              pick[1].status = 'delivered';
              expect(store.markDelivered(pick[0], now, 'mqtt')).toBe(false);
            }
          } else if (r < 0.9) {
            now += Math.floor(random() * 600);
            const expired = store
              .expire(now)
              .map((m) => m.id)
              .sort();
            const want = queued()
              .filter(([, m]) => m.expiresAt <= now)
              .map(([id]) => id)
              .sort();
            expect(expired).toEqual(want);
            for (const id of want) (model.get(id) as { status: DownlinkStatus }).status = 'expired';
          } else {
            store.close();
            store = new DownlinkStore(opts);
          }
          expect(store.depth()).toBe(queued().length);
          for (const [id, m] of model) expect(store.get(id)?.status, id).toBe(m.status);
        }
        expect(store.counts().queued).toBe(queued().length);
      } finally {
        store.close();
      }
    });
  }

  it('keeps one retained message per topic, cleared by an empty one, and prunes old outcomes but not it', () => {
    const dir = tempDir();
    const store = fullSyncStore(dir);
    try {
      const base = { target: 'topic:t/1', topic: 't/1', qos: 1 as const, source: 'push' as const };
      const a = store.enqueue({ ...base, payload: Buffer.from('a'), retain: true }, 0).message;
      const b = store.enqueue({ ...base, payload: Buffer.from('b'), retain: true }, 1).message;
      expect(store.retained().map((m) => m.id)).toEqual([b.id]);
      store.markDelivered(a.id, 2, 'mqtt');
      store.markDelivered(b.id, 2, 'mqtt');
      expect(store.prune(10)).toBe(1);
      expect(store.get(a.id)).toBeUndefined();
      expect(store.get(b.id)?.status).toBe('delivered');
      store.enqueue({ ...base, payload: Buffer.alloc(0), retain: true }, 3);
      expect(store.retained()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('commits the deliveries of one turn together: at the next turn, or before any other write', async () => {
    const dir = tempDir();
    const store = fullSyncStore(dir);
    const other = new Database(join(dir, 'downlink.sqlite'), { readonly: true });
    const onDisk = (id: string) => other.prepare('SELECT status FROM messages WHERE id = ?').pluck().get(id);
    try {
      const base = { topic: 'devices/d/cmd', qos: 1 as const, retain: false, source: 'push' as const };
      const [a, b, c] = [1, 2, 3].map(
        (i) => store.enqueue({ ...base, target: `dev-${i}`, payload: Buffer.from('x') }, 0).message,
      );
      if (!a || !b || !c) throw new Error('enqueue');
      expect(store.markDelivered(a.id, 1, 'mqtt')).toBe(true);
      expect(store.markDelivered(b.id, 1, 'mqtt')).toBe(true);
      expect(store.markDelivered(a.id, 1, 'mqtt')).toBe(false);
      // This connection sees them at once; the file, once the turn's transaction commits.
      expect([store.get(a.id)?.status, store.depth()]).toEqual(['delivered', 1]);
      expect([onDisk(a.id), onDisk(b.id)]).toEqual(['queued', 'queued']);
      await new Promise((r) => setImmediate(r));
      expect([onDisk(a.id), onDisk(b.id)]).toEqual(['delivered', 'delivered']);
      // An enqueue commits the waiting deliveries first, then itself, before it returns.
      expect(store.markDelivered(c.id, 2, 'mqtt')).toBe(true);
      const d = store.enqueue({ ...base, target: 'dev-4', payload: Buffer.from('y') }, 2).message;
      expect([onDisk(c.id), onDisk(d.id)]).toEqual(['delivered', 'queued']);
      // And close commits them too.
      expect(store.markDelivered(d.id, 3, 'mqtt')).toBe(true);
      store.close();
      expect(onDisk(d.id)).toBe('delivered');
    } finally {
      other.close();
      store.close();
    }
  });
});
