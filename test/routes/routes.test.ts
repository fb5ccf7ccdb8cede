/**
 * Routes end to end, in-process gateway on ephemeral ports: points reach cloud-sim (TagoIO), a real
 * PostgreSQL and a TLS mosquitto with client certificates (another cloud's broker), each route with its own
 * delivery; a filter and a transform do what docs/routes.md says; a route's outage never holds another; a
 * route's dead letters replay into that route only; `whenLagging: dead_letter` empties a dead route.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../gateway/config/schema.js';
import { runCli } from '../helpers/cli.js';
import { routeServers, simReceived, startWebhook, subscribeBroker, tableTally } from '../helpers/route-sinks.js';
import { missing, startSeqLoad } from '../helpers/seq-load.js';
import { startStack, waitFor } from '../helpers/stack.js';

/** How long a route stays down under load while another delivers (the isolation test). */
const OUTAGE_MS = Number(process.env.TAGO_EDGE_ROUTE_OUTAGE_MS ?? 60_000);

const servers = routeServers();

async function post(http: string, token: string, body: unknown): Promise<number> {
  const res = await request(`${http}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'device-token': token },
    body: JSON.stringify(body),
  });
  await res.body.dump();
  return res.statusCode;
}

/** What TagoIO (cloud-sim) holds for a device token, as its GET /data answers it. */
async function simData(simUrl: string, token: string): Promise<Array<Record<string, unknown>>> {
  const res = await request(`${simUrl}/data?qty=100`, { headers: { 'device-token': token } });
  return ((await res.body.json()) as { result: Array<Record<string, unknown>> }).result;
}

function threeRoutes(table: string): ConfigInput['routes'] {
  return [
    { name: 'cloud', destination: { type: 'tagoio' } },
    { name: 'plant', destination: { type: 'postgres', url: servers.pg.url, table } },
    {
      name: 'azure',
      destination: {
        type: 'mqtt',
        url: servers.broker.url,
        topic: 'devices/{device}/messages/events/',
        caFile: servers.broker.caFile,
        certFile: servers.broker.certFile,
        keyFile: servers.broker.keyFile,
      },
    },
  ];
}

describe('routes', () => {
  it('delivers every acknowledged point to TagoIO, PostgreSQL and the TLS broker, each once in the table', async () => {
    const sink = await subscribeBroker(servers.broker);
    const { sim, http, mqtt, gw } = await startStack({ routes: threeRoutes('three_routes') });
    const load = startSeqLoad(() => ({ http, mqtt }), { httpWriters: 2, mqttClients: 2, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 2_000));
    await load.stop();
    const acked = [...load.acked.values()].reduce((n, s) => n + s.size, 0);
    expect(acked).toBeGreaterThan(200);
    await waitFor(async () => Object.keys(missing(load.acked, await simReceived(sim.url))).length === 0, 15_000);
    await waitFor(
      async () =>
        Object.keys(missing(load.acked, (await tableTally(servers.pg, 'three_routes')).received())).length === 0,
      15_000,
    );
    await waitFor(() => Object.keys(missing(load.acked, sink.tally.received())).length === 0, 15_000);
    const table = await tableTally(servers.pg, 'three_routes');
    expect(table.rows).toBe(table.points); // one row per point
    expect([...sink.topics].every((t) => /^devices\/device-[0-9a-f]{8}\/messages\/events\/$/.test(t))).toBe(true);
    await waitFor(() => gw.routes.status().every((r) => r.depthPoints === 0));
    const status = gw.routes.status();
    expect(status.map((r) => [r.name, r.destination])).toEqual([
      ['cloud', 'tagoio'],
      ['plant', 'postgres'],
      ['azure', 'mqtt'],
    ]);
    for (const r of status) expect(r.delivered).toBeGreaterThanOrEqual(acked);
    // The per-route figures in /readyz and /metrics.
    const ready = (await (await request(`${http}/readyz`)).body.json()) as { routes: Array<{ name: string }> };
    expect(ready.routes.map((r) => r.name)).toEqual(['cloud', 'plant', 'azure']);
    const metrics = await (await request(`${http}/metrics`)).body.text();
    for (const name of ['cloud', 'plant', 'azure']) {
      expect(metrics).toMatch(new RegExp(`tago_edge_route_points_delivered_total\\{route="${name}"\\} \\d+`));
      expect(metrics).toContain(`tago_edge_route_depth_points{route="${name}"} 0`);
    }
  });

  it('a filter and a transform: the cloud gets temp* without location, the plant every variable with it', async () => {
    const hook = await startWebhook();
    const { sim, http } = await startStack({
      devices: [
        { name: 'boiler', token: 'tok-boiler', tags: [{ key: 'site', value: 'plant-1' }] },
        { name: 'office', token: 'tok-office', tags: [{ key: 'site', value: 'hq' }] },
      ],
      routes: [
        {
          name: 'cloud',
          destination: { type: 'tagoio' },
          filter: { variables: ['temp*'] },
          transform: { dropFields: ['location'], renameVariables: { temperature: 'temp_c' } },
        },
        {
          name: 'plant',
          destination: { type: 'http', url: hook.url },
          filter: { tags: [{ key: 'site', value: 'plant-1' }] },
        },
      ],
    });
    const location = { lat: -22.9, lng: -43.2 };
    expect(
      await post(http, 'tok-boiler', [
        { variable: 'temperature', value: 81.5, location },
        { variable: 'pressure', value: 2.1, location },
      ]),
    ).toBe(200);
    expect(await post(http, 'tok-office', [{ variable: 'temperature', value: 21, location }])).toBe(200);
    await waitFor(() => sim.stats().points >= 2);
    await waitFor(() => hook.tally.records.length >= 2);
    const cloud = [...(await simData(sim.url, 'tok-boiler')), ...(await simData(sim.url, 'tok-office'))].map((r) => ({
      variable: r.variable,
      value: r.value,
      location: r.location,
    }));
    expect(cloud).toEqual(
      expect.arrayContaining([
        { variable: 'temp_c', value: 81.5, location: undefined },
        { variable: 'temp_c', value: 21, location: undefined },
      ]),
    );
    expect(cloud).toHaveLength(2);
    expect(hook.devices).toEqual(new Set(['boiler']));
    expect(hook.tally.records.map((r) => [r.variable, r.value, r.location])).toEqual([
      ['temperature', 81.5, location],
      ['pressure', 2.1, location],
    ]);
  });

  it(`one route down for ${OUTAGE_MS / 1000} s under load never delays the other; afterwards it gets everything`, {
    timeout: OUTAGE_MS + 60_000,
  }, async () => {
    const hook = await startWebhook();
    hook.failWith = 503;
    const { sim, http, mqtt, gw } = await startStack({
      routes: [
        { name: 'cloud', destination: { type: 'tagoio' } },
        { name: 'hook', destination: { type: 'http', url: hook.url }, delivery: { retryMaxMs: 2_000 } },
      ],
    });
    const load = startSeqLoad(() => ({ http, mqtt }), { httpWriters: 2, mqttClients: 2, intervalMs: 10 });
    // Every few seconds of the outage: what was acknowledged 1 s before has reached TagoIO.
    const pause = Math.min(5_000, OUTAGE_MS / 4);
    const started = Date.now();
    let checks = 0;
    let worstCloudAgeMs = 0;
    while (Date.now() - started < OUTAGE_MS) {
      await new Promise((r) => setTimeout(r, pause));
      const snapshot = new Map([...load.acked].map(([d, s]) => [d, new Set(s)]));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(missing(snapshot, await simReceived(sim.url))).toEqual({});
      const cloud = gw.routes.status()[0];
      worstCloudAgeMs = Math.max(worstCloudAgeMs, cloud?.oldestAgeMs ?? 0);
      checks++;
    }
    const [cloud, down] = gw.routes.status();
    expect(down?.state).toBe('down');
    expect(down?.delivered).toBe(0);
    expect(down?.depthPoints).toBeGreaterThan(0);
    expect(cloud?.state).toBe('ok');
    expect(checks).toBeGreaterThanOrEqual(Math.floor(OUTAGE_MS / (pause + 1_000)));
    hook.failWith = null;
    await load.stop();
    await waitFor(() => Object.keys(missing(load.acked, hook.tally.received())).length === 0, 30_000, 100);
    await waitFor(async () => Object.keys(missing(load.acked, await simReceived(sim.url))).length === 0, 10_000);
    console.info(
      `route isolation: ${[...load.acked.values()].reduce((n, s) => n + s.size, 0)} acknowledged over ${OUTAGE_MS / 1000} s ` +
        `with the webhook down; TagoIO's oldest queued point at most ${worstCloudAgeMs} ms old; ` +
        `${hook.tally.duplicates} duplicates at the webhook`,
    );
  });

  it("a route's dead letters name it; `queue replay --route` puts them back into that route only", async () => {
    const hook = await startWebhook();
    hook.failWith = 422;
    const routes: ConfigInput['routes'] = [
      { name: 'cloud', destination: { type: 'tagoio' } },
      { name: 'hook', destination: { type: 'http', url: hook.url } },
    ];
    const { sim, http, gw } = await startStack({ routes });
    expect(await post(http, 'tok-a', [{ variable: 'v', value: 1 }])).toBe(200);
    await waitFor(async () => (await gw.store.listDeadLetters()).length === 1);
    expect((await gw.store.listDeadLetters())[0]).toMatchObject({ route: 'hook', reason: 'http_422' });
    await waitFor(() => sim.stats().points === 1);
    hook.failWith = null;
    // The CLI, through the running gateway's admin socket (the gateway stays the store's one writer).
    const config = join(gw.config.store.dir, 'routes.json');
    writeFileSync(config, JSON.stringify({ store: { dir: gw.config.store.dir }, routes }));
    const none = await runCli(['queue', 'replay', '--route', 'cloud', '--config', config]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('route cloud has no dead letters');
    const unknown = await runCli(['queue', 'replay', '--route', 'nope', '--config', config]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--route nope: no such route (configured: cloud, hook)');
    const replayed = await runCli(['queue', 'replay', '--route', 'hook', '--config', config]);
    expect(replayed.stdout).toContain('replayed 1 dead letter(s): 1 point(s) queued again');
    await waitFor(() => hook.tally.records.length === 1);
    await waitFor(() => gw.routes.status().every((r) => r.depthPoints === 0));
    expect(sim.stats().points).toBe(1); // TagoIO's copy was never dead-lettered: it does not come again
    const stats = await runCli(['queue', 'stats', '--json', '--config', config]);
    const rows = (JSON.parse(stats.stdout) as { routes: Array<Record<string, unknown>> }).routes;
    expect(rows).toMatchObject([
      { name: 'cloud', destination: 'tagoio', depthPoints: 0, deadLetters: 0, live: { state: 'ok', delivered: 1 } },
      { name: 'hook', destination: 'http', depthPoints: 0, deadLetters: 0, live: { state: 'ok', delivered: 1 } },
    ]);
    const table = await runCli(['queue', 'stats', '--config', config]);
    expect(table.stdout).toMatch(/ROUTE\s+DESTINATION\s+POINTS/);
    expect(table.stdout).toMatch(/hook\s+http\s+0/);
  });

  it("store-full back-pressure counts every route's copy: a dead route fills the store, its recovery frees it", async () => {
    const hook = await startWebhook();
    hook.failWith = 503;
    const { sim, http, gw } = await startStack({
      store: { maxBytes: 4_000 },
      routes: [
        { name: 'cloud', destination: { type: 'tagoio' } },
        { name: 'hook', destination: { type: 'http', url: hook.url }, delivery: { retryMaxMs: 200 } },
      ],
    });
    let accepted = 0;
    let status = 200;
    for (let i = 0; i < 200 && status === 200; i++) {
      status = await post(http, 'tok-a', [{ variable: 'v', value: i, metadata: { pad: 'x'.repeat(40) } }]);
      if (status === 200) accepted++;
    }
    expect(status).toBe(503); // EDGE_ERR_STORE_FULL, though TagoIO took every point
    // The refused append may have left one route its copy (the device sends again: a duplicate, never a loss).
    await waitFor(() => sim.stats().points >= accepted && gw.routes.status()[0]?.depthPoints === 0);
    expect(sim.stats().points).toBeLessThanOrEqual(accepted + 1);
    expect(gw.routes.status()[1]?.depthPoints).toBeGreaterThanOrEqual(accepted);
    hook.failWith = null;
    await waitFor(() => hook.tally.records.length >= accepted, 10_000);
    await waitFor(async () => (await post(http, 'tok-a', [{ variable: 'v', value: -1 }])) === 200, 10_000);
  });

  it('whenLagging: dead_letter moves what a dead route holds past maxLagMs to the dead letters', async () => {
    const hook = await startWebhook();
    hook.failWith = 503;
    const { sim, http, gw } = await startStack({
      routes: [
        { name: 'cloud', destination: { type: 'tagoio' } },
        {
          name: 'hook',
          destination: { type: 'http', url: hook.url },
          delivery: { retryBaseMs: 50, retryMaxMs: 200 },
          maxLagMs: 500,
          whenLagging: 'dead_letter',
        },
      ],
    });
    for (let i = 0; i < 5; i++) expect(await post(http, 'tok-a', [{ variable: 'v', value: i }])).toBe(200);
    await waitFor(() => sim.stats().points === 5);
    await waitFor(() => gw.routes.status()[1]?.depthPoints === 0, 10_000);
    const letters = await gw.store.listDeadLetters();
    expect(letters.every((d) => d.route === 'hook' && d.reason === 'lagging')).toBe(true);
    expect(letters.reduce((n, d) => n + d.records.length, 0)).toBe(5);
    const metrics = await (await request(`${http}/metrics`)).body.text();
    expect(metrics).toContain('tago_edge_route_points_dead_lettered_total{route="hook",outcome="lagging"} 5');
  });
});
