import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../gateway/config/load.js';
import { tempDir } from '../helpers/stack.js';

describe('configuration', () => {
  it('has a default for every key (no file needed)', () => {
    const c = loadConfig({ env: {} });
    expect(c.http.port).toBe(8080);
    expect(c.mqtt.port).toBe(1883);
    expect(c.upstream.url).toBe('https://api.us-e1.tago.io');
    expect(c.store.dir).toBe('./data');
    expect(c.log.level).toBe('info');
    expect(c.auth.mode).toBe('passthrough');
    expect(c.upstream.requestsPerMinute).toBe(250);
    expect(Object.isFrozen(c.http)).toBe(true);
  });

  it('applies the environment over the file', () => {
    const dir = tempDir();
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'http:\n  port: 9000\nmqtt:\n  port: 9001\nlog:\n  level: warn\n');
    const c = loadConfig({
      file,
      env: {
        TAGO_EDGE_HTTP_PORT: '0',
        TAGO_EDGE_UPSTREAM_URL: 'http://127.0.0.1:1234',
        TAGO_EDGE_DATA_DIR: '/tmp/x',
        TAGO_EDGE_LOG_LEVEL: 'debug',
      },
    });
    expect(c.http.port).toBe(0);
    expect(c.mqtt.port).toBe(9001);
    expect(c.upstream.url).toBe('http://127.0.0.1:1234');
    expect(c.store.dir).toBe('/tmp/x');
    expect(c.log.level).toBe('debug');
  });

  it('reads JSON, resolves parser paths against the file, and reads TAGO_EDGE_CONFIG', () => {
    const dir = tempDir();
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ devices: [{ name: 'a', token: 't', parser: 'parsers/p.js' }] }));
    const c = loadConfig({ env: { TAGO_EDGE_CONFIG: file } });
    expect(c.devices[0]?.parser).toBe(join(dir, 'parsers/p.js'));
  });

  it.each([
    [{ upstream: { url: 'not a url' } }, 'upstream.url: Invalid URL'],
    [{ http: { port: 70000 } }, 'http.port:'],
    [{ htp: {} }, 'Unrecognized key'],
    [{ store: { sync: 'sometimes' } }, 'store.sync:'],
    [{ devices: [{ name: 'x' }] }, 'devices.0.token:'],
  ])('refuses %j naming the config path', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
    try {
      parseConfig(raw);
    } catch (err) {
      expect((err as { code: string }).code).toBe('EDGE_ERR_CONFIG');
    }
  });

  it('names a bad environment variable', () => {
    expect(() => loadConfig({ env: { TAGO_EDGE_HTTP_PORT: 'eighty' } })).toThrow(
      'TAGO_EDGE_HTTP_PORT: expected an integer',
    );
  });

  it('refuses the removed http.engine and names what replaced it', () => {
    expect(() => parseConfig({ http: { engine: 'node' } })).toThrow(
      'http.engine: removed; the ingest port always uses the lean HTTP/1.1 server',
    );
  });
});
