/**
 * `mqtt.maxPacketBytes` for MQTT over TCP, TLS and WebSocket. aedes has no packet-size option and its
 * parser buffers a packet whole before handing it on, so a 256 MB remaining length would be buffered.
 * This guard follows the MQTT framing on the raw byte stream — fixed header byte, remaining length
 * (1–4 bytes, [MQTT-2.2.3]), body — and destroys the connection as soon as a header declares a packet
 * larger than the limit, or a remaining length runs past 4 bytes (malformed). It never buffers: it only
 * counts bytes. It listens to 'data', which aedes triggers through its own `read()` calls (aedes reads
 * in paused mode, and a 'readable' listener keeps precedence), so the byte order is what aedes parses.
 */
import type { Duplex } from 'node:stream';

export type PacketViolation = { reason: 'too-large'; bytes: number } | { reason: 'malformed-length' };

export function guardPacketSize(
  stream: Duplex,
  maxBytes: number,
  onViolation: (v: PacketViolation) => void = () => {},
): void {
  let state: 'type' | 'len' | 'body' = 'type';
  let value = 0;
  let mult = 1;
  let lenBytes = 0;
  let remaining = 0;
  let tripped = false;

  const trip = (v: PacketViolation) => {
    tripped = true;
    onViolation(v);
    stream.destroy();
  };

  stream.on('data', (chunk: Buffer | string) => {
    if (tripped) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let i = 0;
    while (i < buf.length) {
      if (state === 'body') {
        const n = Math.min(remaining, buf.length - i);
        remaining -= n;
        i += n;
        if (remaining === 0) state = 'type';
        continue;
      }
      const b = buf[i++] as number;
      if (state === 'type') {
        state = 'len';
        value = 0;
        mult = 1;
        lenBytes = 0;
        continue;
      }
      value += (b & 0x7f) * mult;
      mult *= 128;
      lenBytes++;
      if (b & 0x80) {
        if (lenBytes === 4) return trip({ reason: 'malformed-length' });
        continue;
      }
      const total = 1 + lenBytes + value;
      if (total > maxBytes) return trip({ reason: 'too-large', bytes: total });
      remaining = value;
      state = remaining > 0 ? 'body' : 'type';
    }
  });
}
