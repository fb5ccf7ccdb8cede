/**
 * (a) MQTT QoS 1 capacity: bare mosquitto, bare aedes and the shared gateway, per payload and connection
 * count, a closed window of `--window` publishes outstanding per connection; `--repeat` runs alternate the
 * three, and the verdict reads the median ratio to mosquitto.
 */
import {
  closedWindow,
  closeFixedFleet,
  connectFixedFleet,
  type LoadResult,
} from '../../../simulators/fleet/fixed-load.js';
import { startMosquitto } from '../../lib/processes.js';
import { PAYLOAD, settle, TARGETS, tokenFor, windowMeter } from '../context.js';
import { insideMeter } from '../gateway-inside.js';
import { collector, fmt, median } from '../results.js';
import type { Phase } from './phase.js';

export const mqttPhase: Phase = {
  name: 'mqtt',
  about: 'MQTT QoS 1 msgs/s and PUBACK latency: mosquitto, aedes, gateway (--conns, --payloads, --window)',
  sharedGateway: true,
  async run(ctx) {
    const out = collector(ctx.label);
    const { opts } = ctx;
    const gw = await ctx.sharedGateway();
    const gwHttpUrl = `http://127.0.0.1:${gw.ports.http}`;
    const mosq = await startMosquitto(ctx.dir);
    try {
      const aedes = await ctx.startScript('aedes', 'dist/loadtests/bench/aedes-floor.js');
      const targets = [
        { name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.ports.mqtt}`, pid: mosq.pid },
        { name: 'aedes', url: `mqtt://127.0.0.1:${aedes.ports.mqtt}`, pid: aedes.pid },
        { name: 'gateway', url: `mqtt://127.0.0.1:${gw.ports.mqtt}`, pid: gw.pid, metricsUrl: `${gwHttpUrl}/metrics` },
      ];
      const warmupMs = opts.warmupS * 1000;
      const durationMs = opts.durationS * 1000;
      for (const p of opts.payloads) {
        const payload = PAYLOAD[p];
        if (!payload) throw new Error(`--payloads: unknown payload ${p} (json1, frame, json10)`);
        for (const conns of opts.conns) {
          const ratios: number[] = [];
          let results = new Map<string, LoadResult>();
          for (let run = 1; run <= opts.repeat; run++) {
            results = new Map<string, LoadResult>();
            for (const t of targets) {
              await settle(gwHttpUrl);
              const clients = await connectFixedFleet(t.url, conns, tokenFor(p), { noDelay: opts.noDelay });
              const meter = windowMeter(t.pid);
              const inside = t.metricsUrl ? insideMeter(t.metricsUrl) : undefined;
              const r = await closedWindow(clients, payload, {
                window: opts.window,
                warmupMs,
                durationMs,
                onWindow: (edge) => {
                  meter.onWindow(edge);
                  inside?.onWindow(edge);
                },
              });
              const usage = meter.result(r.msgsPerSec * opts.durationS);
              const insideView = await inside?.result();
              await closeFixedFleet(clients);
              results.set(t.name, r);
              const floor = results.get('mosquitto');
              out.addRow({
                section: `mqtt ${p} ${conns}c${opts.repeat > 1 ? ` #${run}` : ''}`,
                target: t.name,
                figure: 'msgs/s',
                value: r.msgsPerSec,
                unit: `msg/s (${fmt(r.pointsPerSec)} points/s${r.errors ? `, ${r.errors} errors` : ''})`,
                p50: r.p50Ms,
                p99: r.p99Ms,
                ...(floor && t.name !== 'mosquitto'
                  ? { floor: 'mosquitto', ratio: r.msgsPerSec / floor.msgsPerSec }
                  : {}),
                ...usage,
                ...(insideView ? { inside: insideView } : {}),
              });
            }
            const gwRun = results.get('gateway');
            const mqRun = results.get('mosquitto');
            if (gwRun && mqRun) ratios.push(gwRun.msgsPerSec / mqRun.msgsPerSec);
          }
          const g = results.get('gateway');
          const mq = results.get('mosquitto');
          if (g && mq && p !== 'json10') {
            const ratio = median(ratios);
            out.verdict(
              `MQTT QoS 1 ${p === 'json1' ? '1 point' : '1 frame (parser)'}/msg, ${conns} conns ≥ ${TARGETS.mqttRatio * 100} % of mosquitto`,
              opts.repeat > 1
                ? `median of ${opts.repeat} runs ${fmt(ratio * 100)} % (${ratios.map((r) => fmt(r * 100)).join(', ')} %)`
                : `${fmt(g.msgsPerSec)} vs ${fmt(mq.msgsPerSec)} msg/s = ${fmt(ratio * 100)} %`,
              ratio >= TARGETS.mqttRatio,
            );
          }
        }
      }
      await aedes.stop();
    } finally {
      await mosq.stop();
    }
    return out;
  },
};
