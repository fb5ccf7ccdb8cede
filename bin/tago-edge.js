#!/usr/bin/env node
// Entry point for the `tago-edge` command. The TypeScript sources are compiled to dist/ by `npm install`
// (the `prepare` script) or `npm run build`.
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`tago-edge: ${err?.stack ?? err}\n`);
  process.exit(1);
});
