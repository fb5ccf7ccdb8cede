/**
 * The one configuration schema. Every key has a default (so `npm start` needs no file), unknown keys are
 * errors, units live in the names. Parsed once at start and frozen. docs/configuration.md is generated
 * from this schema (`tago-edge config docs`), and a test keeps it in step.
 */
import { z } from 'zod';
import { parseCidr } from '../admission/address-list.js';
import { routesSchema } from './routes-schema.js';

const port = z.number().int().min(0).max(65535);
const cidr = z.string().superRefine((text, ctx) => {
  const rule = parseCidr(text);
  if (typeof rule === 'string') ctx.addIssue({ code: 'custom', message: rule });
});
const keyValue = z.object({ key: z.string(), value: z.string() }).strict();

const tlsFiles = z
  .object({
    certFile: z.string().describe('PEM certificate chain file'),
    keyFile: z.string().describe('PEM private key file'),
    caFile: z.string().optional().describe('PEM CA bundle used to verify client certificates (mTLS)'),
    requestClientCert: z.boolean().default(false).describe('ask clients for a certificate (mTLS)'),
  })
  .strict();

const jetstreamSchema = z
  .object({
    servers: z.array(z.string().min(1)).min(1).default(['nats://127.0.0.1:4222']).describe('NATS server URLs'),
    user: z.string().optional().describe('user name (with password)'),
    password: z.string().optional().describe('password (with user)'),
    token: z.string().optional().describe('authentication token'),
    nkeySeedFile: z.string().optional().describe('file holding an NKey seed (SU...)'),
    credsFile: z.string().optional().describe('a .creds file (JWT and NKey seed)'),
    tls: z
      .object({
        caFile: z.string().optional().describe("PEM CA bundle that signed the servers' certificates"),
        certFile: z.string().optional().describe('client certificate (mTLS)'),
        keyFile: z.string().optional().describe('client private key (mTLS)'),
      })
      .strict()
      .optional()
      .describe('connect with TLS'),
    replicas: z.number().int().min(1).max(5).default(3).describe('copies of each stream and bucket (1, 3 or 5)'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('TAGO_EDGE')
      .describe('prefix of the stream, bucket and subject names'),
    partitions: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(16)
      .describe('device partitions; each is forwarded by one node at a time (fixed once data is stored)'),
    maxBytes: z.number().int().positive().optional().describe('stream cap in bytes (default: store.maxBytes)'),
    maxAgeMs: z.number().int().nonnegative().default(0).describe('oldest point the stream keeps (0 = no limit)'),
    ackTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5_000)
      .describe('how long an append waits for the publish ack before answering 503'),
    leaseMs: z
      .number()
      .int()
      .min(1_000)
      .default(10_000)
      .describe("partition lease time: a dead node's partitions move to another node after this"),
    node: z.string().optional().describe("this node's name in the cluster (default: host name and process id)"),
  })
  .strict()
  .prefault({});

export const deviceSchema = z
  .object({
    name: z.string().min(1).describe('device name, shown in logs'),
    token: z
      .string()
      .min(1)
      .refine((t) => !t.includes('\u0000'), 'a device token holds no NUL byte')
      .describe('the TagoIO device token'),
    parser: z.string().optional().describe('path to a .js or .ts payload parser'),
    params: z.array(keyValue).default([]).describe('device configuration parameters visible to the parser'),
    tags: z.array(keyValue).default([]).describe('device tags visible to the parser'),
    topics: z.array(z.string()).optional().describe('extra MQTT topic filters this device may use'),
    certificateCN: z.string().optional().describe('mTLS: a client certificate with this CN is this device'),
    downlink: z
      .object({
        pull: z
          .object({
            variable: z
              .string()
              .min(1)
              .describe("the variable in the device's TagoIO bucket that carries its commands (GET /data)"),
            topic: z
              .string()
              .min(1)
              .optional()
              .describe(
                'MQTT topic a pulled command is published on when its record names none (default devices/<name>/downlink)',
              ),
          })
          .strict()
          .optional()
          .describe("poll this device's commands from its TagoIO bucket (for a gateway TagoIO cannot reach)"),
      })
      .strict()
      .optional()
      .describe('downlink (TagoIO → device) options for this device'),
  })
  .strict();

