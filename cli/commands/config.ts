import type { Command } from 'commander';
import { configReference } from '../../gateway/config/docs.js';
import { loadConfig } from '../../gateway/config/load.js';

export function registerConfig(program: Command): void {
  const cmd = program.command('config').description('validate and print configuration');
  cmd
    .command('check')
    .description('validate a config file without starting anything (exit 0 valid, 2 invalid)')
    .argument('<file>', 'YAML or JSON config file')
    .action((file: string) => {
      const config = loadConfig({ file });
      process.stdout.write(`${file}: valid (${config.devices.length} devices, auth ${config.auth.mode})\n`);
    });
  cmd
    .command('print')
    .description('print the effective configuration (defaults, file and environment merged) as JSON')
    .option('-c, --config <file>', 'config file')
    .action((opts: { config?: string }) => {
      const config = loadConfig({ file: opts.config });
      const redacted = { ...config, devices: config.devices.map((d) => ({ ...d, token: '[redacted]' })) };
      process.stdout.write(`${JSON.stringify(redacted, null, 2)}\n`);
    });
  cmd
    .command('docs')
    .description('print the configuration reference (Markdown) generated from the schema')
    .action(() => {
      process.stdout.write(configReference());
    });
}
