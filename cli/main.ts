/**
 * `tago-edge <command>`. Exit codes everywhere: 0 success; 1 operational failure or SLO breach;
 * 2 usage or configuration error, with a message naming the offending flag or config path.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCerts } from './commands/certs.js';
import { registerCloudSim } from './commands/cloud-sim.js';
import { registerConfig } from './commands/config.js';
import { registerGateway } from './commands/gateway.js';
import { registerLoadtest } from './commands/loadtest.js';
import { registerParser } from './commands/parser.js';
import { registerQueue } from './commands/queue.js';
import { registerSimulate } from './commands/simulate.js';
import { UsageError } from './usage-error.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('tago-edge')
    .description('Edge gateway for the TagoIO IoT cloud, with device simulators and a go-live load-test gate')
    .version(version(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [
    registerGateway,
    registerCloudSim,
    registerSimulate,
    registerLoadtest,
    registerParser,
    registerQueue,
    registerConfig,
    registerCerts,
  ]) {
    register(program);
  }
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is a usage error (exit 2).
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    // By code as well as class: loadtests/ throws its own usage error (it does not import cli/).
    const code = (err as { code?: string }).code;
    if (err instanceof UsageError || code === 'EDGE_ERR_USAGE' || code === 'EDGE_ERR_CONFIG') {
      process.stderr.write(`tago-edge: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
