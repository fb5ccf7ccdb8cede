/**
 * Steady, sequence-numbered load for durability tests: HTTP writers and MQTT QoS 1 publishers that record
 * every sequence number the gateway acknowledged (HTTP 200, PUBACK). Targets can move (a restarted
 * gateway); writers keep going through refusals and reconnects.
 */
import mqtt from 'mqtt';
import { request } from 'undici';

export interface Target {
  http: string;
  mqtt: string;
}

export interface SeqLoad {
  acked: Map<string, Set<number>>;
  sent: () => number;
  errors: () => number;
  stop(): Promise<void>;
}

function point(device: string, seq: number) {
  return { variable: 'seq', value: seq, metadata: { sim_device: device, sim_seq: seq } };
}

export function startSeqLoad(
  target: () => Target,
  opts: { httpWriters: number; mqttClients: number; intervalMs: number },
): SeqLoad {
  const acked = new Map<string, Set<number>>();
  let running = true;
  let sent = 0;
  let errors = 0;
  const ack = (device: string, seq: number) => {
    let s = acked.get(device);
    if (!s) {
      s = new Set();
      acked.set(device, s);
    }
    s.add(seq);
  };
  const tasks: Array<Promise<void>> = [];

  for (let w = 0; w < opts.httpWriters; w++) {
    const device = `http-${w}`;
    tasks.push(
      (async () => {
        let seq = 0;
        while (running) {
          const n = seq++;
          sent++;
          try {
            const res = await request(`${target().http}/data`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'device-token': `tok-${device}` },
              body: JSON.stringify([point(device, n)]),
              headersTimeout: 5000,
              bodyTimeout: 5000,
            });
            await res.body.dump();
            if (res.statusCode === 200) ack(device, n);
            else errors++;
          } catch {
            errors++;
          }
          await new Promise((r) => setTimeout(r, opts.intervalMs));
        }
      })(),
    );
  }

  const clients: mqtt.MqttClient[] = [];
  for (let c = 0; c < opts.mqttClients; c++) {
    const device = `mqtt-${c}`;
    tasks.push(
      (async () => {
        let seq = 0;
        let client: mqtt.MqttClient | null = null;
        while (running) {
          if (!client?.connected) {
            client?.end(true);
            try {
              client = await mqtt.connectAsync(target().mqtt, {
                username: 'Token',
                password: `tok-${device}`,
                protocolVersion: 4,
                reconnectPeriod: 0,
                connectTimeout: 2000,
              });
              clients.push(client);
              client.on('error', () => {});
            } catch {
              errors++;
              client = null;
              await new Promise((r) => setTimeout(r, 100));
              continue;
            }
          }
          const n = seq++;
          sent++;
          const c2 = client;
          c2.publish('tago/data/post', JSON.stringify(point(device, n)), { qos: 1 }, (err) => {
            if (!err) ack(device, n);
            else errors++;
          });
          await new Promise((r) => setTimeout(r, opts.intervalMs));
        }
      })(),
    );
  }

  return {
    acked,
    sent: () => sent,
    errors: () => errors,
    async stop() {
      running = false;
      await Promise.all(tasks);
      // Give in-flight PUBACKs a moment, then close.
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    },
  };
}

/** Acknowledged sequences that never reached cloud-sim. */
export function missing(acked: Map<string, Set<number>>, received: Record<string, number[]>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [device, seqs] of acked) {
    const got = new Set(received[device] ?? []);
    const lost = [...seqs].filter((s) => !got.has(s));
    if (lost.length > 0) out[device] = lost;
  }
  return out;
}

/**
 * Acknowledged points that first arrived after a newer acknowledged point of the same device, given
 * cloud-sim's sequences in first-arrival order (`/_sim/received?order=arrival`). Points the gateway refused
 * (503, no PUBACK) are left out: the device was told to send them again, so they may arrive anywhere.
 */
export function ackedOutOfOrder(acked: Map<string, Set<number>>, arrivals: Record<string, number[]>): number {
  let n = 0;
  for (const [device, seqs] of acked) {
    let max = -1;
    for (const s of arrivals[device] ?? []) {
      if (!seqs.has(s)) continue;
      if (s < max) n++;
      else max = s;
    }
  }
  return n;
}
