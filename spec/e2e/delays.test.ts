import { describe, expect, it } from 'vitest';
import { api, eventually, RawClient, startBroker, type Frame } from './harness.js';
import { StompPeer, until } from './stomp-peer.js';

// docs/protocol.md, "Delayed redelivery and delayed messages", through the real process.

const queueOf = async (port: number, name: string) =>
  (await api({ port } as Parameters<typeof api>[0], `/api/queues/%2F/${name}`)).body as { messages_ready: number; messages_delayed: number };

describe('delays - through the broker process', () => {
  it('delays - a nacked message waits its retry delay, then comes back redelivered with x-delivery-count', async () => {
    const broker = await startBroker();
    try {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'retry', arguments: { 'x-retry-delays': [300] } });
      await client.request({ op: 'publish', exchange: '', routingKey: 'retry', payload: 'job' });
      const consumed = await client.request({ op: 'consume', queue: 'retry', prefetch: 1 });
      const deliveries = () => client.frames.filter((frame) => frame.op === 'deliver' && frame.consumerTag === consumed.consumerTag);
      await until(() => deliveries().length === 1, 'the first delivery');
      client.send({ op: 'nack', deliveryTag: deliveries()[0].deliveryTag, requeue: true });
      await eventually(async () => (await queueOf(broker.port, 'retry')).messages_delayed === 1, 'the message waits');
      expect((await queueOf(broker.port, 'retry')).messages_ready).toBe(0);
      await until(() => deliveries().length === 2, 'the redelivery');
      expect(deliveries()[1]).toMatchObject({ redelivered: true, payload: 'job', headers: { 'x-delivery-count': 1 } });
      client.close();
    } finally {
      await broker.stop();
    }
  });

  it('delays - a persistent x-delay message waits across a restart, then is ready; STOMP sends x-delay as a number', async () => {
    let broker = await startBroker();
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'queue.declare', queue: 'later' });
    expect(await client.request({ op: 'publish', exchange: '', routingKey: 'later', payload: 'kept', headers: { 'x-delay': 5000 }, properties: { persistent: true } })).toMatchObject({ op: 'ok' });
    const refused: Frame = await client.request({ op: 'publish', exchange: '', routingKey: 'later', payload: 'bad', headers: { 'x-delay': -5 } });
    expect(refused).toMatchObject({ op: 'error', code: 'PRECONDITION_FAILED' });
    client.close();
    expect(await broker.stop('SIGTERM')).toBe(0);
    broker = await startBroker({}, [], 0, { dataDir: broker.dataDir });
    try {
      expect(await queueOf(broker.port, 'later')).toMatchObject({ messages_ready: 0, messages_delayed: 1 });
      const stomp = await StompPeer.connect(broker.url);
      await stomp.send('/amq/queue/later', 'via stomp', { 'x-delay': '1000' });
      expect((await queueOf(broker.port, 'later')).messages_delayed).toBe(2);
      await eventually(async () => (await queueOf(broker.port, 'later')).messages_ready === 2, 'both are ready', 10_000);
      await stomp.close();
    } finally {
      await broker.stop();
    }
  });
});
