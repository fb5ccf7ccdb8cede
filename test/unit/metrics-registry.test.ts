import { afterEach, describe, expect, it } from 'vitest';
import { events } from '../../gateway/events.js';
import { createGatewayMetrics, type GatewayMetrics } from '../../gateway/metrics/registry.js';

const sources = {
  store: () => ({ depthPoints: 0, depthBytes: 0, oldestAgeMs: 0, deadLetters: 0, maxBytes: 1 }),
  mqttClients: () => 0,
  mqttInFlight: () => ({ publishes: 0, readsWaiting: 0 }),
  upstreamUp: () => 1,
};

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('gateway metrics: counts summed off the hot path', () => {
  let metrics: GatewayMetrics | undefined;
  afterEach(() => metrics?.close());

  it('parser runs: every ok and every error counted once, across scrapes', async () => {
    metrics = createGatewayMetrics(sources);
    const run = (outcome: string, messages = 1) =>
      events.parserRun.publish({ deviceId: 'd', outcome, messages, durationMs: 1 });
    let text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_parser_runs_total{outcome="ok"}')).toBeUndefined();
    run('ok');
    run('ok');
    run('ok', 3);
    run('EDGE_ERR_PARSER');
    text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_parser_runs_total{outcome="ok"}')).toBe(5);
    expect(sample(text, 'tago_edge_parser_runs_total{outcome="EDGE_ERR_PARSER"}')).toBe(1);
    expect(sample(text, 'tago_edge_parser_seconds_count')).toBe(4);
    // A second scrape with nothing new adds nothing; new runs add to the total.
    text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_parser_runs_total{outcome="ok"}')).toBe(5);
    run('ok');
    text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_parser_runs_total{outcome="ok"}')).toBe(6);
  });

  it('points received: summed per protocol, across scrapes', async () => {
    metrics = createGatewayMetrics(sources);
    events.ingestAccepted.publish({ protocol: 'mqtt', deviceId: 'd', points: 3, ackMs: 2 });
    events.ingestAccepted.publish({ protocol: 'http', deviceId: 'd', points: 1, ackMs: 2 });
    events.ingestAccepted.publish({ protocol: 'mqtt', deviceId: 'd', points: 2, ackMs: 2 });
    let text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_points_received_total{protocol="mqtt"}')).toBe(5);
    expect(sample(text, 'tago_edge_points_received_total{protocol="http"}')).toBe(1);
    text = (await metrics.render()).body;
    expect(sample(text, 'tago_edge_points_received_total{protocol="mqtt"}')).toBe(5);
  });
});
