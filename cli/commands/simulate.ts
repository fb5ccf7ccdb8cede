/**
 * `tago-edge simulate`: a fleet of simulated devices (open-model schedule, exact accounting). The flags map
 * one to one onto `FleetOptions` (simulators/fleet); this file only parses, prints and writes files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { FleetOptions, FleetSummary, ProfileName, Protocol } from '../../simulators/fleet/index.js';
import { FleetOptionsError } from '../../simulators/fleet/options.js';
import { progressWriter } from '../../simulators/fleet/progress.js';
import { readTokensFile } from '../../simulators/fleet/tokens.js';
import { parseDurationMs, parseRatePerSec } from '../../simulators/fleet/units.js';
import { UsageError } from '../usage-error.js';

interface Flags {
  protocol?: string;
  targetHttp?: string;
  targetMqtt?: string;
  devices?: string;
  rate?: string;
  pointsPerDay?: string;
  preset?: string;
  speedup?: string;
  duration?: string;
  count?: string;
  jitterMs?: string;
  profile?: string;
  badRatio?: string;
  seed?: string;
  tokens?: string;
  qos?: string;
  keepalive?: string;
  connectRate?: string;
  reconnectStormAt?: string;
  queueLimit?: string;
  httpConnections?: string;
  timeout?: string;
  drain?: string;
  insecure?: boolean;
  ca?: string;
  workers?: string;
  summary?: string;
  acks?: string;
  json?: boolean;
  progress: boolean;
  progressInterval?: string;
}

const PRESETS: Record<string, { devices: number; pointsPerDay: number }> = {
  sizing: { devices: 500, pointsPerDay: 100_000 },
};

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag}: expected a number, got "${v}"`);
  return n;
}

function duration(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDurationMs(v);
  if (ms === undefined) throw new UsageError(`${flag}: expected a duration like 500ms, 30s, 5m or 1h, got "${v}"`);
  return ms;
}

function inferProtocol(f: Flags): Protocol {
  if (f.protocol) return f.protocol as Protocol;
  const http = f.targetHttp !== undefined;
  const mqtt = f.targetMqtt !== undefined;
  if (http === mqtt) {
    throw new UsageError(
      http
        ? '--protocol: required when both --target-http and --target-mqtt are given'
        : '--target-http or --target-mqtt: give the target to simulate against',
    );
  }
  const url = (http ? f.targetHttp : f.targetMqtt)!;
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) throw new UsageError(`${http ? '--target-http' : '--target-mqtt'}: invalid URL "${url}"`);
  return scheme as Protocol;
}

/** Flags → FleetOptions. Throws UsageError naming the flag. Exported for tests. */
export function fleetOptionsFromFlags(f: Flags): FleetOptions {
  const preset = f.preset === undefined ? undefined : PRESETS[f.preset];
  if (f.preset !== undefined && !preset) throw new UsageError(`--preset: unknown preset "${f.preset}" (known: sizing)`);
  const o: FleetOptions = { protocol: inferProtocol(f) };
  const set = <K extends keyof FleetOptions>(k: K, v: FleetOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('targetHttp', f.targetHttp);
  set('targetMqtt', f.targetMqtt);
  set('devices', num('--devices', f.devices) ?? preset?.devices);
  set('ratePerSec', num('--rate', f.rate));
  set(
    'pointsPerDay',
    num('--points-per-day', f.pointsPerDay) ?? (f.rate === undefined ? preset?.pointsPerDay : undefined),
  );
  set('speedup', num('--speedup', f.speedup));
  set('durationMs', duration('--duration', f.duration));
  set('count', num('--count', f.count));
  set('jitterMs', num('--jitter-ms', f.jitterMs));
  set('profile', f.profile as ProfileName | undefined);
  set('badRatio', num('--bad-ratio', f.badRatio));
  set('seed', num('--seed', f.seed));
  set('qos', num('--qos', f.qos) as 0 | 1 | undefined);
  set('keepaliveSec', num('--keepalive', f.keepalive));
  if (f.connectRate !== undefined) {
    const r = parseRatePerSec(f.connectRate);
    if (r === undefined) throw new UsageError(`--connect-rate: expected a rate like 500/s, got "${f.connectRate}"`);
    o.connectRatePerSec = r;
  }
  set('reconnectStormAtMs', duration('--reconnect-storm-at', f.reconnectStormAt));
  set('queueLimit', num('--queue-limit', f.queueLimit));
  set('httpConnections', num('--http-connections', f.httpConnections));
  set('timeoutMs', duration('--timeout', f.timeout));
  set('drainMs', duration('--drain', f.drain));
  set('insecure', f.insecure);
  set('workers', num('--workers', f.workers));
  set('progressIntervalMs', duration('--progress-interval', f.progressInterval));
  if (f.tokens !== undefined) {
    try {
      o.tokens = readTokensFile(f.tokens);
    } catch (err) {
      throw new UsageError(`--tokens: cannot read ${f.tokens}: ${(err as Error).message}`);
    }
  }
  if (f.ca !== undefined) {
    try {
      o.ca = readFileSync(f.ca);
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${f.ca}: ${(err as Error).message}`);
    }
  }
  return o;
}

const HELP_AFTER = `
Rate and schedule (open model):
  Each device sends point k at t0 + phase + k*period (+ jitter), phases spread evenly over the period,
  without waiting for earlier answers. Fleet rate: --rate (points/s) or --points-per-day; --speedup
  multiplies it. Latency is measured from the scheduled time (and separately from the send time).
  Without --duration or --count the fleet runs until Ctrl-C; the summary is written either way.

Profiles:
  env      temperature / humidity / pressure random walks with units (one record per point)
  tracker  location {lat, lng}
  hex      5-byte frame for parsers/examples/hex-sensor.js (HTTP: text/plain hex; MQTT: raw bytes
           to devices/<id>/uplink); carries no sim_seq, so loss accounting covers JSON profiles only
  mixed    env, tracker, hex round-robin by device index

Accounting:
  Every JSON point carries metadata {sim_device, sim_seq}. The summary lists acknowledged seq ranges
  per device (or --acks FILE), so loss = acknowledged but not received downstream.

Examples:
  $ tago-edge simulate --target-mqtt mqtt://127.0.0.1:1883 --devices 100 --rate 50 --duration 1m
  $ tago-edge simulate --target-http http://127.0.0.1:8080 --preset sizing --speedup 60 --duration 5m \\
      --summary sim.json
  $ tago-edge simulate --target-mqtt mqtts://gw:8883 --ca ca.pem --devices 5000 --connect-rate 500/s \\
      --rate 1000 --reconnect-storm-at 30s --duration 2m --workers 2 --json

See docs/simulate.md for the summary JSON format.`;

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('Run a fleet of simulated devices (MQTT or HTTP) on an open-model schedule, with exact accounting')
    .addOption(
      new Option('--protocol <protocol>', 'transport (default: the scheme of the one target given)').choices([
        'mqtt',
        'mqtts',
        'ws',
        'wss',
        'http',
        'https',
      ]),
    )
    .option('--target-http <url>', 'HTTP(S) base URL; points are POSTed to <url>/data')
    .option('--target-mqtt <url>', 'broker URL: mqtt://, mqtts://, ws://host:port/path, wss://')
    .option('--devices <n>', 'number of devices (default 10)')
    .option('--rate <points/s>', 'fleet rate in points per second (default 10)')
    .option('--points-per-day <n>', 'fleet rate in points per (simulated) day')
    .option('--preset <name>', 'sizing = 500 devices, 100,000 points/day (flags given explicitly win)')
    .option('--speedup <x>', 'compress time: multiply the rate by x (default 1)')
    .option('--duration <time>', 'schedule for this long: 30s, 5m, 1h')
    .option('--count <n>', 'points per device, then stop')
    .option('--jitter-ms <ms>', 'random extra delay [0, ms) per point (default 0)')
    .addOption(
      new Option('--profile <profile>', 'what devices send').choices(['env', 'tracker', 'hex', 'mixed']).default('env'),
    )
    .option('--bad-ratio <x>', 'fraction 0..1 of points replaced by invalid input of several kinds (default 0)')
    .option('--seed <n>', 'seed for device ids, tokens and randomness (default 1)')
    .option('--tokens <file>', 'device tokens: one per line or a JSON array (default: derived from --seed)')
    .addOption(new Option('--qos <qos>', 'MQTT QoS').choices(['0', '1']).default('1'))
    .option('--keepalive <s>', 'MQTT keepalive in seconds (default 60)')
    .option('--connect-rate <n/s>', 'MQTT connections opened per second during the ramp (default 500/s)')
    .option('--reconnect-storm-at <time>', 'every MQTT device disconnects and reconnects at once, at this time')
    .option(
      '--queue-limit <n>',
      'points held per device while it cannot send; beyond: queue-overflow errors (default 1000)',
    )
    .option('--http-connections <n>', 'HTTP connections to the target (default 100); more requests wait, counted')
    .option('--timeout <time>', 'a response or PUBACK later than this is a timeout error (default 30s)')
    .option('--drain <time>', 'after the schedule, wait this long for outstanding acks (default 10s)')
    .option('--insecure', 'skip TLS certificate verification')
    .option('--ca <file>', 'PEM CA certificate to trust')
    .option('--workers <n>', 'shard devices over n processes (needs the compiled dist/; default 1)')
    .option('--summary <file>', 'write the JSON summary to this file')
    .option('--acks <file>', 'write acknowledged seq ranges per device here instead of into the summary')
    .option('--json', 'print the JSON summary on stdout')
    .option('--no-progress', 'no progress output on stderr')
    .option('--progress-interval <time>', 'progress every (default 1s on a TTY, 10s otherwise)')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: Flags) => {
      const opts = fleetOptionsFromFlags(flags);
      if (opts.progressIntervalMs === undefined) opts.progressIntervalMs = process.stderr.isTTY ? 1000 : 10_000;
      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130); // second Ctrl-C: give up on the summary
        process.stderr.write('\ntago-edge simulate: stopping (Ctrl-C again to quit without a summary)\n');
        abort.abort();
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      const { runFleet } = await import('../../simulators/fleet/index.js');
      const progress = progressWriter();
      let summary: FleetSummary;
      try {
        summary = await runFleet(opts, {
          signal: abort.signal,
          ...(flags.progress ? { onProgress: (p) => progress.write(p) } : {}),
        });
      } catch (err) {
        if (err instanceof FleetOptionsError) throw new UsageError(err.message);
        throw err;
      } finally {
        progress.end();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
      writeOutputs(summary, flags);
    });
}

function writeOutputs(summary: FleetSummary, flags: Flags): void {
  let out: FleetSummary & { ackedFile?: string } = summary;
  if (flags.acks) {
    writeFileSync(flags.acks, `${JSON.stringify(summary.acked)}\n`);
    out = { ...summary, acked: {}, ackedFile: flags.acks };
  }
  const text = `${JSON.stringify(out, null, 2)}\n`;
  if (flags.summary) writeFileSync(flags.summary, text);
  if (flags.json) process.stdout.write(text);
  const c = summary.counts;
  const l = summary.latencyMs.fromSchedule;
  process.stderr.write(
    `simulate: scheduled ${c.scheduled} sent ${c.sent} acked ${c.acked} errors ${c.errors} unacked ${c.unacked}` +
      ` bad ${c.badSentTotal} (rejected ${c.rejected}, acked ${c.badAcked})` +
      ` | latency from schedule p50 ${l.p50} p99 ${l.p99} max ${l.max} ms` +
      ` | ${summary.achieved.ackedPerSec} acked/s\n`,
  );
}
