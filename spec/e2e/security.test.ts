import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { hasOpenssl, RawClient, runCli, selfSignedCertificate, startBroker, type Frame, type RunningBroker } from './harness.js';
import { StompPeer, until } from './stomp-peer.js';

// docs/security.md through the real process: users from a RabbitMQ export confined to their
// permissions on both protocols, token logins that expire mid-stream or are refreshed, TLS with
// a certificate made here, and the Origin check.

const SECRET = 'an-e2e-secret-of-at-least-32-bytes!!';

/** A RabbitMQ 3.10-style export: users with sha256 and sha512 hashes, string and array tags, permissions, topic permissions. */
const EXPORT = {
  rabbit_version: '3.10.8',
  rabbitmq_version: '3.10.8',
  product_name: 'RabbitMQ',
  product_version: '3.10.8',
  users: [
    { name: 'alice', password_hash: rabbitPasswordHash('alice-pw', 'rabbit_password_hashing_sha256'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'management', limits: {} },
    { name: 'bob', password_hash: rabbitPasswordHash('bob-pw', 'rabbit_password_hashing_sha512'), hashing_algorithm: 'rabbit_password_hashing_sha512', tags: [] },
  ],
  vhosts: [{ name: '/', limits: [], metadata: { description: 'Default virtual host', tags: [] } }],
  permissions: [
    { user: 'alice', vhost: '/', configure: '^alice\\.', write: '^(alice\\..*|events)$', read: '^(alice\\..*|events)$' },
    { user: 'bob', vhost: '/', configure: '^bob\\.', write: '^(bob\\..*|events)$', read: '^(bob\\..*|events)$' },
  ],
  topic_permissions: [{ user: 'alice', vhost: '/', exchange: 'events', write: '^user\\.{username}\\.', read: '^user\\.{username}\\.' }],
  parameters: [],
  global_parameters: [],
  policies: [],
  queues: [
    { name: 'alice.inbox', vhost: '/', durable: true, auto_delete: false, arguments: {} },
    { name: 'bob.inbox', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } },
  ],
  exchanges: [{ name: 'events', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
  bindings: [],
};

async function login(url: string, fields: Frame): Promise<{ client: RawClient; reply: Frame }> {
  const client = await RawClient.open(url);
  return { client, reply: await client.request({ op: 'connect', version: 1, ...fields }) };
}

function sign(claims: JWTPayload): Promise<string> {
  return new SignJWT({ sub: 'ann', aud: 'warren', exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
}

const ALL = 'warren.configure:%2F/* warren.write:%2F/* warren.read:%2F/*';

/** The HTTP status of a WebSocket upgrade with `origin` (101 when it opens). */
function upgrade(broker: RunningBroker, origin: string | undefined): Promise<number> {
  return new Promise<number>((resolve) => {
    const socket = new WebSocket(broker.url, origin === undefined ? {} : { origin });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
  });
}

describe('security - users and permissions from a RabbitMQ export', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ definitions: EXPORT });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('security - each user logs in with the password of its hash; wrong passwords get 4401, an unknown vhost 4403', async () => {
    const alice = await login(broker.url, { username: 'alice', password: 'alice-pw' });
    expect(alice.reply).toMatchObject({ op: 'ok', user: 'alice', vhost: '/' });
    const bob = await login(broker.url, { username: 'bob', password: 'bob-pw' });
    expect(bob.reply).toMatchObject({ op: 'ok', user: 'bob' });
    const wrong = await login(broker.url, { username: 'alice', password: 'bob-pw' });
    expect(wrong.reply).toMatchObject({ op: 'error', code: 'ACCESS_REFUSED' });
    expect(await wrong.client.waitForClose()).toBe(4401);
    const anonymous = await login(broker.url, {});
    expect(anonymous.reply).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await anonymous.client.waitForClose()).toBe(4401);
    const vhost = await login(broker.url, { username: 'alice', password: 'alice-pw', vhost: 'prod' });
    expect(vhost.reply).toMatchObject({ code: 'ACCESS_REFUSED', message: 'access refused: vhost "prod" does not exist' });
    expect(await vhost.client.waitForClose()).toBe(4403);
    alice.client.close();
    bob.client.close();
    const refusals = broker.logs.filter((line) => line.msg === 'login refused');
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(broker.logs)).not.toContain('bob-pw');
  });

  it('security - a user cannot consume, purge or declare outside its permissions, nor publish outside its topic permission', async () => {
    const { client: alice } = await login(broker.url, { username: 'alice', password: 'alice-pw' });
    expect(await alice.request({ op: 'consume', queue: 'bob.inbox' })).toMatchObject({ code: 'ACCESS_REFUSED', message: expect.stringMatching(/may not read queue "bob.inbox"/) });
    expect(await alice.request({ op: 'get', queue: 'bob.inbox' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'queue.purge', queue: 'bob.inbox' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'queue.declare', queue: 'bob.mine' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'queue.bind', queue: 'alice.inbox', exchange: 'events', routingKey: 'user.#' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'queue.bind', queue: 'alice.inbox', exchange: 'events', routingKey: 'user.alice.#' })).toMatchObject({ op: 'ok' });
    expect(await alice.request({ op: 'publish', exchange: 'events', routingKey: 'user.bob.mail', payload: 'spoof' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    alice.send({ op: 'publish', exchange: 'events', routingKey: 'user.bob.mail', payload: 'spoof, unconfirmed' });
    expect(await alice.waitFor((frame) => frame.op === 'error' && frame.id === undefined)).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'publish', exchange: 'events', routingKey: 'user.alice.mail', payload: 'mine' })).toMatchObject({ op: 'ok' });
    expect(await alice.request({ op: 'get', queue: 'alice.inbox', noAck: true })).toMatchObject({ message: { payload: 'mine' } });
    // Bob's queue was never touched: still empty, and Bob can read it.
    const { client: bob } = await login(broker.url, { username: 'bob', password: 'bob-pw' });
    expect(await bob.request({ op: 'queue.declare', queue: 'bob.inbox', passive: true })).toMatchObject({ messageCount: 0 });
    alice.close();
    bob.close();
  });

  it('security - STOMP logs in with login and passcode (real stompjs), and a refused SUBSCRIBE is an ERROR', async () => {
    const alice = await StompPeer.connect(broker.url, { login: 'alice', passcode: 'alice-pw' });
    await alice.send('/exchange/events/user.alice.stomp', 'hello');
    alice.client.subscribe('/amq/queue/bob.inbox', () => {});
    expect((await alice.waitForError()).headers.message).toMatch(/may not read queue "bob.inbox"/);
    await alice.close();
    await expect(StompPeer.connect(broker.url, { login: 'alice', passcode: 'nope' })).rejects.toThrow(/4401|access refused/);
  });
});

