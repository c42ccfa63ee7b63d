import { describe, expect, it } from 'vitest';
import { consumeOptions, exchangeOptions, queueOptions, setup } from './helpers.js';

describe('broker - smoke', () => {
  it('broker - routes a topic publish to a consumer and acks it', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareExchange('notifications', 'topic', exchangeOptions(), false);
    broker.declareQueue(null, 'email', queueOptions(), false);
    broker.bindQueue(null, 'email', 'notifications', '*.*.email', {});
    const { connection, sink } = connect();
    connection.consume('email', consumeOptions({ prefetch: 1 }));
    publish('notifications', 'user.42.email', { text: 'hi' });
    publish('notifications', 'user.43.email', { text: 'second' });
    publish('notifications', 'user.42.sms', { text: 'no' });
    expect(sink.payloads()).toEqual([{ text: 'hi' }]);
    connection.ack(sink.deliveries[0].deliveryTag, false);
    expect(sink.payloads()).toEqual([{ text: 'hi' }, { text: 'second' }]);
    connection.nack(sink.deliveries[1].deliveryTag, false, true);
    expect(sink.deliveries[2].entry.returns).toBe(1);
    expect(broker.getQueue('email')?.messageCount).toBe(0);
  });
});
