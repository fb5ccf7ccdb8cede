/**
 * The growth curves' raw MQTT client against a real gateway: a kept session with a subscription, a command
 * queued through POST /publish while the device is away, and the reconnect that gets it (PUBACKed, so the
 * gateway marks it delivered) beside its own QoS 1 publish.
 */
import { describe, expect, it } from 'vitest';
import { commandTopic } from '../../loadtests/growth/mqtt-worker-topics.js';
import { DISCONNECT, publishPacket, rawConnect, subscribePacket } from '../../loadtests/lib/raw-mqtt.js';
import { publish, startDownlinkStack, waitForStatus } from '../downlink/downlink-fixture.js';
import { waitFor } from '../helpers/stack.js';

const TOKEN = 'raw-client-token-0001';

describe('raw MQTT client (growth generators)', () => {
  it('keeps a session, receives a command queued while away and PUBACKs it', async () => {
    const stack = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'storm-7', token: TOKEN }],
    });
    const port = Number(stack.gw.ports.mqtt);
    const connect = (onMessage?: (topic: string) => void) =>
      rawConnect({
        port,
        localAddress: '127.0.0.1',
        clientId: 'raw-storm-7',
        token: TOKEN,
        clean: false,
        keepAliveS: 30,
        ...(onMessage ? { onMessage } : {}),
      });
    const first = connect();
    expect(await first.connack).toBe(0);
    first.socket.write(subscribePacket(commandTopic('storm', 7), 1, 1));
    await first.puback(1); // the SUBACK
    first.socket.end(DISCONNECT);
    await new Promise((r) => first.socket.once('close', r));

    const posted = await publish(stack.downlink, { topic: commandTopic('storm', 7), message: 'open', qos: 1 });
    expect(posted.status).toBe(200);
    const id = posted.body.result?.id ?? '';

    const topics: string[] = [];
    const again = connect((t) => topics.push(t));
    expect(await again.connack).toBe(0);
    again.socket.write(publishPacket('tago/data/post', Buffer.from('{"variable":"v","value":1}'), 2));
    await again.puback(2);
    await waitFor(async () => (topics.length > 0 ? true : null), 10_000);
    expect(topics).toEqual(['devices/storm-7/cmd']);
    await waitForStatus(stack.downlink, id, 'delivered');
    again.socket.destroy();
  });
});
