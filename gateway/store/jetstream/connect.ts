/**
 * Connection options for the NATS servers from `store.jetstream`: servers, one way of authenticating
 * (user/password, token, NKey seed or a .creds file) and TLS. Reconnects forever: a node rides out a
 * server restart; while no server answers, appends fail with StoreUnavailableError instead of hanging.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import type { Config } from '../../config/schema.js';
import { StoreOpenError } from '../../errors.js';

export type JetStreamConfig = Config['store']['jetstream'];

function readFile(path: string, key: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StoreOpenError(`store.jetstream.${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    });
  }
}

export function connectionOptions(config: JetStreamConfig, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: config.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
    // Without it the client builds an Error with a stack trace for every request (each publish ack, each
    // message ack) in case it fails: about a fifth of the gateway's CPU per point on the cluster store.
    noAsyncTraces: true,
  };
  if (config.user !== undefined) opts.user = config.user;
  if (config.password !== undefined) opts.pass = config.password;
  if (config.token !== undefined) opts.token = config.token;
  if (config.nkeySeedFile !== undefined) {
    const seed = new TextDecoder().decode(readFile(config.nkeySeedFile, 'nkeySeedFile')).trim();
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (config.credsFile !== undefined) opts.authenticator = credsAuthenticator(readFile(config.credsFile, 'credsFile'));
  if (config.tls) {
    const tls: NonNullable<NodeConnectionOptions['tls']> = {};
    if (config.tls.caFile !== undefined) tls.caFile = config.tls.caFile;
    if (config.tls.certFile !== undefined) tls.certFile = config.tls.certFile;
    if (config.tls.keyFile !== undefined) tls.keyFile = config.tls.keyFile;
    opts.tls = tls;
  }
  return opts;
}

export async function connectCluster(config: JetStreamConfig, name: string): Promise<NatsConnection> {
  try {
    return await connect(connectionOptions(config, name));
  } catch (err) {
    throw new StoreOpenError(
      `store.jetstream.servers: cannot connect to ${config.servers.join(', ')} (${(err as Error).message})`,
      { cause: err },
    );
  }
}
