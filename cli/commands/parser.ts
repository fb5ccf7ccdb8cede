import type { Command } from 'commander';

/** Placeholder: replaced by the module that owns `parser`. */
export function registerParser(program: Command): void {
  program
    .command('parser')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('tago-edge parser: not yet available\n');
      process.exit(1);
    });
}
