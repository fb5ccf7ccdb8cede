/**
 * k6 suite: MQTT ingest over the legacy TagoIO contract (`tago/data/post`, username `Token`, password = the
 * device token), QoS 1, needs a k6 built with xk6-mqtt:
 *
 *   xk6 build --with github.com/pmalhaire/xk6-mqtt
 *   ./k6 run -e TARGET_MQTT=edge.staging:1883 -e TOKENS=tok1,tok2 -e RATE=120 loadtests/k6/mqtt-ingest.ts
 *
 * `publish()` blocks until the PUBACK, so the time around it is publish-to-PUBACK; it is kept in the custom
 * Trend `mqtt_publish_duration` with the SLO as its threshold. Arrivals are constant-rate (open model).
 */
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { Client } from 'k6/x/mqtt';
import { arrivalScenario, summaryTrendStats, writeSummary } from './common.ts';

const TARGET = __ENV.TARGET_MQTT ?? '127.0.0.1:1883';
const TOKENS = (__ENV.TOKENS ?? 'k6-device-0,k6-device-1,k6-device-2').split(',').filter((t) => t.length > 0);
const RATE = Number(__ENV.RATE ?? '116');
const DURATION = __ENV.DURATION ?? '1m';
const SUMMARY = __ENV.SUMMARY ?? 'k6-mqtt-summary.json';

const publishDuration = new Trend('mqtt_publish_duration', true);
const publishFailed = new Counter('mqtt_publish_failed');

export const options: Options = {
  scenarios: arrivalScenario(RATE, DURATION),
  thresholds: {
    mqtt_publish_duration: ['p(99)<2000'],
    mqtt_publish_failed: ['count==0'],
    checks: ['rate>0.999'],
    dropped_iterations: ['count==0'],
  },
  summaryTrendStats,
};

// One connection per VU, opened on its first iteration and kept (a device keeps its session).
let client: Client | undefined;

function connected(): Client {
  if (client?.isConnected()) return client;
  const token = TOKENS[(__VU - 1) % TOKENS.length] ?? 'k6-device-0';
  client = new Client([TARGET], 'Token', token, true, `k6-${__VU}-${Date.now()}`, 10_000);
  client.connect();
  return client;
}

export default function (): void {
  const body = JSON.stringify([
    {
      variable: 'temperature',
      value: 20 + Math.random() * 5,
      unit: 'C',
      metadata: { sim_device: `k6-mqtt-${__VU}`, sim_seq: __ITER },
    },
  ]);
  const start = Date.now();
  let ok = false;
  try {
    connected().publish('tago/data/post', 1, body, false, 10_000);
    ok = true;
  } catch (_err) {
    publishFailed.add(1);
    client = undefined;
  }
  if (ok) publishDuration.add(Date.now() - start);
  check(ok, { 'PUBACK received': (v) => v });
}

export function handleSummary(data: object): Record<string, string> {
  return writeSummary(SUMMARY, data);
}
