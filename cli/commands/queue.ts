import type { Command } from 'commander';

/** Placeholder: replaced by the module that owns `queue`. */
export function registerQueue(program: Command): void {
  program
    .command('queue')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('tago-edge queue: not yet available\n');
      process.exit(1);
    });
}
