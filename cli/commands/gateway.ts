import type { Command } from 'commander';
import { loadConfig } from '../../gateway/config/load.js';
import { startGateway } from '../../gateway/gateway.js';

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run the gateway (what `npm start` runs); embedded defaults, no config file needed')
    .option('-c, --config <file>', 'YAML or JSON config file (default: $TAGO_EDGE_CONFIG, else built-in defaults)')
    .addHelpText(
      'after',
      `
Environment overrides: TAGO_EDGE_HTTP_PORT, TAGO_EDGE_MQTT_PORT, TAGO_EDGE_UPSTREAM_URL,
TAGO_EDGE_DATA_DIR, TAGO_EDGE_LOG_LEVEL, TAGO_EDGE_CONFIG, TAGO_EDGE_STORE_KEY.
Signals: SIGTERM/SIGINT stop gracefully (exit 0); SIGHUP reloads the config file.`,
    )
    .action(async (opts: { config?: string }) => {
      const config = loadConfig({ file: opts.config });
      const gw = await startGateway(config);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        gw.log.info({ event: 'signal', signal }, 'stopping');
        gw.close().then(
          () => process.exit(0),
          (err: unknown) => {
            gw.log.error({ err }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        try {
          gw.reload(loadConfig({ file: opts.config }));
        } catch (err) {
          gw.log.error({ error: (err as Error).message }, 'new configuration refused; the running one stays');
        }
      });
    });
}
