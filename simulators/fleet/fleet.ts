/**
 * One process's fleet: connect (ramped), schedule, send, count, drain, summarize.
 *
 *   ramp connections ─▶ t0 ─▶ scheduler fires point (device d, k) ─▶ profile builds payload (good or bad)
 *     ─▶ transport sends (or queues while disconnected) ─▶ outcome ─▶ accounting ─▶ summary
 *
 * Every scheduled point ends as exactly one of: acked, error (by kind), or unacked at the end; bad points as
 * rejected, badAcked or error.
 */

import { mulberry32, seedFrom } from '../random.js';
import { Accounting } from './accounting.js';
import { AckRanges } from './ack-ranges.js';
import type { Clock } from './clock.js';
import { realClock } from './clock.js';
import { isHttp, type ResolvedOptions } from './options.js';
import { type DeviceProfile, profileFor } from './profiles/index.js';
import { Scheduler } from './schedule.js';
import { buildSummary } from './summary.js';
import { deviceId, tokenFor } from './tokens.js';
import { HttpTransport } from './transports/http-device.js';
import { MqttFleet } from './transports/mqtt-fleet.js';
import type { OutPoint, SimDevice, Transport, TransportEvents } from './transports/transport.js';
import type { FleetHooks, FleetSummary } from './types.js';

/** On abort, wait at most this long for outstanding acknowledgements (a Ctrl-C should feel prompt). */
const ABORT_DRAIN_MS = 3_000;

interface LocalDevice extends SimDevice {
  profile: DeviceProfile;
  nextSeq: number;
}

export async function runLocalFleet(
  o: ResolvedOptions,
  hooks: FleetHooks = {},
  clock: Clock = realClock,
): Promise<FleetSummary> {
  const startedAt = Date.now();
  const acc = new Accounting();
  const devices = new Map<number, LocalDevice>();
  for (let i = o.shard.first; i < o.shard.first + o.shard.count; i++) {
    const id = deviceId(o.seed, i);
    const profile = profileFor(o.profile, i, o.seed);
    devices.set(i, { index: i, id, token: tokenFor(i, o.seed, o.tokens), profile, nextSeq: 0 });
    if (profile.carriesSeq) acc.ackedByDevice.set(id, new AckRanges());
  }
  let goodScheduled = 0;
  let goodDone = 0;
  const events: TransportEvents = {
    onSend(_p, resend) {
      if (resend) acc.resent++;
      else acc.sent++;
    },
    onOutcome(p: OutPoint, out) {
      if (!p.bad) goodDone++;
      if (out.type === 'ack') {
        if (p.bad) acc.badAcked++;
        else acc.ack(p.device.id, p.seq, p.scheduledAt, p.sentAt, out.at);
      } else if (out.type === 'refused') {
        if (p.bad) acc.rejected++;
        else acc.error(`http-${out.status}`);
      } else {
        acc.error(out.kind);
      }
    },
  };
  const transport: Transport = isHttp(o.protocol)
    ? new HttpTransport(
        {
          target: o.target,
          connections: o.httpConnections,
          timeoutMs: o.timeoutMs,
          queueLimit: o.queueLimit * Math.max(1, o.shard.count),
          insecure: o.insecure,
          ca: o.ca,
          now: clock.now,
        },
        events,
      )
    : new MqttFleet(
        [...devices.values()],
        {
          url: o.target,
          qos: o.qos,
          keepaliveSec: o.keepaliveSec,
          connectTimeoutMs: Math.min(o.timeoutMs, 30_000),
          queueLimit: o.queueLimit,
          insecure: o.insecure,
          ca: o.ca,
          clientSuffix: process.pid.toString(36),
          backoffBaseMs: 500,
          backoffMaxMs: 30_000,
          now: clock.now,
          connectRatePerSec: o.connectRatePerSec,
          timeoutMs: o.timeoutMs,
          seed: o.seed,
        },
        events,
        {
          connected: (first) => (first ? acc.connected++ : acc.reconnects++),
          connectFailed: () => acc.connectFailures++,
          disconnected: () => acc.disconnects++,
        },
      );

  const signal = hooks.signal;
  await transport.open(signal);
  const t0 = hooks.startAt ? await hooks.startAt() : clock.now() + 20;

  const badRng = mulberry32(seedFrom(`bad-${o.seed}-${o.shard.first}`));
  const scheduler = new Scheduler(
    {
      t0,
      periodMs: o.periodMs,
      totalDevices: o.devices,
      devices: [...devices.keys()],
      jitterMs: o.jitterMs,
      rng: mulberry32(seedFrom(`jitter-${o.seed}-${o.shard.first}`)),
      ...(o.count !== undefined ? { count: o.count } : {}),
      ...(o.durationMs !== undefined ? { endAt: t0 + o.durationMs } : {}),
    },
    (index, _k, scheduledAt, firedAt) => {
      const d = devices.get(index)!;
      acc.scheduled++;
      acc.lag(firedAt - scheduledAt);
      const isBad = o.badRatio > 0 && badRng() < o.badRatio;
      const meta = { sim_device: d.id, sim_seq: d.nextSeq };
      let point: OutPoint;
      if (isBad) {
        const kinds = d.profile.badKinds;
        const kind = kinds[Math.floor(badRng() * kinds.length)]!;
        acc.bad(kind);
        point = {
          device: d,
          seq: undefined,
          bad: kind,
          payload: d.profile.bad(kind, meta),
          scheduledAt,
          sentAt: 0,
          wasSent: false,
        };
      } else {
        goodScheduled++;
        const seq = d.profile.carriesSeq ? d.nextSeq++ : undefined;
        point = {
          device: d,
          seq,
          bad: undefined,
          payload: d.profile.next(meta),
          scheduledAt,
          sentAt: 0,
          wasSent: false,
        };
      }
      transport.send(point);
    },
    clock,
  );

  let aborted = signal?.aborted ?? false;
  const onAbort = () => {
    aborted = true;
    scheduler.stop();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let last = { at: t0, acked: 0 };
  const progress = setInterval(() => {
    const now = clock.now();
    const rate = ((acc.acked - last.acked) / Math.max(1, now - last.at)) * 1000;
    last = { at: now, acked: acc.acked };
    hooks.onProgress?.({
      elapsedMs: Math.round(now - t0),
      scheduled: acc.scheduled,
      sent: acc.sent,
      acked: acc.acked,
      errors: acc.errors,
      inFlight: transport.outstanding() - transport.queued(),
      queued: transport.queued(),
      connected: transport.connectedCount(),
      ackRatePerSec: Math.round(rate * 10) / 10,
    });
  }, o.progressIntervalMs);
  const storm =
    o.reconnectStormAtMs !== undefined
      ? setTimeout(() => transport.storm(), Math.max(0, t0 + o.reconnectStormAtMs - clock.now()))
      : undefined;

  if (aborted) scheduler.stop();
  else scheduler.start();
  await scheduler.done;
  const scheduleEnd = clock.now();
  clearTimeout(storm);

  const drainUntil = clock.now() + (aborted ? Math.min(o.drainMs, ABORT_DRAIN_MS) : o.drainMs);
  while (transport.outstanding() > 0 && clock.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 20));
  }
  clearInterval(progress);
  signal?.removeEventListener('abort', onAbort);
  const end = clock.now();
  await transport.close();
  return buildSummary(acc, o, {
    startedAt,
    endedAt: Date.now(),
    elapsedMs: Math.max(0, end - t0),
    scheduleMs: Math.max(0, scheduleEnd - t0),
    lastAckMs: Math.max(0, acc.lastAckAt - t0),
    unacked: goodScheduled - goodDone,
  });
}
