import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type Config, configSchema } from './schema.js';

/** Environment variables that override the file (SPEC.md). */
export const envOverrides: ReadonlyArray<{ env: string; path: string[]; kind: 'number' | 'string' }> = [
  { env: 'TAGO_EDGE_HTTP_PORT', path: ['http', 'port'], kind: 'number' },
  { env: 'TAGO_EDGE_MQTT_PORT', path: ['mqtt', 'port'], kind: 'number' },
  { env: 'TAGO_EDGE_UPSTREAM_URL', path: ['upstream', 'url'], kind: 'string' },
  { env: 'TAGO_EDGE_DATA_DIR', path: ['store', 'dir'], kind: 'string' },
  { env: 'TAGO_EDGE_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
];

export function formatZodError(err: z.ZodError, prefix = ''): string {
  return err.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const where = prefix + path;
      return `${where || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}

export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    if (/\.json$/i.test(file)) return JSON.parse(text);
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

export function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const base: Record<string, unknown> =
    raw && typeof raw === 'object' && !Array.isArray(raw) ? structuredClone(raw as Record<string, unknown>) : {};
  for (const o of envOverrides) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    if (o.kind === 'number') {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new ConfigError(`${o.env}: expected an integer, got "${v}"`);
      setPath(base, o.path, n);
    } else {
      setPath(base, o.path, v);
    }
  }
  return base;
}

export function parseConfig(raw: unknown): Config {
  if (raw !== undefined && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError('(root): expected a mapping of settings');
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatZodError(result.error));
  return deepFreeze(result.data);
}

/** Reads the file (if any: `--config`, else TAGO_EDGE_CONFIG), applies env overrides, validates. */
export function loadConfig(opts: { file?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.TAGO_EDGE_CONFIG;
  const raw = file ? readConfigFile(file) : {};
  if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(`${file}: expected a mapping of settings at the top level`);
  }
  const merged = applyEnv(raw, env);
  // Parser paths in a config file are relative to the file, not to the working directory.
  if (file && Array.isArray(merged.devices)) {
    const base = dirname(resolve(file));
    merged.devices = merged.devices.map((d: unknown) => {
      const dev = d as { parser?: unknown };
      return dev && typeof dev.parser === 'string' && !isAbsolute(dev.parser)
        ? { ...dev, parser: resolve(base, dev.parser) }
        : d;
    });
  }
  return parseConfig(merged);
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}
