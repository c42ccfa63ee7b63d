import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ADMIN_CONFIG, api, definitionsUser, RawClient, startBroker, type RunningBroker } from './harness.js';

// docs/management.md, "Metrics": Prometheus text on the broker's port, with rabbitmq_prometheus's
// names and the prefix warren_, through the real process.

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({
    definitions: {
      ...ADMIN_CONFIG.definitions,
      users: [...ADMIN_CONFIG.definitions.users, definitionsUser('manny', 'manny-pw', ['management'])],
      permissions: [...ADMIN_CONFIG.definitions.permissions, { user: 'manny', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    },
  });
});
afterAll(async () => {
  await broker.stop();
});

async function scrape(path: string, user?: [string, string]): Promise<{ status: number; type: string | null; text: string }> {
  const headers: Record<string, string> = user ? { authorization: `Basic ${Buffer.from(user.join(':')).toString('base64')}` } : {};
  const response = await fetch(`http://127.0.0.1:${broker.port}${path}`, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** The value of one series: its name with labels exactly as printed. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('metrics - /metrics counts what clients do, with RabbitMQ names, and Node.js process metrics, without credentials', async () => {
    const admin = (path: string, method = 'GET', body?: unknown) => api(broker, path, { user: ADMIN, method, body });
    await admin('/api/exchanges/%2F/m.dlx', 'PUT', { type: 'fanout', durable: false });
    await admin('/api/queues/%2F/m.dead', 'PUT', { durable: false });
    await admin('/api/bindings/%2F/e/m.dlx/q/m.dead', 'POST', {});
    await admin('/api/queues/%2F/m.work', 'PUT', { durable: false, arguments: { 'x-dead-letter-exchange': 'm.dlx', 'x-max-length': 1 } });
    await admin('/api/queues/%2F/m.plain', 'PUT', { durable: false, arguments: { 'x-max-length': 1 } });
    const before = (await scrape('/metrics')).text;
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: ADMIN[0], password: ADMIN[1] });
    for (const queue of ['m.work', 'm.work', 'm.plain', 'm.plain', 'nowhere']) await client.request({ op: 'publish', exchange: '', routingKey: queue, payload: queue });
    // Persistent into a durable queue: the journal writes and syncs it before the confirm.
    await admin('/api/queues/%2F/m.durable', 'PUT', { durable: true });
    await client.request({ op: 'publish', exchange: '', routingKey: 'm.durable', payload: 'kept', properties: { persistent: true } });
    client.send({ op: 'publish', exchange: '', routingKey: 'm.durable', payload: 'unconfirmed' });
    await client.request({ op: 'consume', queue: 'm.dead', prefetch: 10 });
    await client.waitFor((frame) => frame.op === 'deliver');
    const { status, type, text } = await scrape('/metrics');
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const delta = (series: string) => (value(text, series) ?? NaN) - (value(before, series) ?? 0);
    expect(delta('warren_global_messages_received_total')).toBe(7);
    expect(delta('warren_global_messages_routed_total')).toBe(6);
    // A publish without an id asks for no confirm.
    expect(delta('warren_global_messages_confirmed_total')).toBe(6);
    expect(value(text, 'warren_global_publishers')).toBe(1);
    expect(delta('warren_io_sync_ops_total')).toBeGreaterThanOrEqual(1);
    expect(delta('warren_io_write_bytes_total')).toBeGreaterThan('kept'.length);
    expect(delta('warren_global_messages_unroutable_dropped_total')).toBe(1);
    expect(delta('warren_global_messages_dead_lettered_maxlen_total{dead_letter_strategy="at_most_once"}')).toBe(1);
    expect(delta('warren_global_messages_dead_lettered_maxlen_total{dead_letter_strategy="disabled"}')).toBe(1);
    expect(delta('warren_global_messages_delivered_consume_manual_ack_total')).toBe(1);
    expect(value(text, 'warren_connections')).toBe(1);
    expect(value(text, 'warren_consumers')).toBe(1);
    expect(value(text, 'warren_queue_messages_unacked')).toBe(1);
    expect(value(text, 'warren_queue_messages_ready')).toBe(4);
    expect(value(text, 'warren_queues')).toBe(4);
    expect(value(text, 'warren_alarms_memory_used_watermark')).toBe(0);
    expect(text).toMatch(/^# TYPE warren_global_messages_received_total counter$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).not.toMatch(/m\.work/);
    client.socket.close();
  });

  it('metrics - /metrics/per-object has a series per queue, for monitoring users and administrators only', async () => {
    expect((await scrape('/metrics/per-object')).status).toBe(401);
    expect(await scrape('/metrics/per-object', ['manny', 'manny-pw'])).toMatchObject({ status: 401, text: expect.stringMatching(/Not monitor user/) });
    const { status, text } = await scrape('/metrics/per-object', ADMIN);
    expect(status).toBe(200);
    expect(value(text, 'warren_queue_messages_ready{vhost="/",queue="m.plain"}')).toBe(1);
    expect(value(text, 'warren_queue_consumers{vhost="/",queue="m.dead"}')).toBeDefined();
  });

  it('metrics - failed logins are counted', async () => {
    const before = value((await scrape('/metrics')).text, 'warren_auth_attempts_failed_total') ?? 0;
    expect((await api(broker, '/api/whoami', { user: ['admin', 'wrong'] })).status).toBe(401);
    expect(value((await scrape('/metrics')).text, 'warren_auth_attempts_failed_total')).toBe(before + 1);
  });
});
