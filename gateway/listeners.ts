/**
 * The network listeners: HTTP(S) ingest, MQTT over TCP, TLS, WebSocket and secure WebSocket. Each
 * binds (port 0 = ephemeral) and reports the port it got. TLS material is read once at start.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import type { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { guardPacketSize } from './admission/mqtt-packet-guard.js';
import type { Config } from './config/schema.js';
import { ConfigError } from './errors.js';

type TlsFiles = NonNullable<Config['mqtt']['tls']>;

export function tlsOptions(
  files: TlsFiles,
  where: string,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  const read = (f: string, key: string) => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new ConfigError(`${where}.${key}: cannot read ${f} (${(err as NodeJS.ErrnoException).code})`);
    }
  };
  return {
    cert: read(files.certFile, 'certFile'),
    key: read(files.keyFile, 'keyFile'),
    ...(files.caFile ? { ca: read(files.caFile, 'caFile') } : {}),
    requestCert: files.requestClientCert,
    // A client without a certificate may still authenticate with its token; a presented certificate
    // that does not verify is refused by the TLS layer (authorized === false is checked at CONNECT).
    rejectUnauthorized: false,
  };
}

/**
 * The accept queue asked of the kernel (which caps it at net.core.somaxconn). Node's default, 511, overflows
 * when thousands of devices reconnect at once (a reconnect storm after a restart or a network blip): the
 * kernel drops their handshakes and they come back only after SYN retransmits 1, 3, 7, 15 s later. In the
 * growth bench's 20,000-device storm that took the last CONNACK from about 18 s to up to 56 s.
 */
export const LISTEN_BACKLOG = 65_535;

export function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

export function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}

export interface MqttListeners {
  ports: { mqtt: number; mqtts?: number; ws?: number; wss?: number };
  servers: Array<NetServer | HttpServer>;
  wsServers: WebSocketServer[];
}

export async function startMqttListeners(broker: Aedes, config: Config['mqtt']): Promise<MqttListeners> {
  const servers: Array<NetServer | HttpServer> = [];
  const wsServers: WebSocketServer[] = [];
  const ports: MqttListeners['ports'] = { mqtt: 0 };

  // Every MQTT byte stream passes the mqtt.maxPacketBytes guard (aedes has no packet-size option).
  const handle = (stream: Duplex, req?: IncomingMessage) => {
    broker.handle(stream as never, req as never);
    guardPacketSize(stream, config.maxPacketBytes);
  };
  const tcp = createNetServer((socket) => handle(socket));
  tcp.maxConnections = config.maxConnections;
  servers.push(tcp);
  ports.mqtt = await listen(tcp, config.port, config.host);

  const needsTls = config.tlsPort !== undefined || config.wssPort !== undefined;
  if (needsTls && !config.tls) throw new ConfigError('mqtt.tls: required when mqtt.tlsPort or mqtt.wssPort is set');
  const tls = config.tls ? tlsOptions(config.tls, 'mqtt.tls') : undefined;

  if (config.tlsPort !== undefined && tls) {
    const s = createTlsServer(tls, (socket) => handle(socket));
    s.maxConnections = config.maxConnections;
    servers.push(s);
    ports.mqtts = await listen(s, config.tlsPort, config.host);
  }

  const attachWs = (server: HttpServer) => {
    const wss = new WebSocketServer({ server, maxPayload: config.maxPacketBytes + 16 });
    wss.on('connection', (socket, req) => {
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      handle(stream, req);
    });
    wsServers.push(wss);
  };
  if (config.wsPort !== undefined) {
    const s = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
    });
    attachWs(s);
    servers.push(s);
    ports.ws = await listen(s, config.wsPort, config.host);
  }
  if (config.wssPort !== undefined && tls) {
    const s = createHttpsServer(tls, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
    });
    attachWs(s);
    servers.push(s);
    ports.wss = await listen(s, config.wssPort, config.host);
  }
  return { ports, servers, wsServers };
}
