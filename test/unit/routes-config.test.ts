/**
 * Routes as configured: the default is the one TagoIO route on bare-token keys; each other route has a
 * queue space no device token can reach; filters and transforms; configuration errors name the path.
 */
import { describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../gateway/auth/device-directory.js';
import { parseConfig } from '../../gateway/config/load.js';
import { RefusedTokenError } from '../../gateway/errors.js';
import type { Device } from '../../gateway/model.js';
import { planRoutes, RouteFanOut } from '../../gateway/routes/routes.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { parseQueueKey } from '../../gateway/store/queue-key.js';

const device: Device = { id: 'id1', name: 'boiler', token: 'tok', params: [], tags: [{ key: 'site', value: 'a' }] };
const at = '2026-01-01T00:00:00.000Z';

describe('routes configuration', () => {
  it('without routes: one route, tagoio, primary, keyed by the bare token', () => {
    const [r, ...rest] = planRoutes(parseConfig({}));
    expect(rest).toEqual([]);
    expect(r?.name).toBe('tagoio');
    expect(r?.primary).toBe(true);
    expect(r?.space.key('tok')).toBe('tok');
    expect(r?.space.owns('\u0000plant\u0000tok')).toBe(false);
  });

  it('other routes key their copies apart, and the first tagoio route is the primary', () => {
    const routes = planRoutes(
      parseConfig({
        routes: [
          { name: 'plant', destination: { type: 'postgres', url: 'postgres://x@127.0.0.1/db' } },
          { name: 'cloud', destination: { type: 'tagoio' } },
        ],
      }),
    );
    expect(routes.map((r) => [r.name, r.primary])).toEqual([
      ['plant', false],
      ['cloud', true],
    ]);
    const key = routes[0]?.space.key('tok') as string;
    expect(parseQueueKey(key)).toEqual({ route: 'plant', token: 'tok' });
    expect(routes[1]?.space.owns(key)).toBe(false);
    expect(routes[0]?.space.owns('tok')).toBe(false);
  });

  it('the fan-out writes what each route takes, transformed, into its own queue', async () => {
    const store = new MemoryStore({ maxBytes: 1_000_000 });
    const routes = planRoutes(
      parseConfig({
        routes: [
          {
            name: 'cloud',
            destination: { type: 'tagoio' },
            filter: { variables: ['temp*'] },
            transform: { dropFields: ['location', 'metadata'], renameVariables: { temperature: 't' } },
          },
          { name: 'other', destination: { type: 'http', url: 'http://127.0.0.1:1/' }, filter: { devices: ['nobody'] } },
          {
            name: 'site',
            destination: { type: 'http', url: 'http://127.0.0.1:1/' },
            filter: { tags: [{ key: 'site', value: 'a' }] },
          },
        ],
      }),
    );
    const records = [
      { variable: 'temperature', value: 1, time: at, location: { lat: 1, lng: 2 }, metadata: { a: 1 } },
      { variable: 'humidity', value: 2, time: at },
    ];
    await new RouteFanOut(routes, store).append(device, records);
    expect(store.peek('tok', 1e6)?.records).toEqual([{ variable: 't', value: 1, time: at }]);
    expect(store.pendingBytes('\u0000other\u0000tok')).toBe(0);
    expect(store.peek('\u0000site\u0000tok', 1e6)?.records).toEqual(records);
    expect(records[0]?.location).toEqual({ lat: 1, lng: 2 }); // the ingest's records are not changed
  });

  it('refuses a device token holding a NUL (it could name another route queue)', () => {
    const dir = new DeviceDirectory('passthrough', []);
    expect(() => dir.resolve('\u0000plant\u0000tok')).toThrow(RefusedTokenError);
    expect(dir.resolve('tok').name).toMatch(/^device-/);
    expect(() => parseConfig({ devices: [{ name: 'd', token: 'a\u0000b' }] })).toThrow('devices.0.token');
  });

  it.each([
    [{ routes: [] }, 'routes'],
    [
      {
        routes: [
          { name: 'a', destination: { type: 'tagoio' } },
          { name: 'a', destination: { type: 'tagoio' } },
        ],
      },
      'routes.1.name',
    ],
    [{ routes: [{ name: 'Bad Name', destination: { type: 'tagoio' } }] }, 'routes.0.name'],
    [{ routes: [{ name: 'a', destination: { type: 'ftp' } }] }, 'routes.0.destination'],
    [{ routes: [{ name: 'a', destination: { type: 'tagoio' }, whenLagging: 'dead_letter' }] }, 'routes.0.maxLagMs'],
    [
      { routes: [{ name: 'a', destination: { type: 'mqtt', url: 'mqtts://x', certFile: '/c.pem' } }] },
      'routes.0.destination.keyFile',
    ],
    [
      { routes: [{ name: 'a', destination: { type: 'postgres', url: 'postgres://x', table: 'drop table' } }] },
      'routes.0.destination.table',
    ],
    [
      { routes: [{ name: 'a', destination: { type: 'mqtt', url: 'mqtts://x', topic: 'a/+/b' } }] },
      'routes.0.destination.topic',
    ],
  ])('a bad route is refused naming its path: %j', (input, path) => {
    expect(() => parseConfig(input)).toThrow(path);
  });
});