describe('security - a real RabbitMQ 3.10.8 export', () => {
  // spec/fixtures/rabbitmq-3.10.8-export.json: `rabbitmqctl export_definitions` of a Debian
  // RabbitMQ 3.10.8 after `add_user alice 'alice-Pa55!'`, `add_user bob bob-secret`,
  // `change_password guest guest-changed`, vhost prod, set_permissions and
  // set_topic_permissions, and queues declared over AMQP in both vhosts.
  const file = fileURLToPath(new URL('../fixtures/rabbitmq-3.10.8-export.json', import.meta.url));
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({}, ['--definitions', file]);
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('security - its users log in with the passwords RabbitMQ hashed, in the vhosts they have permissions on', async () => {
    for (const [username, password, vhost] of [
      ['alice', 'alice-Pa55!', '/'],
      ['alice', 'alice-Pa55!', 'prod'],
      ['bob', 'bob-secret', '/'],
      ['guest', 'guest-changed', 'prod'],
    ]) {
      const { client, reply } = await login(broker.url, { username, password, vhost });
      expect(reply).toMatchObject({ op: 'ok', user: username, vhost });
      client.close();
    }
    const bobInProd = await login(broker.url, { username: 'bob', password: 'bob-secret', vhost: 'prod' });
    expect(bobInProd.reply).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await bobInProd.client.waitForClose()).toBe(4403);
  });

  it('security - its permissions and topic permissions hold: alice reads her queues only, and publishes only her own keys', async () => {
    const { client: alice } = await login(broker.url, { username: 'alice', password: 'alice-Pa55!' });
    expect(await alice.request({ op: 'get', queue: 'bob.inbox' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'publish', exchange: 'events', routingKey: 'user.bob.x', payload: 1 })).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await alice.request({ op: 'publish', exchange: 'events', routingKey: 'user.alice.x', payload: 1 })).toMatchObject({ op: 'ok' });
    expect(await alice.request({ op: 'get', queue: 'alice.inbox', noAck: true })).toMatchObject({ message: { payload: 1 } });
    alice.close();
  });
});

