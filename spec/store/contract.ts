import { describe, expect, it } from 'vitest';
import type { Message, MessageStore, RecoveredState, StoredBinding, StoredExchange, StoredQueue, StreamLog } from '../../src/broker/index.js';

/** How the contract opens a driver's store, and finds it again as a restarted broker would. */
export interface StoreFactory {
  /** A new, empty store. */
  open(): Promise<MessageStore>;
  /** The same durable state as a restarted broker finds it (a disk store: closed, then opened again). */
  reopen(store: MessageStore): Promise<MessageStore>;
}

export const exchange = (name: string, type: StoredExchange['type'] = 'topic'): StoredExchange => ({
  name,
  type,
  options: { durable: true, autoDelete: false, internal: false, arguments: { 'alternate-exchange': 'ae' } },
});

export const queue = (name: string, args: Record<string, unknown> = {}): StoredQueue => ({
  name,
  options: { durable: true, exclusive: false, autoDelete: false, arguments: args },
});

/** A stream queue as the broker stores it: durable, `x-queue-type` "stream". */
export const streamQueue = (name: string, args: Record<string, unknown> = {}): StoredQueue => queue(name, { 'x-queue-type': 'stream', ...args });

export const binding = (source: string, destination: string, routingKey = '#', args: Record<string, unknown> = {}): StoredBinding => ({
  source,
  destination,
  destinationType: 'queue',
  routingKey,
  arguments: args,
});

export const message = (payload: unknown, extra: Partial<Message> = {}): Message => {
  const text = JSON.stringify(payload);
  return { exchange: 'orders', routingKey: 'order.created', payload: text, size: Buffer.byteLength(text), headers: {}, properties: { persistent: true }, ...extra };
};

/** The (queue, seq, payload) of each recovered message, in the order given. */
const summary = (state: RecoveredState) => state.messages.map(({ queue, seq, message }) => [queue, seq, JSON.parse(message.payload) as unknown]);

/** Offset, timestamp and payload of each entry. */
const entries = (log: StreamLog, from = 0) => log.read(from, 10_000, Infinity).map(({ offset, timestamp, message }) => [offset, timestamp, JSON.parse(message.payload) as unknown]);

/** Reopens and recovers, closing what the test opened on the way. */
async function restart(factory: StoreFactory, store: MessageStore): Promise<{ store: MessageStore; state: RecoveredState }> {
  const reopened = await factory.reopen(store);
  return { store: reopened, state: await reopened.recover() };
}

/**
 * The MessageStore contract (src/broker/store-port.ts): every driver runs it. `makeFactory` is
 * called per test; the factory's stores are closed by the tests.
 */
/**
 * The parts of the contract a driver keeps: a shared store (a cluster's, docs/clustering.md) keeps
 * messages through its shared queues and has no stream logs yet, so it skips those parts (the
 * cluster's end-to-end tests cover its messages).
 */
export interface ContractParts {
  messages?: boolean;
  streams?: boolean;
}

