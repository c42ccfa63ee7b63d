import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Connection, type Broker } from '../../src/broker/index.js';
import { consumeOptions, exchangeOptions, queueOptions, RecordingSink, setup } from './helpers.js';

// The counts the management API reads (Broker.totals, Queue.unacknowledgedCount) are kept as
// things change, never scanned; these tests check them against what they count.

const QUEUES = ['a', 'b', 'c'] as const;
type QueueName = (typeof QUEUES)[number];

type Operation =
  | { kind: 'publish'; queue: QueueName; count: number }
  | { kind: 'fanout'; count: number }
  | { kind: 'consume'; conn: number; queue: QueueName; prefetch: number }
  | { kind: 'cancel'; conn: number; pick: number }
  | { kind: 'get'; conn: number; queue: QueueName; noAck: boolean }
  | { kind: 'ack'; conn: number; pick: number; multiple: boolean }
  | { kind: 'nack'; conn: number; pick: number; requeue: boolean }
  | { kind: 'purge'; queue: QueueName }
  | { kind: 'delete'; queue: QueueName }
  | { kind: 'close'; conn: number }
  | { kind: 'advance'; ms: number };

const queue = fc.constantFrom(...QUEUES);
const conn = fc.integer({ min: 0, max: 2 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('publish' as const), queue, count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fanout' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('consume' as const), conn, queue, prefetch: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), conn, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), conn, queue, noAck: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ack' as const), conn, pick: fc.nat(), multiple: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nack' as const), conn, pick: fc.nat(), requeue: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), queue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), queue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), conn }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }) },
);

/** Queue "a" dead-letters to "b"; "b" drops its head past 4 messages; "c" expires messages after 300 ms into "a". */
function declare(broker: Broker, name: QueueName): void {
  const args: Record<QueueName, Record<string, unknown>> = {
    a: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'b' },
    b: { 'x-max-length': 4 },
    c: { 'x-message-ttl': 300, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'a' },
  };
  broker.declareQueue(null, name, queueOptions({ arguments: args[name] }), false);
  broker.bindQueue(null, name, 'fan', '', {});
}

