/**
 * The parser sandbox's diagnostics channels, and the helper every part's channels are made with
 * (gateway/events.ts lists these beside the data path's). Core code emits, metrics listen: publishing on
 * a channel nobody listens to costs a boolean check (`hasSubscribers`). Payloads never carry a device
 * token: only the device id.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

export interface ParserRunEvent {
  deviceId: string;
  /** ok, or the error code. */
  outcome: string;
  messages: number;
  durationMs: number;
}
export interface ParserConsoleEvent {
  deviceId: string;
  level: 'log' | 'debug' | 'error';
  message: string;
}

export function channel<T>(name: string) {
  const ch = diagnosticsChannel.channel(name);
  return {
    name,
    channel: ch,
    publish(message: T): void {
      if (ch.hasSubscribers) ch.publish(message);
    },
    subscribe(fn: (message: T) => void): () => void {
      const listener = (m: unknown) => fn(m as T);
      ch.subscribe(listener);
      return () => ch.unsubscribe(listener);
    },
  };
}

export const parserEvents = {
  parserRun: channel<ParserRunEvent>('tago-edge:parser:run'),
  parserConsole: channel<ParserConsoleEvent>('tago-edge:parser:console'),
} as const;
