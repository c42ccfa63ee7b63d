import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Broker, Connection } from '../../src/broker/index.js';
import { consumeOptions, message, queueOptions, RecordingSink, setup } from './helpers.js';

// docs/protocol.md, "Stream queues", consumer groups: for any interleaving of publishes, acks
// (in any order), nacks, disconnects and broker restarts, every consumer of a group reads in order
// without gaps from where it started, and the group handles (acks, or nacks, which on a stream
// change nothing) every offset after its first commit.

type Operation =
  | { kind: 'publish'; count: number }
  | { kind: 'join'; prefetch: number }
  | { kind: 'ack'; member: number; pick: number }
  | { kind: 'nack'; member: number; pick: number }
  | { kind: 'leave'; member: number }
  | { kind: 'restart' };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), count: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const), prefetch: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('ack' as const), member: fc.nat(), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nack' as const), member: fc.nat(), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), member: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);

interface Member {
  connection: Connection;
  sink: RecordingSink;
  /** Offsets this member was delivered, in order. */
  offsets: number[];
}

describe('streams - consumer groups (property)', () => {
  it('streams - every member reads consecutively from where it starts, and the group handles every offset after its first commit at least once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 60 }), async (operations) => {
        const { store, clock } = await setup();
        let broker = await Broker.open(store, clock);
        broker.declareQueue(null, 's', queueOptions({ arguments: { 'x-queue-type': 'stream' } }), false);
        let members: Member[] = [];
        const finished: Member[] = [];
        let published = 0;
        let ids = 0;
        const join = (prefetch: number) => {
          const sink = new RecordingSink();
          const connection = new Connection(`m${++ids}`, broker, sink);
          connection.consume('s', consumeOptions({ prefetch, arguments: { 'x-stream-consumer': 'g' } }));
          members.push({ connection, sink, offsets: [] });
        };
        const collect = (member: Member) => {
          for (const delivery of member.sink.deliveries.slice(member.offsets.length)) member.offsets.push(delivery.entry.message.headers['x-stream-offset'] as number);
        };
        const outstanding = (member: Member) => member.sink.deliveries.filter((delivery) => !settled.has(delivery));
        const settled = new Set<unknown>();
        /** Offsets some member acked: what the group processed. */
        const processed = new Set<number>();
        const offsetOf = (delivery: { entry: { message: { headers: Record<string, unknown> } } }) => delivery.entry.message.headers['x-stream-offset'] as number;
        /** The group's committed offset when it first had one. */
        let firstCommit: number | null = null;
        for (const op of operations) {
          members.forEach(collect);
          firstCommit ??= broker.streamFor(null, 's').committed('g');
          const member = members.length === 0 ? undefined : members[((op as { member?: number }).member ?? 0) % members.length];
          switch (op.kind) {
            case 'publish':
              for (let i = 0; i < op.count; i++) broker.publish('', message(published++, { routingKey: 's' }));
              break;
            case 'join':
              join(op.prefetch);
              break;
            case 'ack':
            case 'nack': {
              const open = member ? outstanding(member) : [];
              if (!member || open.length === 0) break;
              const delivery = open[op.pick % open.length];
              settled.add(delivery);
              if (op.kind === 'ack') member.connection.ack(delivery.deliveryTag, false);
              else member.connection.nack(delivery.deliveryTag, false, true);
              // A nack on a stream changes nothing but is the consumer's decision on that entry: handled.
              processed.add(offsetOf(delivery));
              break;
            }
            case 'leave':
              if (!member) break;
              member.connection.close();
              finished.push(member);
              members = members.filter((other) => other !== member);
              break;
            case 'restart':
              for (const one of members) finished.push(one);
              members = [];
              broker.shutdown();
              broker = await Broker.open(store, clock);
              break;
          }
        }
        // Drain: the members there are (or a new one) ack everything until nothing more comes, so
        // that what the group misses is what a takeover or a restart skipped.
        if (members.length === 0) join(1000);
        for (let round = 0; round < 200; round++) {
          members.forEach(collect);
          const open = members.flatMap((one) => outstanding(one).map((delivery) => ({ one, delivery })));
          if (open.length === 0) break;
          for (const { one, delivery } of open) {
            settled.add(delivery);
            one.connection.ack(delivery.deliveryTag, false);
            processed.add(offsetOf(delivery));
          }
        }
        members.forEach(collect);
        const everyone = [...finished, ...members];
        for (const one of everyone) {
          // In order, without gaps, from wherever the member started.
          expect(one.offsets).toEqual(one.offsets.map((_, i) => one.offsets[0] + i));
        }
        firstCommit ??= broker.streamFor(null, 's').committed('g');
        if (firstCommit !== null) for (let offset = firstCommit + 1; offset < published; offset++) expect(processed.has(offset), `offset ${offset} of ${published}`).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
