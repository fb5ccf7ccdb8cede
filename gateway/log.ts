/**
 * pino JSON logs on stdout. Tokens never reach a log line: they are redacted by key wherever they appear
 * in a logged object, and the code logs device ids, never tokens.
 */

import { type DestinationStream, type Logger as PinoLogger, pino, destination as pinoDestination } from 'pino';
import pretty from 'pino-pretty';

export type Logger = PinoLogger;

export const REDACT_PATHS = [
  'token',
  '*.token',
  '*.*.token',
  'password',
  '*.password',
  'headers.authorization',
  'headers["device-token"]',
  'headers.token',
  'key',
  '*.key',
  'encryptionKey',
];

/**
 * JSON on stdout; pretty, coloured lines when stdout is a terminal (a person watching), unless
 * TAGO_EDGE_LOG_FORMAT says `json` (or `pretty` to force it). Scripts and tests read a pipe: JSON.
 */
function defaultDestination(): DestinationStream {
  const format = process.env.TAGO_EDGE_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
  if (format === 'pretty') {
    return pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
  }
  return pinoDestination({ dest: 1, sync: false });
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tago-edge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? defaultDestination(),
  );
}

/**
 * Lifecycle lines (`listening`, `stopped`) that scripts and tests wait for: written whatever the log
 * level, as one JSON line on stdout.
 */
export function announce(log: Logger, fields: Record<string, unknown> & { event: string }): void {
  if (log.isLevelEnabled('info')) {
    log.info(fields, fields.event);
    return;
  }
  if (log.level === 'silent') return;
  process.stdout.write(
    `${JSON.stringify({ level: 'info', time: new Date().toISOString(), service: 'tago-edge', ...fields, msg: fields.event })}\n`,
  );
}