export function storeContract(driver: string, makeFactory: () => StoreFactory, parts: ContractParts = {}): void {
  const messagesIt = parts.messages === false ? it.skip : it;
  const streamsIt = parts.streams === false ? it.skip : it;
  describe(`store contract - ${driver}`, () => {
    it('store - a new store recovers nothing and sync resolves', async () => {
      const factory = makeFactory();
      const store = await factory.open();
      expect(await store.recover()).toEqual({ exchanges: [], queues: [], bindings: [], policies: [], messages: [] });
      await expect(store.sync()).resolves.toBeUndefined();
      await store.close();
    });

    it('store - topology puts and deletes come back as last written', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putExchange(exchange('orders'));
      opened.putExchange(exchange('gone', 'fanout'));
      opened.putQueue(queue('billing', { 'x-message-ttl': 5000 }));
      opened.putQueue(queue('audit'));
      opened.putBinding(binding('orders', 'billing', 'order.*', { 'x-match': 'any', n: [1, 2] }));
      opened.putBinding(binding('orders', 'audit'));
      opened.putBinding(binding('gone', 'audit'));
      opened.deleteBinding(binding('gone', 'audit'));
      opened.deleteExchange('gone');
      opened.putQueue(queue('temp'));
      opened.deleteQueue('temp');
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(state.exchanges).toEqual([exchange('orders')]);
      expect(state.queues.map((stored) => stored.name).sort()).toEqual(['audit', 'billing']);
      expect(state.queues.find((stored) => stored.name === 'billing')).toEqual(queue('billing', { 'x-message-ttl': 5000 }));
      expect(state.bindings).toHaveLength(2);
      expect(state.bindings).toContainEqual(binding('orders', 'billing', 'order.*', { 'x-match': 'any', n: [1, 2] }));
      expect(state.messages).toEqual([]);
      await store.close();
    });

    it('store - policies come back as last written, replaced by name, deleted', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      const policy = (name: string, priority: number) => ({ name, pattern: '^orders\\.', applyTo: 'queues' as const, priority, definition: { 'max-length': 10, 'ha-mode': 'all' } });
      opened.putPolicy(policy('limits', 1));
      opened.putPolicy(policy('limits', 7));
      opened.putPolicy(policy('gone', 0));
      opened.deletePolicy('gone');
      opened.deletePolicy('never-set');
      await opened.sync();
      const first = await restart(factory, opened);
      expect(first.state.policies).toEqual([policy('limits', 7)]);
      // Kept across a second restart too, where the journal starts over from its checkpoint.
      first.store.putPolicy(policy('more', 2));
      await first.store.sync();
      const { store, state } = await restart(factory, first.store);
      expect(state.policies.map((stored) => stored.name).sort()).toEqual(['limits', 'more']);
      await store.close();
    });

    messagesIt('store - recovery returns exactly the live messages, in seq order, with every field but the encoded cache', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(queue('a'));
      opened.putQueue(queue('b'));
      const shared = message({ text: 'fan-out' }, { headers: { 'x-death': [{ queue: 'q', count: 1 }] }, properties: { persistent: true, priority: 3, messageId: 'm-1' } });
      opened.putMessage('a', 1, shared, null);
      opened.putMessage('b', 1, shared, null);
      opened.putMessage('b', 2, message('é ünïcode ✓'), null);
      opened.putMessage('a', 3, { ...message(3), encoded: '{"cached":true}' }, null);
      opened.putMessage('a', 4, message(4), null);
      opened.removeMessage('a', 3);
      opened.removeMessage('b', 1);
      opened.putMessage('b', 5, message(5), null);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(summary(state)).toEqual([
        ['a', 1, { text: 'fan-out' }],
        ['b', 2, 'é ünïcode ✓'],
        ['a', 4, 4],
        ['b', 5, 5],
      ]);
      expect(state.messages[0].message).toEqual(shared);
      expect(state.messages[1].message.size).toBe(Buffer.byteLength(JSON.stringify('é ünïcode ✓')));
      for (const { message: recovered } of state.messages) expect(recovered.encoded).toBeUndefined();
      await store.close();
    });

    messagesIt('store - expiresAt is kept per queue, null or a time', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(queue('ttl', { 'x-message-ttl': 60_000 }));
      opened.putQueue(queue('plain'));
      const shared = message('x');
      opened.putMessage('ttl', 7, shared, 1_700_000_060_000);
      opened.putMessage('plain', 7, shared, null);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(state.messages.map(({ queue, expiresAt }) => [queue, expiresAt]).sort()).toEqual([
        ['plain', null],
        ['ttl', 1_700_000_060_000],
      ]);
      await store.close();
    });

    messagesIt('store - a delayed message keeps the time it becomes ready; others have none', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(queue('later'));
      opened.putMessage('later', 1, message('delayed', { readyAt: 1_700_000_005_000 }), null);
      opened.putMessage('later', 2, message('now'), null);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(state.messages.map(({ seq, message }) => [seq, message.readyAt])).toEqual([
        [1, 1_700_000_005_000],
        [2, undefined],
      ]);
      expect(state.messages[1].message).not.toHaveProperty('readyAt');
      await store.close();
    });

    messagesIt('store - deleting a queue forgets its messages, also when it is declared again', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(queue('q'));
      opened.putQueue(queue('other'));
      opened.putMessage('q', 1, message(1), null);
      opened.putMessage('other', 2, message(2), null);
      opened.deleteQueue('q');
      opened.putQueue(queue('q'));
      opened.putMessage('q', 3, message(3), null);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(summary(state)).toEqual([
        ['other', 2, 2],
        ['q', 3, 3],
      ]);
      await store.close();
    });

    messagesIt('store - a message for a queue the store does not hold is not kept; a remove of an unknown one is harmless', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(queue('q'));
      opened.putMessage('transient', 1, message(1), null);
      opened.removeMessage('q', 99);
      opened.removeMessage('nowhere', 1);
      opened.putMessage('q', 2, message(2), null);
      opened.removeMessage('q', 2);
      opened.removeMessage('q', 2);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(state.messages).toEqual([]);
      expect(state.queues.map((stored) => stored.name)).toEqual(['q']);
      await store.close();
    });

    messagesIt('store - state carries over several reopens, each adding to it', async () => {
      const factory = makeFactory();
      let store = await factory.open();
      await store.recover();
      store.putQueue(queue('q'));
      let seq = 0;
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 10; i++) store.putMessage('q', ++seq, message(seq), null);
        store.removeMessage('q', seq - 9);
        await store.sync();
        ({ store } = await restart(factory, store));
      }
      const last = await restart(factory, store);
      expect(summary(last.state).map(([, seqOf]) => seqOf)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
      await last.store.close();
    });

    messagesIt('store - every sync resolves, also with many writes each followed by one', async () => {
      const factory = makeFactory();
      const store = await factory.open();
      await store.recover();
      store.putQueue(queue('q'));
      const syncs: Promise<void>[] = [];
      for (let seq = 1; seq <= 500; seq++) {
        store.putMessage('q', seq, message(seq), null);
        syncs.push(store.sync());
      }
      await expect(Promise.all(syncs)).resolves.toHaveLength(500);
      await store.close();
    });

    streamsIt('stream - entries keep their offsets and timestamps across a reopen, committed offsets too after a clean close; appends go on from next', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(streamQueue('events', { 'x-max-age': '7D' }));
      const log = opened.openStream('events', {});
      expect([log.first, log.next]).toEqual([0, 0]);
      for (let n = 0; n < 10; n++) expect(log.append(message({ n }), 1000 + n)).toBe(n);
      log.commit('billing', 4);
      log.commit('audit', 9);
      await opened.sync();
      const { store, state } = await restart(factory, opened);
      expect(state.queues).toEqual([streamQueue('events', { 'x-max-age': '7D' })]);
      // A stream's entries are its log's, not stored messages.
      expect(state.messages).toEqual([]);
      const again = store.openStream('events', {});
      expect([again.first, again.next, again.flushedNext]).toEqual([0, 10, 10]);
      expect(entries(again)).toEqual(Array.from({ length: 10 }, (_, n) => [n, 1000 + n, { n }]));
      expect([again.committed('billing'), again.committed('audit'), again.committed('nobody')]).toEqual([4, 9, null]);
      expect(again.append(message('more'), 2000)).toBe(10);
      await store.sync();
      const last = await restart(factory, store);
      expect(entries(last.store.openStream('events', {}), 9)).toEqual([
        [9, 1009, { n: 9 }],
        [10, 2000, 'more'],
      ]);
      await last.store.close();
    });

    streamsIt('stream - openStream again gives the same log, with the options it is given from then on (after a reopen too)', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(streamQueue('s'));
      const log = opened.openStream('s', { segmentBytes: 1024 });
      expect(opened.openStream('s', { segmentBytes: 1024 })).toBe(log);
      const pad = 'x'.repeat(100);
      for (let n = 0; n < 60; n++) log.append(message({ n, pad }), 1000 + n);
      expect(log.applyRetention(5000)).toBe(0);
      expect(opened.openStream('s', { segmentBytes: 1024, maxBytes: 4096 })).toBe(log);
      expect(log.applyRetention(5000)).toBeGreaterThan(0);
      expect(log.first).toBeGreaterThan(0);
      expect(log.bytes).toBeLessThanOrEqual(4096);
      const kept = log.first;
      await opened.sync();
      const { store } = await restart(factory, opened);
      const again = store.openStream('s', { segmentBytes: 1024, maxBytes: 4096 });
      expect([again.first, again.next]).toEqual([kept, 60]);
      // A later declare (or policy) with a tighter limit applies to the recovered log.
      expect(store.openStream('s', { segmentBytes: 1024, maxBytes: 2048 })).toBe(again);
      expect(again.applyRetention(5000)).toBeGreaterThan(0);
      expect(again.bytes).toBeLessThanOrEqual(2048);
      expect(entries(again).map(([offset]) => offset)).toEqual(Array.from({ length: 60 - again.first }, (_, i) => again.first + i));
      await store.close();
    });

    streamsIt('stream - a stream deleted and declared again is a new one: empty, offsets from 0, no committed offsets', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(streamQueue('s'));
      const old = opened.openStream('s', {});
      for (let n = 0; n < 20; n++) old.append(message(`old ${n}`), n);
      old.commit('g', 7);
      await opened.sync();
      opened.deleteQueue('s');
      expect(() => old.append(message('late'), 99)).toThrow();
      opened.putQueue(streamQueue('s'));
      const fresh = opened.openStream('s', {});
      expect(fresh).not.toBe(old);
      expect([fresh.first, fresh.next, fresh.committed('g')]).toEqual([0, 0, null]);
      expect(fresh.read(0, 100, Infinity)).toEqual([]);
      expect(fresh.append(message('new'), 100)).toBe(0);
      await opened.sync();
      expect(fresh.flushedNext).toBe(1);
      const { store, state } = await restart(factory, opened);
      expect(state.queues.map((stored) => stored.name)).toEqual(['s']);
      const again = store.openStream('s', {});
      expect(entries(again)).toEqual([[0, 100, 'new']]);
      expect(again.committed('g')).toBeNull();
      await store.close();
    });

    streamsIt('stream - a deleted stream stays deleted across a reopen; declared again later it starts at 0', async () => {
      const factory = makeFactory();
      const opened = await factory.open();
      await opened.recover();
      opened.putQueue(streamQueue('gone'));
      opened.putQueue(streamQueue('never-opened'));
      const log = opened.openStream('gone', {});
      for (let n = 0; n < 5; n++) log.append(message(n), n);
      await opened.sync();
      opened.deleteQueue('gone');
      await opened.sync();
      const first = await restart(factory, opened);
      expect(first.state.queues.map((stored) => stored.name)).toEqual(['never-opened']);
      // A stream queue whose log was never opened has an empty one.
      expect(first.store.openStream('never-opened', {}).next).toBe(0);
      first.store.putQueue(streamQueue('gone'));
      const again = first.store.openStream('gone', {});
      expect([again.first, again.next]).toEqual([0, 0]);
      await first.store.close();
    });

    streamsIt('stream - sync resolves once every stream append made before it is on disk', async () => {
      const factory = makeFactory();
      const store = await factory.open();
      await store.recover();
      store.putQueue(streamQueue('a'));
      store.putQueue(streamQueue('b'));
      store.putQueue(queue('classic'));
      const a = store.openStream('a', {});
      const b = store.openStream('b', {});
      for (let round = 0; round < 5; round++) {
        for (let n = 0; n < 100; n++) a.append(message(n), n);
        b.append(message(round), round);
        store.putMessage('classic', round + 1, message(round), null);
        await store.sync();
        expect([a.flushedNext, b.flushedNext]).toEqual([a.next, b.next]);
      }
      await store.close();
    });
  });
}
