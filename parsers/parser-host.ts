/**
 * The seam between the ingest pipeline and the payload-parser sandbox. The pipeline calls `run` once per
 * message of a device that has a parser; the host may coalesce concurrent calls for the same parser
 * into one isolate crossing. The result is NOT validated here: the pipeline validates it like JSON input.
 */
export interface ParserDevice {
  id: string;
  name: string;
  tags: Array<{ key: string; value: string }>;
  params: Array<{ key: string; value: string }>;
}

export interface ParseInput {
  /** TagoIO's `payload` global: an array of records (raw bodies arrive as the `payload` record). */
  payload: unknown[];
  /** TagoIO's `raw_payload` global: the original request body/publish before any parser. */
  rawPayload: unknown;
}

export interface ParserHost {
  /**
   * Runs the parser in `file` for one message. Resolves to whatever `payload` holds when the parser
   * ends. Rejects with ParserError, ParserTimeoutError, ParserMemoryError or ParserLoadError
   * (parsers/errors.ts) carrying the parser's message (and line when known).
   */
  run(file: string, device: ParserDevice, input: ParseInput): Promise<unknown>;
  /** Releases isolates. */
  close(): Promise<void>;
}

/** TagoIO's parser time limit (docs: parser-vs-analysis-comparison). */
export const DEFAULT_TIMEOUT_MS = 1_000;
export const DEFAULT_MEMORY_MB = 64;

export interface ParserHostOptions {
  timeoutMs: number;
  memoryMb: number;
}