describe('broker - totals', () => {
  it('broker - totals and per-queue unacknowledged counts match what they count, whatever happens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 80 }), async (operations) => {
        const { broker, clock, publish } = await setup();
        broker.declareExchange('fan', 'fanout', exchangeOptions(), false);
        for (const name of QUEUES) declare(broker, name);
        // The queue object each outstanding delivery came from: a deleted and redeclared queue is another one.
        type Outstanding = { queue: unknown; consumerTag: string | undefined };
        const peers = [0, 1, 2].map((i) => open(i));
        function open(i: number) {
          const sink = new RecordingSink();
          const peer = { connection: new Connection(`c${i}`, broker, sink), sink, seen: 0, outstanding: new Map<number, Outstanding>(), consumerQueues: new Map<string, unknown>() };
          return peer;
        }
        /** Deliveries pushed since the last look become outstanding (consumers here always ack). */
        const collect = () => {
          for (const peer of peers) {
            for (; peer.seen < peer.sink.deliveries.length; peer.seen++) {
              const { consumerTag, deliveryTag } = peer.sink.deliveries[peer.seen];
              peer.outstanding.set(deliveryTag, { queue: peer.consumerQueues.get(consumerTag), consumerTag });
            }
          }
        };
        const pickTag = (peer: (typeof peers)[number], pick: number): number | undefined => {
          const tags = [...peer.outstanding.keys()];
          return tags.length === 0 ? undefined : tags[pick % tags.length];
        };
        for (const op of operations) {
          collect();
          switch (op.kind) {
            case 'publish':
              for (let i = 0; i < op.count; i++) publish('', op.queue, i);
              break;
            case 'fanout':
              for (let i = 0; i < op.count; i++) publish('fan', '', i);
              break;
            case 'consume': {
              const peer = peers[op.conn];
              if (!broker.getQueue(op.queue)) break;
              const tag = peer.connection.consume(op.queue, consumeOptions({ prefetch: op.prefetch }));
              peer.consumerQueues.set(tag, broker.getQueue(op.queue));
              break;
            }
            case 'cancel': {
              const peer = peers[op.conn];
              const tags = [...peer.connection.consumers.keys()];
              if (tags.length === 0) break;
              const tag = tags[op.pick % tags.length];
              for (const [deliveryTag, item] of peer.outstanding) if (item.consumerTag === tag) peer.outstanding.delete(deliveryTag);
              peer.connection.cancel(tag);
              break;
            }
            case 'get': {
              const peer = peers[op.conn];
              const current = broker.getQueue(op.queue);
              if (!current) break;
              const { delivery } = peer.connection.get(op.queue, op.noAck);
              if (delivery && !op.noAck) peer.outstanding.set(delivery.deliveryTag, { queue: current, consumerTag: undefined });
              break;
            }
            case 'ack':
            case 'nack': {
              const peer = peers[op.conn];
              const tag = pickTag(peer, op.pick);
              if (tag === undefined) break;
              const multiple = op.kind === 'ack' && op.multiple;
              for (const deliveryTag of [...peer.outstanding.keys()]) if (deliveryTag === tag || (multiple && deliveryTag < tag)) peer.outstanding.delete(deliveryTag);
              if (op.kind === 'ack') peer.connection.ack(tag, multiple);
              else peer.connection.nack(tag, false, op.requeue);
              break;
            }
            case 'purge':
              if (broker.getQueue(op.queue)) broker.purgeQueue(null, op.queue);
              break;
            case 'delete':
              broker.deleteQueue(null, op.queue, false, false);
              declare(broker, op.queue);
              break;
            case 'close':
              peers[op.conn].connection.close();
              peers[op.conn] = open(op.conn);
              break;
            case 'advance':
              clock.advance(op.ms);
              break;
          }
          collect();
          const queues = [...broker.allQueues()];
          const sum = (count: (q: (typeof queues)[number]) => number) => queues.reduce((total, q) => total + count(q), 0);
          for (const q of queues) {
            const expected = peers.reduce((total, peer) => total + [...peer.outstanding.values()].filter((item) => item.queue === q).length, 0);
            expect(q.unacknowledgedCount).toBe(expected);
          }
          expect(broker.totals).toEqual({
            messagesReady: sum((q) => q.messageCount),
            messagesUnacknowledged: sum((q) => q.unacknowledgedCount),
            consumers: sum((q) => q.consumers.length),
            connections: 3,
          });
        }
      }),
      { numRuns: 200 },
    );
  });

  it('broker - a connection counts itself once, and a deleted queue takes its counts with it', async () => {
    const { broker, connect, publish } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    const { connection } = connect();
    for (let i = 0; i < 5; i++) publish('', 'q', i);
    connection.consume('q', consumeOptions({ prefetch: 2 }));
    connection.get('q', false);
    expect(broker.totals).toEqual({ messagesReady: 2, messagesUnacknowledged: 3, consumers: 1, connections: 1 });
    expect(broker.getQueue('q')?.unacknowledgedCount).toBe(3);
    broker.deleteQueue(null, 'q', false, false);
    expect(broker.totals).toEqual({ messagesReady: 0, messagesUnacknowledged: 0, consumers: 0, connections: 1 });
    // Acking deliveries of the deleted queue changes nothing.
    connection.ack(3, true);
    expect(broker.totals.messagesUnacknowledged).toBe(0);
    connection.close();
    connection.close();
    expect(broker.totals.connections).toBe(0);
  });

  it('broker - management lists: every queue and exchange, the built-in ones included', async () => {
    const { broker } = await setup();
    broker.declareQueue(null, 'q', queueOptions(), false);
    broker.declareExchange('x', 'topic', exchangeOptions({ durable: false }), false);
    expect([...broker.allQueues()].map((q) => q.name)).toEqual(['q']);
    expect([...broker.allExchanges()].map((x) => x.name).sort()).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.topic', 'x']);
    expect(broker.queueCount).toBe(1);
    expect(broker.exchangeCount).toBe(6);
    expect(broker.getExchange('x')).toMatchObject({ name: 'x', type: 'topic', options: { durable: false } });
    expect(broker.getExchange('nope')).toBeUndefined();
  });
});