const downlinkSchema = z
  .object({
    port: port
      .optional()
      .describe('POST /publish listener, the TagoIO MQTT relay contract (0 = ephemeral); off when unset'),
    host: z.string().default('0.0.0.0').describe('address to bind'),
    secret: z
      .string()
      .min(16)
      .optional()
      .describe(
        'shared secret for the downlink listener (Authorization: <secret> or Bearer <secret>); required with downlink.port',
      ),
    tls: tlsFiles.optional().describe('serve the downlink listener over HTTPS'),
    ttlMs: z.number().int().positive().default(86_400_000).describe('how long a message waits for its device (24 h)'),
    maxQueuedPerDevice: z
      .number()
      .int()
      .positive()
      .default(1_000)
      .describe('messages waiting per device (or per topic); past it the oldest becomes a dead letter'),
    maxQueued: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe('messages waiting in all; past it POST /publish answers 503'),
    maxMessageBytes: z.number().int().positive().default(65_536).describe('largest message accepted (64 KiB)'),
    keepFinishedMs: z
      .number()
      .int()
      .positive()
      .default(604_800_000)
      .describe('how long a delivered, expired or dead-lettered message stays readable at GET /downlink/{id} (7 days)'),
    sweepIntervalMs: z.number().int().positive().default(1_000).describe('how often expired messages are swept'),
    retryAfterSeconds: z.number().int().positive().default(30).describe('Retry-After sent with a 503 (queue full)'),
    reportStatus: z
      .boolean()
      .default(false)
      .describe(
        "post each message's final outcome to its device's TagoIO bucket as a downlink_status point (through the store and forwarder)",
      ),
    httpVariable: z
      .string()
      .min(1)
      .default('downlink')
      .describe('the variable an HTTP device reads its queued messages as, with GET /data on the ingest port'),
    pull: z
      .object({
        requestsPerMinute: z
          .number()
          .int()
          .positive()
          .default(60)
          .describe(
            'TagoIO requests per minute for pull mode, GET and DELETE /data together (a share of the plan GET budget; forwarding keeps upstream.requestsPerMinute)',
          ),
        intervalMs: z.number().int().positive().default(10_000).describe('how often each pull device is polled'),
        qty: z.number().int().min(1).max(100).default(10).describe('commands read per poll'),
        timeoutMs: z.number().int().positive().default(30_000).describe('TagoIO request timeout'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((d, ctx) => {
    // Never open without a secret: the listener publishes to devices.
    if (d.port !== undefined && d.secret === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'required when downlink.port is set (at least 16 characters)',
      });
    }
  });

export const configSchema = z
  .object({
    http: z
      .object({
        port: port.default(8080).describe('HTTP ingest port (0 = ephemeral)'),
        host: z.string().default('0.0.0.0').describe('address to bind'),
        bodyLimitBytes: z.number().int().positive().default(204_800).describe('largest body accepted (200 kB)'),
        requestTimeoutMs: z.number().int().positive().default(30_000).describe('whole-request timeout'),
        headersTimeoutMs: z.number().int().positive().default(10_000).describe('time to receive headers (slowloris)'),
        keepAliveTimeoutMs: z.number().int().positive().default(5_000).describe('idle keep-alive timeout'),
        engine: z
          .never({ error: 'removed; the ingest port always uses the lean HTTP/1.1 server' })
          .optional()
          .describe('removed: the ingest port always uses the lean HTTP/1.1 server'),
        tls: tlsFiles.optional().describe('serve HTTPS instead of HTTP'),
      })
      .strict()
      .prefault({}),
    mqtt: z
      .object({
        port: port.default(1883).describe('MQTT over TCP port (0 = ephemeral)'),
        host: z.string().default('0.0.0.0').describe('address to bind'),
        tlsPort: port.optional().describe('MQTT over TLS port (conventionally 8883); needs mqtt.tls'),
        wsPort: port.optional().describe('MQTT over WebSocket port'),
        wssPort: port.optional().describe('MQTT over secure WebSocket port; needs mqtt.tls'),
        tls: tlsFiles.optional().describe('certificate for MQTTS and WSS'),
        maxPacketBytes: z
          .number()
          .int()
          .positive()
          .default(262_144)
          .describe('largest MQTT packet accepted (256 KiB); a larger one closes the connection'),
        maxTopicLevels: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(100)
          .describe('most "/"-separated levels in a topic or filter (aedes maxTopicLevels, at most 100)'),
        connectTimeoutMs: z.number().int().positive().default(10_000).describe('time to send CONNECT'),
        maxConnections: z.number().int().positive().default(20_000).describe('connection cap'),
        maxPublishesInFlight: z
          .number()
          .int()
          .positive()
          .default(1_000)
          .describe(
            'publishes read and not yet answered, across connections; past it reads wait (TCP flow control holds the rest)',
          ),
        fullWaitMs: z
          .number()
          .int()
          .nonnegative()
          .default(30_000)
          .describe('how long a QoS 1 PUBACK is withheld while the store is full before disconnecting'),
      })
      .strict()
      .prefault({}),
    upstream: z
      .object({
        url: z.url().default('https://api.us-e1.tago.io').describe('TagoIO API base URL'),
        requestsPerMinute: z
          .number()
          .int()
          .positive()
          .default(250)
          .describe('POST /data requests per minute (TagoIO plan limit: Free 250, Starter 5000, Scale 15000)'),
        batchMaxBytes: z
          .number()
          .int()
          .positive()
          .max(204_800)
          .default(200_000)
          .describe('largest forward request body'),
        batchWaitMs: z
          .number()
          .int()
          .nonnegative()
          .default(1000)
          .describe(
            'per device: wait to fill a batch, and at most one request per interval unless a full batch (batchMaxBytes) is pending',
          ),
        maxInFlight: z.number().int().positive().default(8).describe('concurrent forward requests'),
        timeoutMs: z.number().int().positive().default(30_000).describe('forward request timeout'),
        retryBaseMs: z.number().int().positive().default(500).describe('first retry delay'),
        retryMaxMs: z
          .number()
          .int()
          .positive()
          .default(10_000)
          .describe('longest retry delay; also the longest gap between probes while TagoIO is down'),
      })
      .strict()
      .prefault({}),
    routes: routesSchema,
    store: z
      .object({
        dir: z.string().default('./data').describe('data directory'),
        engine: z
          .enum(['sqlite', 'memory', 'jetstream'])
          .default('sqlite')
          .describe(
            'memory: not durable, for tests only; jetstream: a replicated NATS JetStream cluster (docs/cluster.md)',
          ),
        sync: z.enum(['full', 'normal']).default('full').describe('full survives power loss; normal a process crash'),
        groupCommitMs: z
          .number()
          .nonnegative()
          .default(2)
          .describe(
            'how long an append waits for others to share its commit when none is in flight (one in flight: the next starts when it ends; 128 appends queued: at once)',
          ),
        maxBytes: z.number().int().positive().default(1_073_741_824).describe('store cap (1 GiB)'),
        whenFull: z.enum(['block', 'drop_oldest']).default('block').describe('push back, or drop the oldest (counted)'),
        encryptionKeyFile: z.string().optional().describe('32-byte key (hex or base64) for AES-256-GCM at rest'),
        retryAfterSeconds: z.number().int().positive().default(5).describe('Retry-After sent when full'),
        jetstream: jetstreamSchema,
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        mode: z.enum(['passthrough', 'registry']).default('passthrough').describe('which tokens are accepted'),
      })
      .strict()
      .prefault({}),
    devices: z.array(deviceSchema).default([]).describe('known devices'),
    parsers: z
      .object({
        timeoutMs: z.number().int().positive().default(1_000).describe('CPU time limit per parser run'),
        memoryMb: z.number().int().min(8).default(64).describe('memory limit per parser isolate'),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        uploadsPerMinute: z.number().int().nonnegative().default(0).describe('per device; 0 = unlimited'),
        authFailuresPerMinute: z.number().int().nonnegative().default(5).describe('per address; 0 = unlimited'),
        authCooldownMs: z
          .number()
          .int()
          .nonnegative()
          .default(60_000)
          .describe('refusal period after too many auth failures'),
        allow: z.array(cidr).default([]).describe('CIDRs or addresses allowed, IPv4 or IPv6 (empty = all)'),
        deny: z.array(cidr).default([]).describe('CIDRs or addresses denied; deny wins over allow'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    downlink: downlinkSchema.prefault({}).describe('TagoIO → device commands (docs/downlink.md)'),
    shutdown: z
      .object({
        forwardGraceMs: z.number().int().nonnegative().default(5_000).describe('time given to the forwarder on stop'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;
