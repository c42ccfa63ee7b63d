import { describe, expect, it } from 'vitest';
import { RawClient, startBroker } from './harness.js';

describe('hardening - limits', () => {
  it('hardening - each limit is refused with RESOURCE_ERROR naming it', async () => {
    const broker = await startBroker({
      limits: { maxQueues: 2, maxExchanges: 1, maxBindings: 1, maxConsumersPerConnection: 1, maxUnackedPerConnection: 2, maxConnectionsPerAddress: 2 },
    });
    try {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'a', durable: false });
      await client.request({ op: 'queue.declare', queue: 'b', durable: false });
      const queueRefused = await client.request({ op: 'queue.declare', queue: 'c', durable: false });
      expect(queueRefused).toMatchObject({ code: 'RESOURCE_ERROR', message: expect.stringMatching(/limits\.maxQueues/) });
      await client.request({ op: 'exchange.declare', exchange: 'x1', type: 'fanout', durable: false });
      expect(await client.request({ op: 'exchange.declare', exchange: 'x2', type: 'fanout', durable: false })).toMatchObject({
        code: 'RESOURCE_ERROR',
        message: expect.stringMatching(/limits\.maxExchanges/),
      });
      await client.request({ op: 'queue.bind', queue: 'a', exchange: 'x1' });
      expect(await client.request({ op: 'queue.bind', queue: 'b', exchange: 'x1' })).toMatchObject({ message: expect.stringMatching(/limits\.maxBindings/) });
      await client.request({ op: 'consume', queue: 'a' });
      expect(await client.request({ op: 'consume', queue: 'b' })).toMatchObject({ message: expect.stringMatching(/limits\.maxConsumersPerConnection/) });
      for (let i = 0; i < 3; i++) await client.request({ op: 'publish', routingKey: 'b', payload: i });
      await client.request({ op: 'get', queue: 'b' });
      await client.request({ op: 'get', queue: 'b' });
      expect(await client.request({ op: 'get', queue: 'b' })).toMatchObject({ message: expect.stringMatching(/limits\.maxUnackedPerConnection/) });
      client.send({ op: 'ack', deliveryTag: 1 });
      expect(await client.request({ op: 'get', queue: 'b' })).toMatchObject({ op: 'ok', message: { payload: 2 } });

      const second = await RawClient.connected(broker.url);
      const third = await RawClient.open(broker.url);
      await third.waitFor((frame) => frame.code === 'RESOURCE_ERROR');
      expect(String(third.frames[0].message)).toMatch(/limits\.maxConnectionsPerAddress/);
      expect(await third.waitForClose()).toBe(1013);
      second.close();
      client.close();
    } finally {
      await broker.stop();
    }
  });

  it('hardening - the unacked limit pauses pushes until acks free room', async () => {
    const broker = await startBroker({ limits: { maxUnackedPerConnection: 3 } });
    try {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'q', durable: false });
      await client.request({ op: 'consume', queue: 'q' });
      for (let i = 0; i < 5; i++) await client.request({ op: 'publish', routingKey: 'q', payload: i });
      const deliveries = () => client.frames.filter((frame) => frame.op === 'deliver');
      expect(deliveries().map((frame) => frame.payload)).toEqual([0, 1, 2]);
      client.send({ op: 'ack', deliveryTag: 3, multiple: true });
      await client.waitFor(() => deliveries().length === 5);
      expect(deliveries().map((frame) => frame.payload)).toEqual([0, 1, 2, 3, 4]);
      client.close();
    } finally {
      await broker.stop();
    }
  });
});

