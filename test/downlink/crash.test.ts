/**
 * The downlink queue across a SIGKILL: the real gateway runs as a child process (the CLI, dist/), a
 * command is posted (200 = committed to downlink.sqlite) while its device is offline, the gateway is
 * killed with SIGKILL and started again on the same data directory; the device then receives it. A
 * retained command survives the same way and reaches a subscriber that comes after the restart.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { type Spawned, spawnCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/stack.js';
import { device, publish, SECRET, status, waitForStatus } from './downlink-fixture.js';

async function startGateway(configFile: string): Promise<{ gw: Spawned; mqtt: string; downlink: string }> {
  const gw = spawnCli(['gateway', '--config', configFile], { env: { TAGO_EDGE_CONFIG: '' } });
  const line = await gw.waitForEvent('listening');
  return { gw, mqtt: `mqtt://127.0.0.1:${line.mqtt}`, downlink: `http://127.0.0.1:${line.downlink}` };
}

async function kill(gw: Spawned): Promise<void> {
  process.kill(gw.child.pid as number, 'SIGKILL');
  await gw.exit();
}

describe('downlink across a SIGKILL', () => {
  it('a command queued for an offline device reaches it after the gateway was killed and restarted', {
    timeout: 60_000,
  }, async () => {
    const sim = await startCloudSim({ port: 0, quiet: true });
    const dir = tempDir();
    const configFile = join(dir, 'gateway.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        http: { port: 0, host: '127.0.0.1' },
        mqtt: { port: 0, host: '127.0.0.1' },
        upstream: { url: sim.url },
        store: { dir: join(dir, 'data') },
        log: { level: 'warn' },
        auth: { mode: 'registry' },
        devices: [
          { name: 'gate-1', token: 'tok-gate-1' },
          { name: 'lamp-1', token: 'tok-lamp-1' },
        ],
        downlink: { port: 0, host: '127.0.0.1', secret: SECRET },
      }),
    );
    const first = await startGateway(configFile);
    const cmd = await publish(first.downlink, { topic: 'devices/gate-1/cmd', message: 'open', qos: 1 });
    expect(cmd.status).toBe(200);
    const lamp = await publish(first.downlink, {
      topic: 'devices/lamp-1/mode',
      message: 'dim',
      qos: 1,
      retain: true,
    });
    expect(lamp.status).toBe(200);
    await kill(first.gw);

    const second = await startGateway(configFile);
    const id = cmd.body.result?.id as string;
    expect(await status(second.downlink, id)).toBe('queued');
    const gate = await device(second.mqtt, 'tok-gate-1');
    await gate.client.subscribeAsync('devices/gate-1/cmd', { qos: 1 });
    await waitFor(() => gate.received.length === 1);
    expect(gate.received[0]).toMatchObject({ topic: 'devices/gate-1/cmd', payload: 'open', qos: 1 });
    await waitForStatus(second.downlink, id, 'delivered');

    // The retained message, delivered once, is still the topic's retained one after another kill.
    const l1 = await device(second.mqtt, 'tok-lamp-1');
    await l1.client.subscribeAsync('devices/lamp-1/mode', { qos: 1 });
    await waitFor(() => l1.received.length === 1);
    await waitForStatus(second.downlink, lamp.body.result?.id as string, 'delivered');
    await l1.client.endAsync(true);
    await kill(second.gw);

    const third = await startGateway(configFile);
    const l2 = await device(third.mqtt, 'tok-lamp-1');
    await l2.client.subscribeAsync('devices/lamp-1/mode', { qos: 1 });
    await waitFor(() => l2.received.length === 1);
    expect(l2.received[0]).toMatchObject({ payload: 'dim', retain: true });
    // The delivered command is not sent again after the restart.
    const gate2 = await device(third.mqtt, 'tok-gate-1');
    await gate2.client.subscribeAsync('devices/gate-1/cmd', { qos: 1 });
    const probe = await publish(third.downlink, { topic: 'devices/gate-1/cmd', message: 'probe', qos: 1 });
    await waitFor(() => gate2.received.length >= 1);
    await waitForStatus(third.downlink, probe.body.result?.id as string, 'delivered');
    expect(gate2.received.map((m) => m.payload)).toEqual(['probe']);
    await kill(third.gw);
    await sim.close();
  });
});
