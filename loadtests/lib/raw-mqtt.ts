/**
 * A minimal MQTT 3.1.1 client over a raw socket, for the generators of many connections (the growth curves,
 * the bench's idle connections): tens of thousands of connections cost the generator little (MQTT.js would
 * cost it far more memory per connection, and only the gateway is measured). It sends CONNECT (password = device token, clean-session flag and keep-alive as
 * given), QoS 1 PUBLISH, SUBSCRIBE and PINGREQ, and reads CONNACK, PUBACK, SUBACK and PINGRESP; a PUBLISH
 * from the broker is counted (`onMessage`) and, at QoS 1, PUBACKed.
 */
import { connect, type Socket } from 'node:net';

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function connectPacket(clientId: string, token: string, clean: boolean, keepAliveS: number): Buffer {
  // flags: username | password, and clean session when asked
  const variable = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, clean ? 0xc2 : 0xc0, keepAliveS >> 8, keepAliveS & 0xff]),
  ]);
  const body = Buffer.concat([variable, str(clientId), str('Token'), str(token)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function publishPacket(topic: string, payload: Buffer, messageId: number): Buffer {
  const id = Buffer.from([messageId >> 8, messageId & 0xff]);
  const body = Buffer.concat([str(topic), id, payload]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

/** SUBSCRIBE to one topic filter at `qos`. */
export function subscribePacket(filter: string, messageId: number, qos: 0 | 1): Buffer {
  const body = Buffer.concat([Buffer.from([messageId >> 8, messageId & 0xff]), str(filter), Buffer.from([qos])]);
  return Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]);
}

export const PINGREQ = Buffer.from([0xc0, 0]);
export const DISCONNECT = Buffer.from([0xe0, 0]);

export interface RawClient {
  socket: Socket;
  /** Resolves with the CONNACK return code (0 = accepted). */
  connack: Promise<number>;
  /** Resolves on the PUBACK (or SUBACK) of packet `id`. */
  puback(id: number): Promise<void>;
}

/**
 * Connects from `localAddress` (a loopback alias, so connections are not bounded by one address's
 * ephemeral ports) and sends CONNECT. Socket errors reject the CONNACK (or a pending PUBACK).
 */
export function rawConnect(opts: {
  port: number;
  localAddress: string;
  clientId: string;
  token: string;
  clean: boolean;
  keepAliveS: number;
  timeoutMs?: number;
  /** Called for each PUBLISH the broker sends (after its PUBACK is written, at QoS 1). */
  onMessage?: (topic: string) => void;
}): RawClient {
  const socket = connect({ port: opts.port, host: '127.0.0.1', localAddress: opts.localAddress });
  let buf: Buffer = Buffer.alloc(0);
  const acks = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let onConnack: { resolve: (rc: number) => void; reject: (e: Error) => void } | undefined;
  const connack = new Promise<number>((resolve, reject) => {
    onConnack = { resolve, reject };
  });
  const timer = setTimeout(() => fail(new Error('no CONNACK in time')), opts.timeoutMs ?? 60_000);
  function fail(err: Error): void {
    clearTimeout(timer);
    onConnack?.reject(err);
    onConnack = undefined;
    for (const a of acks.values()) a.reject(err);
    acks.clear();
    socket.destroy();
  }
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  socket.once('connect', () => socket.write(connectPacket(opts.clientId, opts.token, opts.clean, opts.keepAliveS)));
  socket.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      // fixed header: type byte, remaining length (1-4 bytes)
      let len = 0;
      let mult = 1;
      let i = 1;
      for (; i < buf.length && i <= 4; i++) {
        const b = buf[i] as number;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (i >= buf.length || buf.length < i + 1 + len) return;
      const buf0 = buf[0] as number;
      const type = buf0 >> 4;
      const body = buf.subarray(i + 1, i + 1 + len);
      buf = buf.subarray(i + 1 + len);
      if (type === 2) {
        clearTimeout(timer);
        onConnack?.resolve(body[1] ?? 255);
        onConnack = undefined;
      } else if (type === 4 || type === 9) {
        const id = body.readUInt16BE(0);
        acks.get(id)?.resolve();
        acks.delete(id);
      } else if (type === 3) {
        const qos = ((buf0 >> 1) & 3) as number;
        const topicLen = body.readUInt16BE(0);
        const topic = body.subarray(2, 2 + topicLen).toString('utf8');
        if (qos > 0) socket.write(Buffer.from([0x40, 2, body[2 + topicLen] as number, body[3 + topicLen] as number]));
        opts.onMessage?.(topic);
      }
    }
  });
  return {
    socket,
    connack,
    puback: (id) => new Promise<void>((resolve, reject) => acks.set(id, { resolve, reject })),
  };
}

/** The i-th loopback source address, 127.0.0.2 onwards (Linux routes all of 127/8 to lo). */
export function loopbackAlias(i: number): string {
  return `127.0.${Math.floor(i / 250)}.${2 + (i % 250)}`;
}