describe('hardening - stuck and slow consumers', () => {
  it('hardening - a consumer past its acknowledgement timeout is cancelled with the reason and its messages requeued', async () => {
    const broker = await startBroker();
    try {
      const client = await RawClient.connected(broker.url);
      await client.request({ op: 'queue.declare', queue: 'slow', durable: false, arguments: { 'x-consumer-timeout': 200 } });
      const { consumerTag } = await client.request({ op: 'consume', queue: 'slow' });
      await client.request({ op: 'publish', routingKey: 'slow', payload: 'stuck' });
      const cancelled = await client.waitFor((frame) => frame.op === 'cancelled');
      expect(cancelled).toMatchObject({ consumerTag, reason: expect.stringMatching(/acknowledgement timed out after 200 ms/) });
      client.send({ op: 'ack', deliveryTag: 1 });
      await client.waitFor((frame) => frame.code === 'PRECONDITION_FAILED');
      const got = await client.request({ op: 'get', queue: 'slow', noAck: true });
      expect(got.message).toMatchObject({ payload: 'stuck', redelivered: true });
      expect(await client.request({ op: 'consume', queue: 'slow', arguments: { 'x-consumer-timeout': 'soon' } })).toMatchObject({
        code: 'PRECONDITION_FAILED',
      });
      client.close();
    } finally {
      await broker.stop();
    }
  });

  it('hardening - a socket that never drains is closed and its deliveries requeued', async () => {
    const broker = await startBroker({ server: { highWaterBytes: 64 * 1024, drainTimeoutMs: 300 } });
    try {
      const stuck = await RawClient.connected(broker.url);
      await stuck.request({ op: 'queue.declare', queue: 'big', durable: false });
      await stuck.request({ op: 'consume', queue: 'big', prefetch: 1000 });
      stuck.socket.pause();
      const producer = await RawClient.connected(broker.url);
      const payload = 'z'.repeat(64 * 1024);
      for (let i = 0; i < 300; i++) producer.send({ op: 'publish', routingKey: 'big', payload });
      await producer.request({ op: 'queue.declare', queue: 'big', passive: true });
      const deadline = Date.now() + 5000;
      let state = await producer.request({ op: 'queue.declare', queue: 'big', passive: true });
      while (state.consumerCount !== 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        state = await producer.request({ op: 'queue.declare', queue: 'big', passive: true });
      }
      expect(state).toMatchObject({ consumerCount: 0, messageCount: 300 });
      producer.close();
    } finally {
      await broker.stop();
    }
  });
  it('hardening - a backed-up consumer that disconnects returns only what was pushed to it', async () => {
    const broker = await startBroker();
    try {
      const stuck = await RawClient.connected(broker.url);
      await stuck.request({ op: 'queue.declare', queue: 'limited', durable: false, arguments: { 'x-delivery-limit': 0 } });
      await stuck.request({ op: 'consume', queue: 'limited' });
      stuck.socket.pause();
      const producer = await RawClient.connected(broker.url);
      const total = 3000;
      const payload = 'w'.repeat(8 * 1024);
      for (let i = 0; i < total; i++) producer.send({ op: 'publish', routingKey: 'limited', payload });
      const before = await producer.request({ op: 'queue.declare', queue: 'limited', passive: true });
      const pushed = total - (before.messageCount as number);
      stuck.socket.terminate();
      let after = before;
      for (let i = 0; i < 50 && after.consumerCount !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await producer.request({ op: 'queue.declare', queue: 'limited', passive: true });
      }
      // The pushed ones were delivered once and hit x-delivery-limit 0; the rest were never sent and stay.
      expect(after).toMatchObject({ consumerCount: 0, messageCount: total - pushed });
      producer.close();
    } finally {
      await broker.stop();
    }
  });
});

describe('hardening - flow control', () => {
  it('hardening - under a disk alarm publishers are blocked and not read while consumers keep draining', async () => {
    const broker = await startBroker({ flow: { diskFreeLimitBytes: Number.MAX_SAFE_INTEGER, checkIntervalMs: 50 } });
    try {
      const consumer = await RawClient.connected(broker.url);
      await consumer.request({ op: 'queue.declare', queue: 'flow', durable: false });
      await consumer.request({ op: 'consume', queue: 'flow' });
      const producer = await RawClient.connected(broker.url);
      producer.send({ op: 'publish', id: 2, routingKey: 'flow', payload: 'first' });
      const blocked = await producer.waitFor((frame) => frame.op === 'blocked');
      expect(blocked.reason).toMatch(/^disk: .* below flow\.diskFreeLimitBytes/);
      expect(producer.frames.find((frame) => frame.id === 2)).toMatchObject({ op: 'ok' });
      producer.send({ op: 'publish', id: 3, routingKey: 'flow', payload: 'second' });
      await consumer.waitFor((frame) => frame.op === 'deliver' && frame.payload === 'first');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(producer.frames.find((frame) => frame.id === 3)).toBeUndefined();
      expect(consumer.frames.some((frame) => frame.op === 'blocked')).toBe(false);
      producer.close();
      consumer.close();
    } finally {
      await broker.stop();
    }
  });
});
