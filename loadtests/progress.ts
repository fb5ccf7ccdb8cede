/**
 * Progress on stderr: one line per event, prefixed with the elapsed time. On a TTY the periodic status of a
 * running phase rewrites one line; elsewhere (CI logs) it is printed at most every 5 s.
 */
export class Progress {
  readonly #start = Date.now();
  readonly #tty: boolean;
  readonly #quiet: boolean;
  #lastStatus = 0;
  #statusShown = false;

  constructor(opts: { quiet?: boolean } = {}) {
    this.#tty = Boolean(process.stderr.isTTY);
    this.#quiet = opts.quiet ?? false;
  }

  #stamp(): string {
    const s = Math.floor((Date.now() - this.#start) / 1000);
    return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
  }

  log(msg: string): void {
    if (this.#quiet) return;
    if (this.#statusShown) process.stderr.write('\r\x1b[2K');
    this.#statusShown = false;
    process.stderr.write(`${this.#stamp()} ${msg}\n`);
  }

  status(msg: string): void {
    if (this.#quiet) return;
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${this.#stamp()} ${msg}`);
      this.#statusShown = true;
    } else if (Date.now() - this.#lastStatus >= 5_000) {
      this.#lastStatus = Date.now();
      process.stderr.write(`${this.#stamp()} ${msg}\n`);
    }
  }
}
