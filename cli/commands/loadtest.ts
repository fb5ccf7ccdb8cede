import type { Command } from 'commander';

/** Placeholder: replaced by the module that owns `loadtest`. */
export function registerLoadtest(program: Command): void {
  program
    .command('loadtest')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('tago-edge loadtest: not yet available\n');
      process.exit(1);
    });
}
