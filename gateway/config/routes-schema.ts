/**
 * `routes:`: where stored points go. With no `routes` the gateway has one route, to TagoIO (`upstream.*`),
 * exactly as before routes existed. Each route has its own queue in the one store and its own delivery
 * (at least once), so one route's outage never delays or loses another's points. docs/routes.md.
 */
import { z } from 'zod';

const ROUTE_NAME = /^[a-z][a-z0-9_-]{0,39}$/;
const SQL_IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

const tlsClient = {
  caFile: z.string().optional().describe('PEM CA bundle the server certificate must chain to (default: system CAs)'),
  certFile: z.string().optional().describe('PEM client certificate (mutual TLS, e.g. AWS IoT Core)'),
  keyFile: z.string().optional().describe('PEM private key of the client certificate'),
};

const tagoioDestination = z
  .object({
    type: z.literal('tagoio'),
    url: z.url().optional().describe('TagoIO API base URL (default upstream.url)'),
  })
  .strict();

const httpDestination = z
  .object({
    type: z.literal('http'),
    url: z.url().describe('webhook URL: POST {"device","records"} as JSON; 2xx = delivered'),
    headers: z.record(z.string(), z.string()).default({}).describe('extra request headers (e.g. Authorization)'),
    timeoutMs: z.number().int().positive().default(30_000).describe('request timeout'),
    ...tlsClient,
  })
  .strict();

const postgresDestination = z
  .object({
    type: z.literal('postgres'),
    url: z
      .string()
      .min(1)
      .describe('connection string, e.g. postgres://edge@db.local:5432/plant (password: in the URL or PGPASSWORD)'),
    table: z
      .string()
      .regex(SQL_IDENT, 'a lower-case SQL identifier: letters, digits, _')
      .default('tago_points')
      .describe('table the points go to; created on start if missing'),
    schema: z
      .string()
      .regex(SQL_IDENT, 'a lower-case SQL identifier: letters, digits, _')
      .default('public')
      .describe('schema of the table'),
    timeoutMs: z.number().int().positive().default(30_000).describe('connect and statement timeout'),
  })
  .strict();

const mqttDestination = z
  .object({
    type: z.literal('mqtt'),
    url: z
      .string()
      .regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL')
      .describe('broker URL'),
    topic: z
      .string()
      .min(1)
      .refine((t) => !/[+#]/.test(t), 'a topic to publish to holds no MQTT wildcard (+ or #)')
      .default('devices/{device}/messages/events/')
      .describe('topic template: {device} (name), {deviceId}, {variable} (one message per point then)'),
    clientId: z.string().min(1).optional().describe('MQTT client id (default tago-edge-<route>)'),
    username: z
      .string()
      .optional()
      .describe('username (Azure IoT Hub: <hub>.azure-devices.net/<device>/?api-version=…)'),
    password: z.string().optional().describe('password (Azure IoT Hub: a SAS token)'),
    ...tlsClient,
    timeoutMs: z.number().int().positive().default(30_000).describe('connect and PUBACK timeout'),
  })
  .strict();

const keyValue = z.object({ key: z.string(), value: z.string() }).strict();

export const routeSchema = z
  .object({
    name: z
      .string()
      .regex(ROUTE_NAME, 'lower-case letters, digits, _ and -, starting with a letter (≤ 40)')
      .describe("the route's name: its metrics label, its line in queue stats, queue replay --route"),
    destination: z
      .discriminatedUnion('type', [tagoioDestination, httpDestination, postgresDestination, mqttDestination])
      .describe('where this route delivers: tagoio, postgres, mqtt or http'),
    filter: z
      .object({
        devices: z.array(z.string().min(1)).optional().describe('device names or ids this route takes'),
        tags: z.array(keyValue).optional().describe('devices with any of these tags (key and value)'),
        variables: z
          .array(z.string().min(1))
          .optional()
          .describe('variables this route takes: names, or patterns with * (e.g. temp*)'),
      })
      .strict()
      .optional()
      .describe('what the route takes (all points when absent); devices and tags: a device matching either'),
    transform: z
      .object({
        dropFields: z
          .array(z.enum(['location', 'metadata', 'unit', 'group', 'time']))
          .default([])
          .describe('record fields this route does not carry (e.g. location kept on premises only)'),
        renameVariables: z
          .record(z.string(), z.string().min(1))
          .default({})
          .describe('variable names as this route carries them: { from: to }'),
      })
      .strict()
      .optional()
      .describe('how the route changes what it carries'),
    delivery: z
      .object({
        maxInFlight: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('concurrent deliveries (default: upstream.maxInFlight)'),
        batchMaxBytes: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('largest batch (default: upstream.batchMaxBytes)'),
        batchWaitMs: z
          .number()
          .int()
          .nonnegative()
          .optional()
          .describe('per device: wait to fill a batch (default: upstream.batchWaitMs)'),
        requestsPerMinute: z
          .number()
          .int()
          .nonnegative()
          .optional()
          .describe('deliveries per minute (default: upstream.requestsPerMinute for tagoio, 0 = unpaced otherwise)'),
        retryBaseMs: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('first retry delay (default: upstream.retryBaseMs)'),
        retryMaxMs: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('longest retry delay (default: upstream.retryMaxMs)'),
      })
      .strict()
      .prefault({})
      .describe('delivery pacing and retries of this route'),
    maxLagMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('with whenLagging: dead_letter, points older than this leave the queue as dead letters'),
    whenLagging: z
      .enum(['hold', 'dead_letter'])
      .default('hold')
      .describe('hold: keep the backlog (store-full back-pressure); dead_letter: move what is older than maxLagMs'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.whenLagging === 'dead_letter' && r.maxLagMs === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxLagMs'], message: 'required with whenLagging: dead_letter' });
    }
    const d = r.destination;
    if ((d.type === 'http' || d.type === 'mqtt') && (d.certFile === undefined) !== (d.keyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['destination', 'keyFile'], message: 'certFile and keyFile go together' });
    }
  });

export const routesSchema = z
  .array(routeSchema)
  .optional()
  .superRefine((routes, ctx) => {
    if (!routes) return;
    if (routes.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'at least one route (or leave routes out: one route to TagoIO)' });
    }
    const seen = new Set<string>();
    routes.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${r.name}" is used twice` });
      seen.add(r.name);
    });
  })
  .describe('destinations for the stored points, each delivered at least once (docs/routes.md); default: TagoIO');

export type RouteConfig = z.output<typeof routeSchema>;
export type DestinationConfig = RouteConfig['destination'];