describe('security - tokens', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ auth: { jwt: { secret: SECRET } } });
    const { client } = await login(broker.url, { token: await sign({ scope: ALL }) });
    await client.request({ op: 'queue.declare', queue: 'stream' });
    client.close();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('security - a token login gets its user and expiry; a consumer is cut with ACCESS_REFUSED and 4401 when the token expires mid-stream', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const { client: consumer, reply } = await login(broker.url, { token: await sign({ exp, scope: 'warren.read:%2F/stream' }) });
    expect(reply).toMatchObject({ op: 'ok', user: 'ann', vhost: '/', expiresAt: exp * 1000 });
    await consumer.request({ op: 'consume', queue: 'stream', noAck: true });
    const { client: publisher } = await login(broker.url, { token: await sign({ scope: ALL }) });
    let stop = false;
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        publisher.send({ op: 'publish', routingKey: 'stream', payload: i });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const code = await consumer.waitForClose(6000);
    const closedAt = Date.now();
    stop = true;
    await publishing;
    expect(code).toBe(4401);
    expect(closedAt - exp * 1000).toBeLessThan(1500);
    expect(consumer.frames.filter((frame) => frame.op === 'deliver').length).toBeGreaterThan(10);
    expect(consumer.frames.at(-1)).toMatchObject({ op: 'error', code: 'ACCESS_REFUSED', message: expect.stringMatching(/token expired/) });
    publisher.close();
  });

  it('security - auth.refresh extends a connection past its first token; a token for another user is refused and the old one kept', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const { client } = await login(broker.url, { token: await sign({ exp, scope: ALL }) });
    expect(await client.request({ op: 'auth.refresh', token: await sign({ sub: 'mallory', scope: ALL }) })).toMatchObject({ code: 'ACCESS_REFUSED', message: expect.stringMatching(/user "mallory"/) });
    const later = Math.floor(Date.now() / 1000) + 60;
    expect(await client.request({ op: 'auth.refresh', token: await sign({ exp: later, scope: ALL }) })).toEqual({ op: 'ok', id: expect.any(Number), expiresAt: later * 1000 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(client.closeCode).toBeUndefined();
    expect(await client.request({ op: 'queue.declare', queue: 'stream', passive: true })).toMatchObject({ op: 'ok' });
    client.close();
  });

  it('security - a refresh that takes read away cancels the consumers it no longer allows, with reason "permission"', async () => {
    const { client } = await login(broker.url, { token: await sign({ scope: ALL }) });
    const { consumerTag } = await client.request({ op: 'consume', queue: 'stream', noAck: true });
    expect(await client.request({ op: 'auth.refresh', token: await sign({ scope: 'warren.read:%2F/other warren.write:%2F/*' }) })).toMatchObject({ op: 'ok' });
    expect(await client.waitFor((frame) => frame.op === 'cancelled')).toEqual({ op: 'cancelled', consumerTag, reason: 'permission' });
    expect(await client.request({ op: 'consume', queue: 'stream' })).toMatchObject({ code: 'ACCESS_REFUSED' });
    client.close();
  });

  it('security - STOMP token login: an empty login and the JWT as passcode (real stompjs); a bad token is refused', async () => {
    const peer = await StompPeer.connect(broker.url, { login: '', passcode: await sign({ scope: ALL }) });
    await peer.send('/queue/stream', 'over stomp');
    await peer.close();
    await expect(StompPeer.connect(broker.url, { login: '', passcode: 'not-a-token' })).rejects.toThrow(/4401|access refused/);
  });

  it('security - a token accepted within the clock tolerance but already expired gets its ok first, then ACCESS_REFUSED and 4401', async () => {
    const tolerant = await startBroker({ auth: { jwt: { secret: SECRET, clockToleranceSec: 60 } } });
    try {
      const { client, reply } = await login(tolerant.url, { token: await sign({ exp: Math.floor(Date.now() / 1000) - 5, scope: ALL }) });
      expect(reply).toMatchObject({ op: 'ok' });
      expect(await client.waitForClose()).toBe(4401);
      expect(client.frames.map((frame) => frame.op)).toEqual(['ok', 'error']);
    } finally {
      await tolerant.stop();
    }
  });

  it('security - a password login is refused where only tokens are configured, and anonymous clients too', async () => {
    const anonymous = await login(broker.url, {});
    expect(anonymous.reply).toMatchObject({ code: 'ACCESS_REFUSED' });
    expect(await anonymous.client.waitForClose()).toBe(4401);
  });
});

