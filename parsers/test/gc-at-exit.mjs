// Preload for parsers/cli.test.ts: makes Node's exit teardown run an incremental GC, which it otherwise
// does now and then under CPU contention. With isolated-vm loaded, that GC calls isolated-vm's weak
// callbacks after its cleanup hook ran and aborts the process, unless the CLI ends with process.exit.
import v8 from 'node:v8';

process.on('exit', () => {
  v8.setFlagsFromString('--stress-incremental-marking');
  let garbage = [];
  for (let i = 0; i < 200_000; i++) garbage.push({ i });
  garbage = null;
});
