/**
 * The live progress line: redrawn in place (`\r`) on a TTY, one plain line per report otherwise. Written to
 * stderr so stdout stays clean for `--json`.
 */
import type { Progress } from './types.js';

export function formatProgress(p: Progress): string {
  const s = Math.round(p.elapsedMs / 1000);
  return (
    `[${s}s] sent ${p.sent} acked ${p.acked} errors ${p.errors} ` +
    `in-flight ${p.inFlight} queued ${p.queued} connected ${p.connected} rate ${p.ackRatePerSec}/s`
  );
}

export interface ProgressWriter {
  write(p: Progress): void;
  /** End the redrawn line so later output starts on a fresh line. */
  end(): void;
}

export function progressWriter(stream: NodeJS.WriteStream = process.stderr): ProgressWriter {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    write(p) {
      if (tty) {
        stream.write(`\r${formatProgress(p)}\x1b[K`);
        drawn = true;
      } else {
        stream.write(`${formatProgress(p)}\n`);
      }
    },
    end() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
