#!/usr/bin/env node
// Entry point for the `tago-edge` command. The TypeScript sources are compiled to dist/ by `npm install`
// (the `prepare` script) or `npm run build`.
import { exitWhenSettled } from '../dist/cli/exit.js';
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`tago-edge: ${err?.stack ?? err}\n`);
  // Not process.exit at once: a parser isolate may still be being destroyed (dist/cli/exit.js). A command that
  // failed half-started may leave handles open, so wait 250 ms at most.
  exitWhenSettled(1, 250);
});
