import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, RawClient, startBroker, type RunningBroker } from './harness.js';

// docs/management.md's lists at scale, through the real process: 10,000 queues (from the config's
// definitions, the fastest way to declare them) listed whole, sorted, with their counts. Speed is
// measured by scripts/bench-management.mjs, not here: no timing is asserted.

const COUNT = 10_000;

/** q-0 … q-9999 in a fixed shuffled order, so that the list's order is the broker's sort, not the declaration order. */
function shuffledNames(): string[] {
  const names = Array.from({ length: COUNT }, (_, i) => `q-${i}`);
  let seed = 42;
  for (let i = names.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    const j = seed % (i + 1);
    [names[i], names[j]] = [names[j], names[i]];
  }
  return names;
}

interface QueueEntry {
  name: string;
  vhost: string;
  durable: boolean;
  messages: number;
  messages_ready: number;
  messages_unacknowledged: number;
  consumers: number;
}

describe('management - lists at scale', () => {
  const names = shuffledNames();
  // Code unit order, as the API sorts (q-0, q-1, q-10, q-100, ...).
  const sorted = [...names].sort();
  let broker: RunningBroker;
  let client: RawClient;

  beforeAll(async () => {
    broker = await startBroker({
      definitions: {
        // Every other one durable: both kinds are listed.
        queues: names.map((name, i) => ({ name, vhost: '/', durable: i % 2 === 0, auto_delete: false, arguments: {} })),
      },
    });
    // q-7 gets 1 message, q-4242 2 and q-9999 3, through the API's publish.
    for (const [queue, count] of [
      ['q-7', 1],
      ['q-4242', 2],
      ['q-9999', 3],
    ] as const) {
      for (let m = 0; m < count; m++) {
        const answer = await api(broker, '/api/exchanges/%2F/amq.default/publish', {
          method: 'POST',
          body: { routing_key: queue, payload: `m${m}`, payload_encoding: 'string', properties: {} },
        });
        expect(answer).toMatchObject({ status: 200, body: { routed: true } });
      }
    }
    // One of q-9999's taken with a get and not acknowledged; q-4242 gets a consumer with prefetch 1.
    client = await RawClient.connected(broker.url);
    expect(await client.request({ op: 'get', queue: 'q-9999' })).toMatchObject({ op: 'ok', messageCount: 2 });
    expect(await client.request({ op: 'consume', queue: 'q-4242', prefetch: 1 })).toMatchObject({ op: 'ok' });
    await client.waitFor((frame) => frame.op === 'deliver');
  });

  afterAll(async () => {
    client?.close();
    await broker?.stop();
  });

  it('management - GET /api/queues/%2F lists all 10,000 queues, sorted by name, with their counts', async () => {
    const answer = await api(broker, '/api/queues/%2F');
    expect(answer.status).toBe(200);
    const queues = answer.body as QueueEntry[];
    expect(queues).toHaveLength(COUNT);
    expect(queues.map((queue) => queue.name)).toEqual(sorted);
    expect(queues.slice(0, 4).map((queue) => queue.name)).toEqual(['q-0', 'q-1', 'q-10', 'q-100']);

    const byName = new Map(queues.map((queue) => [queue.name, queue]));
    const counts = (name: string) => {
      const { messages, messages_ready, messages_unacknowledged, consumers } = byName.get(name)!;
      return { messages, messages_ready, messages_unacknowledged, consumers };
    };
    expect(counts('q-7')).toEqual({ messages: 1, messages_ready: 1, messages_unacknowledged: 0, consumers: 0 });
    expect(counts('q-4242')).toEqual({ messages: 2, messages_ready: 1, messages_unacknowledged: 1, consumers: 1 });
    expect(counts('q-9999')).toEqual({ messages: 3, messages_ready: 2, messages_unacknowledged: 1, consumers: 0 });
    const busy = new Set(['q-7', 'q-4242', 'q-9999']);
    expect(queues.filter((queue) => !busy.has(queue.name) && (queue.messages !== 0 || queue.consumers !== 0))).toEqual([]);
    expect(queues.every((queue) => queue.vhost === '/')).toBe(true);
    expect(byName.get(names[0])!.durable).toBe(true);
    expect(byName.get(names[1])!.durable).toBe(false);
  });

  it('management - GET /api/queues and the overview count the same 10,000', async () => {
    const all = await api(broker, '/api/queues');
    expect(all.status).toBe(200);
    expect((all.body as QueueEntry[]).map((queue) => queue.name)).toEqual(sorted);

    const overview = await api(broker, '/api/overview');
    expect(overview).toMatchObject({
      status: 200,
      body: { object_totals: { queues: COUNT }, queue_totals: { messages: 6, messages_ready: 4, messages_unacknowledged: 2 } },
    });
  });
});
