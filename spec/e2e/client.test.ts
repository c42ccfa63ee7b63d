import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, WarrenError, type Delivery } from '../../src/client/index.js';
import { runCli, startBroker, type RunningBroker } from './harness.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
});

/** Resolves with the first `count` deliveries a handler gets. */
function collector(count: number) {
  const received: Delivery[] = [];
  let done: (deliveries: Delivery[]) => void = () => {};
  const all = new Promise<Delivery[]>((resolve) => (done = resolve));
  const handler = (delivery: Delivery) => {
    received.push(delivery);
    if (received.length === count) done(received);
  };
  return { handler, all, received };
}

describe('client - against the real broker', () => {
  it('client - declares, binds, publishes with confirms and consumes with acks', async () => {
    const client = await connect(broker.url, { clientName: 'spec' });
    await client.declareExchange('orders', 'topic', { durable: false });
    const { queue } = await client.declareQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
    await client.bindQueue(queue, 'orders', 'order.*.created');
    const { handler, all } = collector(2);
    await client.consume(queue, handler, { prefetch: 5 });
    await client.publish('orders', 'order.1.created', { id: 1 });
    await client.publish('orders', 'order.1.shipped', { id: 'not routed' });
    await client.publish('orders', 'order.2.created', { id: 2 }, { headers: { source: 'spec' }, properties: { messageId: 'two' } });
    const deliveries = await all;
    expect(deliveries.map((d) => d.payload)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(deliveries[1]).toMatchObject({ routingKey: 'order.2.created', headers: { source: 'spec' }, properties: { messageId: 'two' } });
    for (const delivery of deliveries) delivery.ack();
    await client.close();
  });

  it('client - nack with requeue redelivers, nack without dead-letters, get pulls', async () => {
    const client = await connect(broker.url);
    await client.declareExchange('work.dlx', 'fanout', { durable: false });
    await client.declareQueue('work.dead', { durable: false });
    await client.bindQueue('work.dead', 'work.dlx');
    await client.declareQueue('work', { durable: false, arguments: { 'x-dead-letter-exchange': 'work.dlx' } });
    const { handler, all } = collector(2);
    await client.consume('work', (delivery) => {
      handler(delivery);
      if (delivery.redelivered) delivery.nack({ requeue: false });
      else delivery.nack({ requeue: true });
    });
    await client.publish('', 'work', 'job');
    const [first, second] = await all;
    expect(first.redelivered).toBe(false);
    expect(second).toMatchObject({ redelivered: true, headers: { 'x-delivery-count': 1 } });
    let dead = await client.get('work.dead', { noAck: true });
    for (let i = 0; i < 50 && !dead.message; i++) dead = await client.get('work.dead', { noAck: true });
    expect(dead.message?.payload).toBe('job');
    expect(dead.message?.headers['x-death']).toMatchObject([{ queue: 'work', reason: 'rejected', count: 1 }]);
    expect(await client.get('work.dead')).toEqual({ message: null, messageCount: 0 });
    await client.close();
  });

  it('client - broker errors reject with a WarrenError carrying the code', async () => {
    const client = await connect(broker.url);
    const error = await client.declareQueue('missing', { passive: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('NOT_FOUND');
    await client.declareQueue('redeclared', { durable: false });
    await expect(client.declareQueue('redeclared', { durable: true })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    await expect(client.publish('nowhere', 'k', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await client.close();
  });

  it('client - mandatory returns and consumer cancellation arrive as events', async () => {
    const client = await connect(broker.url);
    const returned = new Promise((resolve) => client.on('return', resolve));
    await client.publish('amq.direct', 'no-such-binding', 'lost?', { mandatory: true });
    expect(await returned).toMatchObject({ replyCode: 312, routingKey: 'no-such-binding', payload: 'lost?' });
    await client.declareQueue('short-lived', { durable: false });
    const tag = await client.consume('short-lived', () => {});
    const cancelled = new Promise((resolve) => client.on('cancelled', resolve));
    const other = await connect(broker.url);
    await other.deleteQueue('short-lived');
    expect(await cancelled).toMatchObject({ consumerTag: tag });
    await other.close();
    await client.close();
  });

  it('client - reconnects after a broker restart and consumes again', async () => {
    const restartable = await startBroker();
    const port = restartable.port;
    const client = await connect(restartable.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const declare = () => client.declareQueue('jobs', { durable: false });
    await declare();
    const { handler, all } = collector(1);
    await client.consume('jobs', handler);
    const reconnected = new Promise((resolve) => client.on('reconnect', resolve));
    await restartable.stop();
    // The old broker kept its state in memory: the new one declares the queue from its definitions
    // before it listens, so the client's re-consume finds it however soon it reconnects.
    const again = await startBroker({ definitions: { queues: [{ name: 'jobs', durable: false }] } }, [], port);
    try {
      const publisher = await connect(again.url);
      await reconnected;
      await publisher.publish('', 'jobs', 'after restart');
      expect((await all)[0].payload).toBe('after restart');
      await publisher.close();
      await client.close();
    } finally {
      await again.stop();
    }
  });
});

describe('client - tokens against the real broker', () => {
  const secret = 'e2e-client-token-secret-of-32-bytes-at-least';
  let tokenBroker: RunningBroker;
  beforeAll(async () => {
    tokenBroker = await startBroker({ auth: { jwt: { secret } } });
  });
  afterAll(async () => {
    await tokenBroker.stop();
  });

  /** An HS256 token for ann on vhost "/", expiring in 3 s. */
  /** Short-lived by default, for the refresh tests; the CLI's get longer ones, as a CLI process takes a while to start. */
  const signToken = (ttlSeconds = 3): Promise<string> =>
    new SignJWT({ scope: 'warren.configure:%2F/* warren.write:%2F/* warren.read:%2F/*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ann')
      .setAudience('warren')
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(new TextEncoder().encode(secret));

  it('client - getToken keeps a connection alive past its first token, refreshing before each expiry', async () => {
    let issued = 0;
    const client = await connect(tokenBroker.url, {
      getToken: () => {
        issued++;
        return signToken();
      },
    });
    const errors: Error[] = [];
    client.on('error', (error) => errors.push(error));
    const closed: unknown[] = [];
    client.on('close', (event) => closed.push(event));
    expect(client.user).toBe('ann');
    expect(client.vhost).toBe('/');
    const first = client.expiresAt;
    expect(first).toBeGreaterThan(Date.now());
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(closed).toEqual([]);
    expect(errors).toEqual([]);
    expect(client.state).toBe('open');
    expect(client.expiresAt).toBeGreaterThan(first!);
    expect(issued).toBeGreaterThanOrEqual(2);
    await client.declareQueue('', { exclusive: true }); // the connection still works
    await client.close();
  }, 15_000);

  it('cli - publish takes --token and --vhost, consume takes the token from WARREN_TOKEN', async () => {
    const setup = await connect(tokenBroker.url, { token: await signToken(60) });
    await setup.declareQueue('cli-token', { durable: false });
    await setup.close();
    const published = await runCli(['publish', '--url', tokenBroker.url, '--token', await signToken(60), '--vhost', '/', '--routing-key', 'cli-token', '--payload', '"hi"']);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    const refused = await runCli(['publish', '--url', tokenBroker.url, '--token', 'not-a-jwt', '--routing-key', 'cli-token', '--payload', '1']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/access refused/i);
    expect(refused.stderr).not.toContain('not-a-jwt');
    process.env.WARREN_TOKEN = await signToken(60);
    try {
      const consumed = await runCli(['consume', '--url', tokenBroker.url, '--queue', 'cli-token', '--count', '1']);
      expect(consumed.stderr).toBe('');
      expect(consumed.code).toBe(0);
      expect(JSON.parse(consumed.stdout.trim())).toMatchObject({ payload: 'hi' });
    } finally {
      delete process.env.WARREN_TOKEN;
    }
  });
});
