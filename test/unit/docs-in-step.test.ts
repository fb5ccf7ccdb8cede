/** The docs that describe the code are checked against the code, so neither drifts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../gateway/config/docs.js';
import { errorCatalogue } from '../../gateway/errors.js';
import { createGatewayMetrics } from '../../gateway/metrics/registry.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

function registryNames(): Promise<string[]> {
  const m = createGatewayMetrics({
    store: () => ({ depthPoints: 0, depthBytes: 0, oldestAgeMs: 0, deadLetters: 0, maxBytes: 1 }),
    mqttClients: () => 0,
    mqttInFlight: () => ({ publishes: 0, readsWaiting: 0 }),
    upstreamUp: () => 1,
  });
  return m.registry.getMetricsAsJSON().then((j) => {
    m.close();
    return j.map((x) => x.name);
  });
}

describe('docs in step with the code', () => {
  it('docs/configuration.md is the reference generated from the schema (`tago-edge config docs`)', () => {
    expect(read('docs/configuration.md')).toBe(configReference());
  });

  it('docs/errors.md lists every error code with its HTTP status and MQTT outcome, and no other', () => {
    const doc = read('docs/errors.md');
    const documented = [...doc.matchAll(/^\| `(EDGE_ERR_\w+)` \| (\d{3}) \| `([a-z0-9-]+)` \|/gm)].map(
      (m) => `${m[1]} ${m[2]} ${m[3]}`,
    );
    const actual = errorCatalogue.map((C) => {
      const e = new C('x');
      return `${e.code} ${e.statusCode} ${e.mqtt}`;
    });
    expect(documented.sort()).toEqual(actual.sort());
  });

  it('docs/metrics.md documents every tago_edge_ series the registry exports (defaults aside)', async () => {
    const doc = read('docs/metrics.md');
    const documented = [...doc.matchAll(/^\| `(tago_edge_\w+)` \|/gm)].map((m) => m[1]);
    const actual = (await registryNames()).filter((n) => !/^tago_edge_(process|nodejs)_/.test(n));
    expect(documented.sort()).toEqual(actual.sort());
    for (const n of await registryNames()) expect(n.startsWith('tago_edge_')).toBe(true);
  });

  it('the Grafana dashboard queries only series that exist', async () => {
    const dash = JSON.parse(read('deploy/grafana/tago-edge.json')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const names = new Set(await registryNames());
    const queried = dash.panels.flatMap((p) =>
      p.targets.flatMap((t) => [...t.expr.matchAll(/tago_edge_\w+/g)].map((m) => m[0])),
    );
    expect(queried.length).toBeGreaterThan(10);
    for (const q of queried) {
      const base = q.replace(/_(bucket|sum|count)$/, '');
      expect(names.has(q) || names.has(base), q).toBe(true);
    }
  });
});
