/**
 * Per-device topic ACL (gateway/ingest/mqtt/topic-acl.ts): the rules, then the broker applying them to
 * publishes (a publish outside the ACL closes the connection, MQTT 3.1.1 has no negative PUBACK) and
 * subscriptions (SUBACK 0x80 for that filter, the connection stays).
 */
import { describe, expect, it } from 'vitest';
import { subscriptionAllowed, topicAllowed, topicMatches } from '../../gateway/ingest/mqtt/topic-acl.js';
import type { Device } from '../../gateway/model.js';
import { startStack, waitFor } from '../helpers/stack.js';
import { closed, connectMqtt } from './fixtures.js';

const dev = (topics?: string[]): Device => ({
  id: 'abc123',
  name: 'boiler',
  token: 't',
  params: [],
  tags: [],
  ...(topics ? { topics } : {}),
});

describe('topic ACL rules', () => {
  it('matches MQTT filters', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
  });

  it('registry mode: tago/data/post, the device namespace (id or name) and configured topics only', () => {
    const d = dev();
    for (const t of ['tago/data/post', 'devices/abc123/x', 'devices/boiler/a/b']) {
      expect(topicAllowed(d, t, 'registry'), t).toBe(true);
    }
    for (const t of ['devices/other/x', 'site/x', 'tago/data/postx', '$SYS/x', 'devices/abc1234/x']) {
      expect(topicAllowed(d, t, 'registry'), t).toBe(false);
    }
    const withTopics = dev(['site/+/status']);
    expect(topicAllowed(withTopics, 'site/a/status', 'registry')).toBe(true);
    expect(topicAllowed(withTopics, 'site/a/other', 'registry')).toBe(false);
  });

  it('passthrough without configured topics: any topic but $SYS; configured topics restrict', () => {
    expect(topicAllowed(dev(), 'anything/at/all', 'passthrough')).toBe(true);
    expect(topicAllowed(dev(), '$SYS/broker', 'passthrough')).toBe(false);
    expect(topicAllowed(dev(['site/#']), 'other/x', 'passthrough')).toBe(false);
    expect(topicAllowed(dev(['site/#']), 'devices/boiler/x', 'passthrough')).toBe(true);
  });

  it('subscriptions: within the same scopes, no wildcard escaping them, no firehose, no $SYS', () => {
    const d = dev(['site/+/status']);
    expect(subscriptionAllowed(d, 'devices/abc123/#', 'registry')).toBe(true);
    expect(subscriptionAllowed(d, 'devices/boiler/+/cmd', 'registry')).toBe(true);
    expect(subscriptionAllowed(d, 'site/+/status', 'registry')).toBe(true);
    expect(subscriptionAllowed(d, 'site/a/status', 'registry')).toBe(true);
    expect(subscriptionAllowed(d, 'site/#', 'registry')).toBe(false);
    expect(subscriptionAllowed(d, 'devices/+/x', 'registry')).toBe(false);
    expect(subscriptionAllowed(d, 'devices/#', 'registry')).toBe(false);
    expect(subscriptionAllowed(d, '#', 'registry')).toBe(false);
    expect(subscriptionAllowed(dev(), 'site/a', 'passthrough')).toBe(true);
    expect(subscriptionAllowed(dev(), '#', 'passthrough')).toBe(false);
    expect(subscriptionAllowed(dev(), '+/status', 'passthrough')).toBe(false);
    expect(subscriptionAllowed(dev(), '$SYS/#', 'passthrough')).toBe(false);
  });
});

describe('topic ACL in the broker', () => {
  const devices = [
    { name: 'boiler', token: 'tok-boiler', topics: ['site/boiler/#'] },
    { name: 'pump', token: 'tok-pump' },
  ];

  it('registry: own namespace and configured topics pass; another device namespace closes the connection', async () => {
    const { mqtt: url, sim } = await startStack({ auth: { mode: 'registry' }, devices });
    const c = await connectMqtt(url, 'tok-pump');
    await c.publishAsync('tago/data/post', JSON.stringify({ variable: 'a', value: 1 }), { qos: 1 });
    await c.publishAsync('devices/pump/status', 'on', { qos: 1 });
    await waitFor(() => sim.stats().tokens['tok-pump']?.points === 2);
    const gone = closed(c);
    c.publish('devices/boiler/status', 'spoof', { qos: 1 });
    await gone;

    const b = await connectMqtt(url, 'tok-boiler');
    await b.publishAsync('site/boiler/temp', '71', { qos: 1 });
    await waitFor(() => sim.stats().tokens['tok-boiler']?.points === 1);
    await expect(b.subscribeAsync('devices/pump/#')).rejects.toThrow(/Subscribe error/);
    await expect(b.subscribeAsync('#')).rejects.toThrow(/Subscribe error/);
    const granted = await b.subscribeAsync('site/boiler/cmd');
    expect(granted[0]?.qos).toBe(0);
    expect(b.connected).toBe(true);
  });

  it('passthrough: arbitrary topics are accepted, a firehose subscription is not', async () => {
    const { mqtt: url, sim } = await startStack();
    const c = await connectMqtt(url, 'tok-any');
    await c.publishAsync('factory/line-3/anything', 'x', { qos: 1 });
    await waitFor(() => sim.stats().tokens['tok-any']?.points === 1);
    await expect(c.subscribeAsync('#')).rejects.toThrow(/Subscribe error/);
    expect(c.connected).toBe(true);
  });
});
