import { watchFile } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { loadConfig } from '../../gateway/config/load.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { exitWhenSettled } from '../exit.js';

/**
 * V8's allocation-site pretenuring, off for the gateway process. Every message's objects live for a group
 * commit (milliseconds) and often across a scavenge, so V8 learns to allocate them straight in the old
 * generation, where they die and pile up until the next full GC. Measured (docs/design/v8-pretenuring.md):
 * 5,000 idle connections + 5,000 points/s, RSS peak 353–366 → 213–265 MB; the hex-frame path +5–8 % msg/s
 * and −9 % CPU per message; json1 and HTTP unchanged. Set before the gateway's modules load and before any
 * traffic; TAGO_EDGE_V8_PRETENURING=on keeps V8's default.
 */
export function tuneV8ForGateway(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.TAGO_EDGE_V8_PRETENURING === 'on') return false;
  setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run the gateway (what `npm start` runs); embedded defaults, no config file needed')
    .option('-c, --config <file>', 'YAML or JSON config file (default: $TAGO_EDGE_CONFIG, else built-in defaults)')
    .option('--watch', 'reload when the config file changes (as SIGHUP does)')
    .addHelpText(
      'after',
      `
Environment overrides: TAGO_EDGE_HTTP_PORT, TAGO_EDGE_MQTT_PORT, TAGO_EDGE_UPSTREAM_URL,
TAGO_EDGE_DATA_DIR, TAGO_EDGE_LOG_LEVEL, TAGO_EDGE_CONFIG, TAGO_EDGE_STORE_KEY;
TAGO_EDGE_V8_PRETENURING=on keeps V8's allocation-site pretenuring (off by default: lower RSS under load).
Signals: SIGTERM/SIGINT stop gracefully (exit 0); SIGHUP reloads the config file.`,
    )
    .action(async (opts: { config?: string; watch?: boolean }) => {
      const config = loadConfig({ file: opts.config });
      const file = opts.config ?? (process.env.TAGO_EDGE_CONFIG || undefined);
      tuneV8ForGateway();
      // The handlers go in before the gateway starts: `listening` is written inside startGateway, and a
      // supervisor (or test) may signal the moment it reads it. A stop asked for during start-up runs once
      // the gateway is up; a reload asked for then is moot (the config was just read).
      let gw: RunningGateway | undefined;
      let stopAsked: string | undefined;
      let stopping = false;
      const stop = (signal: string) => {
        if (!gw) {
          stopAsked ??= signal;
          return;
        }
        if (stopping) return;
        stopping = true;
        const running = gw;
        running.log.info({ event: 'signal', signal }, 'stopping');
        // Not process.exit at once: isolated-vm may still be destroying the parser isolates (cli/exit.ts).
        running.close().then(
          () => exitWhenSettled(0),
          (err: unknown) => {
            running.log.error({ err }, 'error while stopping');
            exitWhenSettled(1);
          },
        );
      };
      const reload = (why: string) => {
        if (!gw || stopping) return;
        try {
          gw.reload(loadConfig({ file: opts.config }));
        } catch (err) {
          gw.log.error(
            { error: (err as Error).message, trigger: why },
            'new configuration refused; the running one stays',
          );
        }
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => reload('SIGHUP'));
      // Loaded here, not at the top: other commands (and --help) need none of the gateway's modules.
      const { startGateway } = await import('../../gateway/gateway.js');
      gw = await startGateway(config);
      if (stopAsked) stop(stopAsked);
      if (opts.watch && file) {
        // Editors save in bursts (truncate, write, rename): settle for 200 ms before reading.
        let timer: NodeJS.Timeout | undefined;
        watchFile(file, { interval: 500 }, () => {
          clearTimeout(timer);
          timer = setTimeout(() => reload('watch'), 200);
        });
      }
    });
}
