import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/index.js';
import { MessageStats } from '../../src/http/message-stats.js';
import { MemoryStore } from '../../src/store/index.js';

describe('message stats - counts and rates', () => {
  it('message stats - a rate is the change over the last whole interval, per second, summed over vhosts', async () => {
    const [a, b] = [await Broker.open(new MemoryStore()), await Broker.open(new MemoryStore())];
    let now = 0;
    const stats = new MessageStats(() => [a, b], 60_000, () => now);
    try {
      a.counters.published = 50;
      b.counters.published = 25;
      a.counters.delivered = 10;
      b.counters.got = 5;
      // Between samples the counts move but the rates keep the last interval's.
      expect(stats.of([a, b])).toMatchObject({ publish: 75, publish_details: { rate: 0 }, deliver_get: 15 });
      now = 5000;
      stats.sample();
      expect(stats.of([a, b])).toMatchObject({ publish: 75, publish_details: { rate: 15 }, deliver_get_details: { rate: 3 } });
      expect(stats.of([b])).toMatchObject({ publish: 25, publish_details: { rate: 5 } });
      now = 10_000;
      stats.sample();
      expect(stats.of([a, b])).toMatchObject({ publish_details: { rate: 0 } });
    } finally {
      stats.close();
    }
  });
});

describe('message stats - queues', () => {
  it('message stats - a queue idle until now gets its rate from the first sample after it woke, and none before anything happened', async () => {
    const broker = await Broker.open(new MemoryStore());
    broker.declareQueue(null, 'q', { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false);
    const queue = broker.getQueue('q')!;
    let now = 0;
    const stats = new MessageStats(() => [broker, queue], 60_000, () => now);
    try {
      expect(stats.ofQueue(queue)).toBeUndefined();
      now = 5000;
      stats.sample();
      broker.publish('', { exchange: '', routingKey: 'q', headers: {}, properties: {}, payload: '1', size: 1 });
      expect(stats.ofQueue(queue)).toMatchObject({ publish: 1, publish_details: { rate: 0 }, dead_letter_dropped: 0 });
      expect(stats.ofQueue(queue)).not.toHaveProperty('drop_unroutable');
      now = 10_000;
      stats.sample();
      expect(stats.ofQueue(queue)).toMatchObject({ publish: 1, publish_details: { rate: 0.2 } });
      expect(stats.of([broker])).toMatchObject({ publish: 1, publish_details: { rate: 0.2 }, drop_unroutable: 0 });
    } finally {
      stats.close();
    }
  });
});