describe('security - transport', () => {
  it.skipIf(!hasOpenssl)('security - with a certificate the port serves wss:// only; a bad key stops the broker at start with the reason', async () => {
    const { dir, cert, key } = selfSignedCertificate();
    const broker = await startBroker({ server: { tls: { cert, key } } });
    try {
      expect(broker.logs.find((line) => line.msg === 'listening')).toMatchObject({ url: expect.stringMatching(/^wss:\/\//) });
      const secure = new WebSocket(`wss://localhost:${broker.port}/ws`, { ca: execFileSync('cat', [cert]) });
      await new Promise((resolve, reject) => {
        secure.once('open', resolve);
        secure.once('error', reject);
      });
      secure.send(JSON.stringify({ op: 'connect', id: 1, version: 1 }));
      const reply = await new Promise<Frame>((resolve) => secure.once('message', (data) => resolve(JSON.parse(data.toString()) as Frame)));
      expect(reply).toMatchObject({ op: 'ok', id: 1 });
      secure.close();
      await expect(RawClient.open(broker.url)).rejects.toThrow();
    } finally {
      await broker.stop();
    }
    const bad = await runCli(['serve', '--port', '0', '--data-dir', join(dir, 'data'), '--tls-cert', cert, '--tls-key', cert]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/TLS certificate .* cannot be used/);
  });

  it('security - listening on every interface with anonymous access logs a warning at start', async () => {
    const loopbackOnly = await startBroker({}, ['--host', '0.0.0.0']);
    const open = await startBroker({ auth: { anonymous: true } }, ['--host', '0.0.0.0']);
    try {
      expect(loopbackOnly.logs).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/clients from other machines will be refused/) }));
      expect(open.logs).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/anonymous access from any address/) }));
    } finally {
      await loopbackOnly.stop();
      await open.stop();
    }
  });

  it('security - with anonymous access from loopback (the default), only pages served from this machine may open a socket', async () => {
    const broker = await startBroker({});
    try {
      expect(await upgrade(broker, 'https://evil.example')).toBe(403);
      expect(await upgrade(broker, 'http://localhost:3000')).toBe(101);
      expect(await upgrade(broker, 'http://127.0.0.1')).toBe(101);
      expect(await upgrade(broker, undefined)).toBe(101);
    } finally {
      await broker.stop();
    }
  });

  it('security - a browser origin outside server.allowedOrigins gets HTTP 403; listed ones and non-browsers connect', async () => {
    const broker = await startBroker({ server: { allowedOrigins: ['https://app.example.com', 'https://*.example.org'] } });
    try {
      expect(await upgrade(broker, 'https://evil.example.com')).toBe(403);
      expect(await upgrade(broker, 'https://example.org')).toBe(403);
      expect(await upgrade(broker, 'https://app.example.com')).toBe(101);
      expect(await upgrade(broker, 'https://a.b.example.org')).toBe(101);
      expect(await upgrade(broker, undefined)).toBe(101);
      await until(() => broker.logs.some((line) => line.msg?.toString().includes('origin not allowed')), 'the refusal in the log');
    } finally {
      await broker.stop();
    }
  });
});
