import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CloudSimOptions } from '../../simulators/cloud-sim/index.js';
import { DEFAULTS as CLOUD_SIM_DEFAULTS } from '../../simulators/cloud-sim/options.js';
import { UsageError } from '../usage-error.js';

/**
 * `tago-edge cloud-sim`: runs the TagoIO stand-in until SIGINT/SIGTERM. Prints one JSON line on stdout when
 * listening (`{"event":"listening","port":N,"url":…}`) and nothing else; bad flags exit 2 naming the flag.
 */
interface Flags {
  port: string;
  host: string;
  tokens?: string;
  tokensFile?: string;
  rpm: string;
  rateWindowMs: string;
  latencyMs: string;
  errorRate: string;
  errorStatus: string;
  dropRate: string;
  keepRecords: string;
  outage?: boolean;
  seed?: string;
}

function int(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: expected an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

function ratio(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new UsageError(`${flag}: expected a number in [0, 1], got ${JSON.stringify(raw)}`);
  }
  return n;
}

function readTokens(flags: Flags): string[] | undefined {
  if (flags.tokens !== undefined && flags.tokensFile !== undefined) {
    throw new UsageError('--tokens and --tokens-file: give one or the other');
  }
  if (flags.tokens !== undefined) {
    const list = flags.tokens
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if (list.length === 0) throw new UsageError('--tokens: expected a comma-separated list of tokens');
    return list;
  }
  if (flags.tokensFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.tokensFile, 'utf8');
    } catch (err) {
      throw new UsageError(`--tokens-file: cannot read ${flags.tokensFile} (${(err as NodeJS.ErrnoException).code})`);
    }
    // One token per line; blank lines and `#` comments are ignored.
    return text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
  }
  return undefined;
}

/** Flags → simulator options; throws UsageError naming the first bad flag. */
export function cloudSimOptions(flags: Flags): CloudSimOptions {
  const opts: CloudSimOptions = {
    port: int('--port', flags.port, 0, 65_535),
    host: flags.host,
    requestsPerMinute: int('--rpm', flags.rpm, 0, Number.MAX_SAFE_INTEGER),
    rateWindowMs: int('--rate-window-ms', flags.rateWindowMs, 1, Number.MAX_SAFE_INTEGER),
    latencyMs: int('--latency-ms', flags.latencyMs, 0, 3_600_000),
    errorRate: ratio('--error-rate', flags.errorRate),
    errorStatus: int('--error-status', flags.errorStatus, 100, 599),
    dropRate: ratio('--drop-rate', flags.dropRate),
    keepRecordsPerToken: int('--keep-records', flags.keepRecords, 0, Number.MAX_SAFE_INTEGER),
    outage: flags.outage === true,
    quiet: false,
  };
  if (flags.host.trim() === '') throw new UsageError('--host: expected a host name or address');
  const tokens = readTokens(flags);
  if (tokens) opts.tokens = tokens;
  if (flags.seed !== undefined) opts.seed = int('--seed', flags.seed, 0, 2 ** 32 - 1);
  return opts;
}

export function registerCloudSim(program: Command): void {
  program
    .command('cloud-sim')
    .description(
      'a local stand-in for the TagoIO device API (POST/GET /data, GET /info) with rate limits and injected faults',
    )
    .option('--port <n>', 'API port, 0 for an ephemeral one', String(CLOUD_SIM_DEFAULTS.cliPort))
    .option('--host <host>', 'address to bind', CLOUD_SIM_DEFAULTS.host)
    .option('--tokens <list>', 'accepted device tokens, comma-separated (default: any non-empty token)')
    .option('--tokens-file <file>', 'accepted device tokens, one per line (# comments allowed)')
    .option('--rpm <n>', "POST /data requests per window (TagoIO's per-profile limit), 0 = unlimited", '0')
    .option(
      '--rate-window-ms <n>',
      'rate-limit window, aligned to epoch multiples',
      String(CLOUD_SIM_DEFAULTS.rateWindowMs),
    )
    .option('--latency-ms <n>', 'delay added before every API answer', '0')
    .option('--error-rate <x>', 'probability (0..1) of answering --error-status instead', '0')
    .option('--error-status <n>', 'status used by --error-rate', String(CLOUD_SIM_DEFAULTS.errorStatus))
    .option('--drop-rate <x>', 'probability (0..1) of answering POST /data 200 without storing', '0')
    .option(
      '--keep-records <n>',
      'records kept per token for GET /data',
      String(CLOUD_SIM_DEFAULTS.keepRecordsPerToken),
    )
    .option('--outage', 'start in an outage: API sockets are destroyed unanswered')
    .option('--seed <n>', 'seed for the error/drop dice (repeatable runs)')
    .addHelpText(
      'after',
      `
Control API (no token, keeps working during an outage):
  GET  /_sim/faults           current faults
  POST /_sim/faults           {latencyMs, errorRate, errorStatus, outage, outageForMs, requestsPerMinute,
                               rateWindowMs, refuseTokens, forbidTokens, dropRate}
  POST /_sim/reset            clear stored data and counters
  GET  /_sim/stats            requests by status, points, per-token and per-sim_device sequence counters
  GET  /_sim/received         sorted unique metadata.sim_seq per metadata.sim_device

Example:
  tago-edge cloud-sim --port 0 --rpm 250 --tokens dev-token-1,dev-token-2`,
    )
    .action(async (flags: Flags) => {
      // Handlers first: the `listening` line is written inside startCloudSim, and whoever reads it may
      // signal at once. A signal during start-up stops it as soon as it is up.
      const stopped = new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      const { startCloudSim } = await import('../../simulators/cloud-sim/index.js');
      const sim = await startCloudSim(cloudSimOptions(flags));
      await stopped;
      await sim.close();
    });
}
