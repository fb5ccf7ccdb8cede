/**
 * Hot reload: a parser is compiled once and cached by file; before each batch the file is stat'ed and,
 * when its mtime, size or inode changed and the content differs, recompiled into a fresh isolate. A file
 * that fails to load keeps failing (cached by its stat signature) until it changes again, without being
 * recompiled for every message.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type EdgeError, isEdgeError, ParserLoadError } from '../errors.js';
import { type CompiledParser, compileParser } from './compile.js';
import { ParserIsolate } from './parser-isolate.js';

export interface Loaded {
  compiled: CompiledParser;
  isolate: ParserIsolate;
}

export class ParserFile {
  private signature = '';
  private source: string | undefined;
  private compiled: CompiledParser | undefined;
  private isolate: ParserIsolate | undefined;
  private failure: EdgeError | undefined;

  constructor(
    readonly filename: string,
    private readonly memoryMb: number,
  ) {}

  /** The parser ready to run, reloaded if the file changed, re-created if its isolate was discarded. */
  async load(): Promise<Loaded> {
    const signature = this.stat();
    if (signature !== this.signature) {
      const source = await this.read();
      this.signature = signature;
      if (source !== this.source || this.failure) {
        this.source = source;
        this.replace(undefined, undefined);
        try {
          this.compiled = await compileParser(this.filename, source);
        } catch (err) {
          this.failure = asLoadError(err, this.filename);
        }
      }
    }
    if (this.failure) throw this.failure;
    const compiled = this.compiled!;
    if (!this.isolate || this.isolate.disposed) {
      try {
        this.isolate = await ParserIsolate.create(compiled, this.memoryMb);
      } catch (err) {
        this.failure = asLoadError(err, this.filename);
        throw this.failure;
      }
    }
    return { compiled, isolate: this.isolate };
  }

  /** The loaded isolate, if any (for heap statistics). */
  get current(): ParserIsolate | undefined {
    return this.isolate;
  }

  dispose(): void {
    this.replace(undefined, undefined);
  }

  private replace(compiled: CompiledParser | undefined, isolate: ParserIsolate | undefined): void {
    // Batches of one file run one at a time and load() runs between them, so nothing is mid-run here.
    this.isolate?.dispose();
    this.compiled = compiled;
    this.isolate = isolate;
    this.failure = undefined;
  }

  /**
   * Synchronous on purpose: one stat of a local file per batch costs a few microseconds, where the
   * promise version's thread-pool round trip cost several times that on the hot path (docs/performance.md).
   */
  private stat(): string {
    try {
      const st = statSync(this.filename, { bigint: true });
      return `${st.mtimeNs}:${st.size}:${st.ino}`;
    } catch (err) {
      this.signature = '';
      throw new ParserLoadError(`cannot read parser ${this.filename}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async read(): Promise<string> {
    try {
      return await readFile(this.filename, 'utf8');
    } catch (err) {
      throw new ParserLoadError(`cannot read parser ${this.filename}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function asLoadError(err: unknown, filename: string): EdgeError {
  if (isEdgeError(err)) return err;
  return new ParserLoadError(`parser ${filename} does not load: ${(err as Error).message}`, { cause: err });
}
