import type { Command } from 'commander';

/** Placeholder: replaced by the module that owns `simulate`. */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('tago-edge simulate: not yet available\n');
      process.exit(1);
    });
}
