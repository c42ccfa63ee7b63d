import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, RawClient, runCli, spawnCli, startBroker, type RunningBroker } from './harness.js';

// `warren stream read` (docs/admin-cli.md, "stream read") against the built CLI and a real broker.

const STREAM = { 'x-queue-type': 'stream' };

interface Line {
  offset: number;
  exchange: string;
  routingKey: string;
  payload: unknown;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}

const lines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
const offsets = (stdout: string) => lines(stdout).map((line) => line.offset);

describe('stream read - the CLI reads stream queues over the WebSocket protocol', () => {
  let broker: RunningBroker;
  let client: RawClient;
  const read = (...args: string[]) => runCli(['stream', 'read', ...args, '--url', broker.url]);
  const declare = async (queue: string, entries: number) => {
    expect(await client.request({ op: 'queue.declare', queue, arguments: STREAM })).toMatchObject({ op: 'ok' });
    for (let n = 0; n < entries; n++) expect(await client.request({ op: 'publish', exchange: '', routingKey: queue, payload: { n } })).toMatchObject({ op: 'ok' });
  };
  const committed = async (queue: string, group: string) => (await client.request({ op: 'committed', queue, consumer: group })).offset;

  beforeAll(async () => {
    broker = await startBroker();
    client = await RawClient.connected(broker.url);
    await declare('events', 5);
  });
  afterAll(async () => {
    client.close();
    await broker.stop();
  });

  it('stream read - from the first entry to the end at start, each a JSON line with its offset, and exits 0', async () => {
    const result = await read('events');
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(lines(result.stdout)).toEqual(
      [0, 1, 2, 3, 4].map((n) => ({ offset: n, exchange: '', routingKey: 'events', payload: { n }, headers: { 'x-stream-offset': n }, properties: {} })),
    );
    // A plain read commits nothing and leaves no consumer behind.
    expect(await api(broker, '/api/queues/%2F/events')).toMatchObject({ body: { consumers: 0, stream: { groups: [] } } });
  });

  it('stream read - --from an offset, last, next and a time', async () => {
    expect(offsets((await read('events', '--from', '3')).stdout)).toEqual([3, 4]);
    expect(offsets((await read('events', '--from', 'last')).stdout)).toEqual([4]);
    // At the end already: nothing to print.
    expect(await read('events', '--from', 'next')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await read('events', '--from', '99')).toEqual({ code: 0, stdout: '', stderr: '' });
    // A time: the first entry appended at or after it.
    await declare('timed', 2);
    await new Promise((wait) => setTimeout(wait, 30));
    const since = new Date().toISOString();
    await new Promise((wait) => setTimeout(wait, 30));
    for (const n of [2, 3]) await client.request({ op: 'publish', exchange: '', routingKey: 'timed', payload: { n } });
    expect(lines((await read('timed', '--from', since)).stdout).map((line) => line.payload)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(await read('timed', '--from', '2999-01-01T00:00:00Z')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('stream read - --count stops after that many, and waits for new entries when the stream has fewer', async () => {
    expect(offsets((await read('events', '--count', '2')).stdout)).toEqual([0, 1]);
    expect(offsets((await read('events', '--from', '4', '--count', '1')).stdout)).toEqual([4]);
    await declare('tail', 1);
    const waiting = read('tail', '--from', 'next', '--count', '2');
    await eventually(async () => ((await api(broker, '/api/queues/%2F/tail')).body as { consumers: number }).consumers === 1, 'the reader is waiting');
    for (const n of [1, 2]) await client.request({ op: 'publish', exchange: '', routingKey: 'tail', payload: { n } });
    const result = await waiting;
    expect([result.code, offsets(result.stdout)]).toEqual([0, [1, 2]]);
  });

  it('stream read - --group commits what it printed, and a second run resumes after it', async () => {
    const first = await read('events', '--group', 'audit', '--count', '2');
    expect([first.code, offsets(first.stdout)]).toEqual([0, [0, 1]]);
    expect(await committed('events', 'audit')).toBe(1);
    const second = await read('events', '--group', 'audit');
    expect([second.code, offsets(second.stdout)]).toEqual([0, [2, 3, 4]]);
    expect(await committed('events', 'audit')).toBe(4);
    // Nothing left for the group.
    expect(await read('events', '--group', 'audit')).toEqual({ code: 0, stdout: '', stderr: '' });
    const { body } = await api(broker, '/api/queues/%2F/events');
    expect((body as { stream: { groups: unknown[] } }).stream.groups).toEqual([{ name: 'audit', committed: 4, lag: 0, consumers: 0 }]);
    // --from overrides where the group is.
    expect(offsets((await read('events', '--group', 'audit', '--from', '3')).stdout)).toEqual([3, 4]);
  });

  it('stream read - a group another consumer is reading is refused without --count, rather than waiting for nothing', async () => {
    const holder = await RawClient.connected(broker.url);
    try {
      await holder.request({ op: 'consume', queue: 'events', prefetch: 1, arguments: { 'x-stream-consumer': 'busy', 'x-stream-offset': 'first' } });
      const result = await read('events', '--group', 'busy');
      expect([result.code, result.stdout]).toEqual([1, '']);
      expect(result.stderr).toBe('warren: consumer group "busy" of stream "events" has an active consumer elsewhere, and this one would wait its turn; stop the other, or give --count to wait\n');
    } finally {
      holder.close();
    }
  });

  it('stream read - a reader that went away (| head) exits 0 quietly, and its group commits nothing it did not write', async () => {
    const child = spawnCli(['stream', 'read', 'events', '--group', 'piped', '--url', broker.url]);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdout!.destroy();
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(await committed('events', 'piped')).toBeNull();
  });

  it('stream read - a classic queue, a missing one and bad options are one line on stderr and exit 1', async () => {
    expect(await client.request({ op: 'queue.declare', queue: 'work' })).toMatchObject({ op: 'ok' });
    const cases: [string[], string][] = [
      [['work'], 'warren: queue "work" is not a stream queue (x-queue-type "stream"): stream read reads only streams; read it with warren consume\n'],
      [['nope'], 'warren: queue "nope" does not exist\n'],
      [['events', '--from', 'yesterday'], 'warren: --from takes first, last, next, an offset (a whole number from 0) or an ISO 8601 time such as 2026-05-01T12:00:00Z (got "yesterday")\n'],
      [['events', '--from', '-1'], 'warren: --from takes first, last, next, an offset (a whole number from 0) or an ISO 8601 time such as 2026-05-01T12:00:00Z (got "-1")\n'],
      [['events', '--count', '0'], 'warren: --count takes a whole number above 0 (got "0")\n'],
      [['events', '--group', ''], 'warren: --group takes the name of a consumer group (not empty)\n'],
    ];
    for (const [args, stderr] of cases) expect(await read(...args), args.join(' ')).toEqual({ code: 1, stdout: '', stderr });
    const twice = await read('events', '--count', '1', '--count', '2');
    expect([twice.code, twice.stderr]).toEqual([1, expect.stringMatching(/--count is given more than once/)]);
  });
});
