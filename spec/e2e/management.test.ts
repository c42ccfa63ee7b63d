import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { get as httpsGet } from 'node:https';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { api, hasOpenssl, RawClient, selfSignedCertificate, startBroker, type RunningBroker } from './harness.js';
import { StompPeer } from './stomp-peer.js';

// docs/management.md through the real process: RabbitMQ's management API paths and JSON on the
// broker's own port, beside the WebSocket endpoint, with basic and bearer authentication.

const SECRET = 'a-management-secret-of-at-least-32-bytes';

/** A GET with headers fetch will not send as given (Host). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    request.on('error', reject);
    request.end();
  });
}

function sign(claims: JWTPayload): Promise<string> {
  return new SignJWT({ sub: 'ann', aud: 'warren', exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
}

const NOT_FOUND = { error: 'Object Not Found', reason: 'Not Found' };

const QUEUE_FIELDS = ['name', 'vhost', 'durable', 'auto_delete', 'exclusive', 'arguments', 'messages', 'messages_ready', 'messages_unacknowledged', 'messages_delayed', 'message_stats', 'consumers', 'policy', 'effective_policy_definition', 'state', 'type', 'node'];

describe('management - anonymous development mode', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({
      definitions: {
        vhosts: [{ name: '/' }, { name: 'orders' }],
        queues: [{ name: 'in/box', vhost: 'orders', durable: true, arguments: { 'x-max-length': 10 } }],
        exchanges: [{ name: 'events', vhost: 'orders', type: 'topic', durable: false, internal: true }],
      },
    });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('management - from this machine no credentials are needed: whoami is an administrator', async () => {
    const whoami = await api(broker, '/api/whoami');
    expect(whoami).toMatchObject({ status: 200, body: { name: 'anonymous', tags: ['administrator'] } });
    expect(whoami.headers.get('content-type')).toMatch(/^application\/json/);
    expect(whoami.headers.get('cache-control')).toBe('no-cache');
  });

  it('management - anonymous access needs this machine in Host, and a page of this machine in Origin', async () => {
    expect(await rawGet(broker.port, '/api/whoami', { host: `localhost:${broker.port}` })).toMatchObject({ status: 200 });
    expect(await rawGet(broker.port, '/api/whoami', { host: `[::1]:${broker.port}`, origin: 'http://localhost:3000' })).toMatchObject({ status: 200 });
    expect(await rawGet(broker.port, '/api/whoami', { host: `rebound.example.com:${broker.port}` })).toMatchObject({ status: 401, body: { error: 'not_authorized' } });
    expect(await rawGet(broker.port, '/api/whoami', { host: `127.0.0.1:${broker.port}`, origin: 'https://evil.example.com' })).toMatchObject({ status: 401, body: { error: 'not_authorized' } });
  });

  it('management - queues, exchanges, vhosts and the overview count what clients do over WebSocket on the same port', async () => {
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'queue.declare', queue: 'work', durable: false, arguments: { 'x-message-ttl': 60000 } });
    for (let i = 0; i < 5; i++) await client.request({ op: 'publish', routingKey: 'work', payload: i });
    await client.request({ op: 'consume', queue: 'work', prefetch: 2 });
    await client.waitFor((frame) => frame.op === 'deliver' && frame.deliveryTag === 2);
    const stomp = await StompPeer.connect(broker.url);
    try {
      const queue = await api(broker, '/api/queues/%2F/work');
      expect(queue.status).toBe(200);
      expect(Object.keys(queue.body as object).sort()).toEqual([...QUEUE_FIELDS].sort());
      expect(queue.body).toMatchObject({
        name: 'work',
        vhost: '/',
        durable: false,
        auto_delete: false,
        exclusive: false,
        arguments: { 'x-message-ttl': 60000 },
        messages: 5,
        messages_ready: 3,
        messages_unacknowledged: 2,
        consumers: 1,
        state: 'running',
        type: 'classic',
        node: expect.stringMatching(/^warren@/),
      });
      expect((await api(broker, '/api/queues/orders/in%2Fbox')).body).toMatchObject({ name: 'in/box', vhost: 'orders', durable: true, arguments: { 'x-max-length': 10 }, messages: 0 });

      const all = (await api(broker, '/api/queues')).body as { vhost: string; name: string }[];
      expect(all.map((q) => [q.vhost, q.name])).toEqual([
        ['/', 'work'],
        ['orders', 'in/box'],
      ]);
      expect(((await api(broker, '/api/queues/orders')).body as { name: string }[]).map((q) => q.name)).toEqual(['in/box']);

      const vhosts = await api(broker, '/api/vhosts');
      expect(vhosts.body).toEqual([
        { name: '/', messages: 5, messages_ready: 3, messages_unacknowledged: 2 },
        { name: 'orders', messages: 0, messages_ready: 0, messages_unacknowledged: 0 },
      ]);
      expect((await api(broker, '/api/vhosts/%2F')).body).toEqual({ name: '/', messages: 5, messages_ready: 3, messages_unacknowledged: 2 });

      const overview = await api(broker, '/api/overview');
      expect(overview.body).toEqual({
        management_version: expect.any(String),
        product_name: 'Warren',
        product_version: expect.any(String),
        node: expect.stringMatching(/^warren@/),
        object_totals: { connections: 2, channels: 0, exchanges: 11, queues: 2, consumers: 1 },
        queue_totals: { messages: 5, messages_ready: 3, messages_unacknowledged: 2 },
        message_stats: expect.objectContaining({ publish: expect.any(Number), publish_details: { rate: expect.any(Number) } }),
        exchange_types: ['direct', 'fanout', 'topic', 'headers'].map((name) => ({ name, description: `AMQP ${name} exchange`, enabled: true })),
        listeners: ['http', 'http/warren', 'http/web-stomp'].map((protocol) => ({ node: expect.stringMatching(/^warren@/), protocol, ip_address: '127.0.0.1', port: broker.port })),
      });
    } finally {
      client.close();
      await stomp.close();
    }
  });

  it('management - exchanges: the built-in ones, the default one as "" (amq.default in a path), each in its vhost', async () => {
    const root = (await api(broker, '/api/exchanges/%2F')).body as { name: string }[];
    expect(root.map((exchange) => exchange.name)).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.topic']);
    expect(await api(broker, '/api/exchanges/%2F/amq.default')).toMatchObject({
      status: 200,
      body: { name: '', vhost: '/', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} },
    });
    expect((await api(broker, '/api/exchanges/orders/events')).body).toEqual({ name: 'events', vhost: 'orders', type: 'topic', durable: false, auto_delete: false, internal: true, arguments: {} });
    const all = (await api(broker, '/api/exchanges')).body as { vhost: string; name: string }[];
    expect(all).toHaveLength(11);
    expect(all.filter((exchange) => exchange.vhost === 'orders').map((exchange) => exchange.name)).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.topic', 'events']);
  });

  it('management - unknown vhosts, queues, exchanges and paths are 404; other methods 405; a malformed path 400; outside /api 426', async () => {
    for (const path of ['/api/vhosts/nope', '/api/queues/nope', '/api/queues/nope/work', '/api/queues/%2F/nope', '/api/exchanges/nope', '/api/exchanges/%2F/nope', '/api/nothing', '/api']) {
      expect(await api(broker, path), path).toMatchObject({ status: 404, body: NOT_FOUND });
    }
    const wrongMethod = await api(broker, '/api/queues/%2F/work', { method: 'POST' });
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: 'method_not_allowed', reason: expect.stringMatching(/POST/) } });
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
    expect((await api(broker, '/api/whoami', { method: 'DELETE' })).headers.get('allow')).toBe('GET, HEAD');
    expect(await api(broker, '/api/overview', { method: 'POST' })).toMatchObject({ status: 405, body: { error: 'method_not_allowed' } });
    // A wrong method is 405 before anything it carries is read.
    const withBadJson = await fetch(`http://127.0.0.1:${broker.port}/api/overview`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect([withBadJson.status, await withBadJson.json()]).toEqual([405, expect.objectContaining({ error: 'method_not_allowed' })]);
    expect(await api(broker, '/api/queues/%E0%A4%A')).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.any(String) } });
    const outside = await fetch(`http://127.0.0.1:${broker.port}/outside`);
    expect(outside.status).toBe(426);
    expect(await outside.text()).toMatch(/WebSocket at \/ws/);
  });

  it('management - the alarms health check is ok while no alarm is in force', async () => {
    expect(await api(broker, '/api/health/checks/alarms')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('management - users and tokens', () => {
  const DEFINITIONS = {
    users: [
      { name: 'mgmt', password_hash: rabbitPasswordHash('mgmt-pw', 'rabbit_password_hashing_sha256'), tags: ['management'] },
      { name: 'mon', password_hash: rabbitPasswordHash('mon-pw', 'rabbit_password_hashing_sha256'), tags: 'monitoring' },
      { name: 'app', password_hash: rabbitPasswordHash('app-pw', 'rabbit_password_hashing_sha256'), tags: [] },
    ],
    vhosts: [{ name: '/' }, { name: 'orders' }],
    permissions: [
      { user: 'mgmt', vhost: 'orders', configure: '.*', write: '.*', read: '.*' },
      { user: 'app', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    ],
    queues: [
      { name: 'root-q', vhost: '/', durable: true },
      { name: 'orders-q', vhost: 'orders', durable: true },
    ],
  };
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ users: [{ username: 'admin', password: 'admin-pw' }], auth: { jwt: { secret: SECRET } }, definitions: DEFINITIONS });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('management - HTTP basic: a config user is an administrator', async () => {
    expect(await api(broker, '/api/whoami', { user: ['admin', 'admin-pw'] })).toMatchObject({ status: 200, body: { name: 'admin', tags: ['administrator'] } });
    const vhosts = (await api(broker, '/api/vhosts', { user: ['admin', 'admin-pw'] })).body as { name: string }[];
    expect(vhosts.map((vhost) => vhost.name)).toEqual(['/', 'orders']);
    expect(await api(broker, '/api/health/checks/alarms', { user: ['admin', 'admin-pw'] })).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('management - no credentials, a wrong password, an unknown user or a bad token: 401 not_authorized with a Basic challenge', async () => {
    const answers = [
      await api(broker, '/api/overview'),
      await api(broker, '/api/overview', { user: ['admin', 'wrong'] }),
      await api(broker, '/api/overview', { user: ['nobody', 'admin-pw'] }),
      await api(broker, '/api/overview', { token: 'not.a.token' }),
      await api(broker, '/api/overview', { token: await sign({ scope: 'warren.tag:administrator', aud: 'someone-else' }) }),
    ];
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 401, body: { error: 'not_authorized', reason: expect.any(String) } });
      expect(answer.headers.get('www-authenticate')).toBe('Basic realm="Warren"');
    }
    expect((answers[1].body as { reason: string }).reason).toBe((answers[2].body as { reason: string }).reason);
    // Anonymous access is for brokers without users: here a request from this machine needs credentials too.
    expect(await rawGet(broker.port, '/api/whoami', { host: `localhost:${broker.port}` })).toMatchObject({ status: 401 });
  });

  it('management - a user without a management tag: 401 not_authorised, "Not management user"', async () => {
    const answer = await api(broker, '/api/whoami', { user: ['app', 'app-pw'] });
    expect(answer).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: expect.stringMatching(/^Not management user/) } });
    expect(answer.headers.get('www-authenticate')).toBeNull();
    expect(await api(broker, '/api/whoami', { token: await sign({ scope: 'warren.read:%2F/*' }) })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
  });

  it('management - a management user sees only the vhosts it has permissions on; another vhost is 401, an unknown one 404', async () => {
    const user: [string, string] = ['mgmt', 'mgmt-pw'];
    expect((await api(broker, '/api/vhosts', { user })).body).toEqual([{ name: 'orders', messages: 0, messages_ready: 0, messages_unacknowledged: 0 }]);
    expect(((await api(broker, '/api/queues', { user })).body as { name: string }[]).map((q) => q.name)).toEqual(['orders-q']);
    expect(((await api(broker, '/api/exchanges', { user })).body as { vhost: string }[]).every((exchange) => exchange.vhost === 'orders')).toBe(true);
    expect(await api(broker, '/api/queues/orders/orders-q', { user })).toMatchObject({ status: 200, body: { name: 'orders-q' } });
    for (const path of ['/api/vhosts/%2F', '/api/queues/%2F', '/api/queues/%2F/root-q', '/api/exchanges/%2F', '/api/exchanges/%2F/amq.topic']) {
      expect(await api(broker, path, { user }), path).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: 'User not authorised to access virtual host' } });
    }
    expect(await api(broker, '/api/queues/nope', { user })).toMatchObject({ status: 404, body: NOT_FOUND });
    // As RabbitMQ: its overview counts its vhosts only, and leaves out the node and its listeners.
    const overview = (await api(broker, '/api/overview', { user })).body as Record<string, unknown>;
    expect(overview).toMatchObject({ object_totals: { queues: 1, exchanges: 5 } });
    expect(overview).not.toHaveProperty('listeners');
    expect(overview).not.toHaveProperty('node');
  });

  it('management - a monitoring user sees every vhost, permissions or not', async () => {
    const user: [string, string] = ['mon', 'mon-pw'];
    expect(((await api(broker, '/api/vhosts', { user })).body as { name: string }[]).map((vhost) => vhost.name)).toEqual(['/', 'orders']);
    expect(await api(broker, '/api/queues/%2F/root-q', { user })).toMatchObject({ status: 200, body: { name: 'root-q', vhost: '/' } });
    expect((await api(broker, '/api/overview', { user })).body).toMatchObject({ object_totals: { queues: 2, exchanges: 10 }, listeners: expect.any(Array) });
  });

  it('management - Authorization: Bearer with an HS256 token: its sub, its tag: scopes, the vhosts its scopes name', async () => {
    const token = await sign({ scope: 'warren.tag:management warren.read:orders/*' });
    expect(await api(broker, '/api/whoami', { token })).toMatchObject({ status: 200, body: { name: 'ann', tags: ['management'] } });
    expect(((await api(broker, '/api/vhosts', { token })).body as { name: string }[]).map((vhost) => vhost.name)).toEqual(['orders']);
    expect(await api(broker, '/api/queues/%2F', { token })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
    const admin = await sign({ sub: 'root', scope: 'warren.tag:administrator' });
    expect(((await api(broker, '/api/queues', { token: admin })).body as { name: string }[]).map((q) => q.name)).toEqual(['root-q', 'orders-q']);
  });
});

/** A WebSocket client logged in as the config's admin. */
async function adminClient(broker: RunningBroker): Promise<RawClient> {
  const client = await RawClient.open(broker.url);
  await client.request({ op: 'connect', version: 1, username: 'admin', password: 'admin-pw' });
  return client;
}

describe('management - writes: queues, exchanges, bindings, publish', () => {
  const DEFINITIONS = {
    users: [
      { name: 'mgmt', password_hash: rabbitPasswordHash('mgmt-pw', 'rabbit_password_hashing_sha256'), tags: ['management'] },
      { name: 'mon', password_hash: rabbitPasswordHash('mon-pw', 'rabbit_password_hashing_sha256'), tags: ['monitoring'] },
      { name: 'boss', password_hash: rabbitPasswordHash('boss-pw', 'rabbit_password_hashing_sha256'), tags: ['administrator'] },
    ],
    vhosts: [{ name: '/' }, { name: 'orders' }],
    permissions: [{ user: 'mgmt', vhost: 'orders', configure: '^app\\.', write: '^app\\.', read: '^app\\.' }],
  };
  const admin: [string, string] = ['admin', 'admin-pw'];
  const mgmt: [string, string] = ['mgmt', 'mgmt-pw'];
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ users: [{ username: 'admin', password: 'admin-pw' }], definitions: DEFINITIONS });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('management - PUT a queue: 201 created, 204 when it exists the same, 400 inequivalent arg when it differs; DELETE it 204, then 404', async () => {
    const user = admin;
    expect(await api(broker, '/api/queues/%2F/w1', { user, method: 'PUT', body: { durable: false, auto_delete: false, arguments: { 'x-max-length': 5 } } })).toMatchObject({ status: 201, body: undefined });
    expect((await api(broker, '/api/queues/%2F/w1', { user })).body).toMatchObject({ name: 'w1', durable: false, auto_delete: false, arguments: { 'x-max-length': 5 } });
    expect(await api(broker, '/api/queues/%2F/w1', { user, method: 'PUT', body: { durable: false, arguments: { 'x-max-length': 5 } } })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/queues/%2F/w1', { user, method: 'PUT', body: { durable: true, arguments: { 'x-max-length': 5 } } })).toMatchObject({
      status: 400,
      body: { error: 'bad_request', reason: "inequivalent arg 'durable' for queue 'w1' in vhost '/': received 'true' but current is 'false'" },
    });
    expect((await api(broker, '/api/queues/%2F/w1', { user, method: 'PUT', body: { durable: false } })).body).toMatchObject({ reason: expect.stringMatching(/^inequivalent arg 'x-max-length'.*received none but current is '5'/) });
    // No body: Warren's defaults (durable, not auto-delete).
    expect(await api(broker, '/api/queues/%2F/w2', { user, method: 'PUT' })).toMatchObject({ status: 201 });
    expect((await api(broker, '/api/queues/%2F/w2', { user })).body).toMatchObject({ durable: true, auto_delete: false, arguments: {} });
    expect(await api(broker, '/api/queues/%2F/w2', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/queues/%2F/w2', { user })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await api(broker, '/api/queues/%2F/w2', { user, method: 'DELETE' })).toMatchObject({ status: 404, body: NOT_FOUND });
    // rabbitmqadmin sends booleans as strings, which RabbitMQ parses.
    expect(await api(broker, '/api/queues/%2F/strings', { user, method: 'PUT', body: { durable: 'false', auto_delete: 'true' } })).toMatchObject({ status: 201 });
    expect((await api(broker, '/api/queues/%2F/strings', { user })).body).toMatchObject({ durable: false, auto_delete: true });
    expect(await api(broker, '/api/queues/%2F/strings-bad', { user, method: 'PUT', body: { durable: 'yes' } })).toMatchObject({ status: 400 });
    expect(await api(broker, '/api/queues/nope/w2', { user, method: 'PUT', body: {} })).toMatchObject({ status: 404, body: NOT_FOUND });
    // Arguments the model refuses, reserved names, wrong types, bad JSON: 400 or 401 as RabbitMQ.
    expect(await api(broker, '/api/queues/%2F/w3', { user, method: 'PUT', body: { arguments: { 'x-max-length': -1 } } })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await api(broker, '/api/queues/%2F/w3', { user, method: 'PUT', body: { durable: 'yes' } })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.stringMatching(/durable/) } });
    expect(await api(broker, '/api/queues/%2F/w3', { user, method: 'PUT', rawBody: '{"durable":' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.stringMatching(/not JSON/) } });
    expect(await api(broker, '/api/queues/%2F/w3', { user, method: 'PUT', rawBody: '[1]' })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await api(broker, '/api/queues/%2F/amq.mine', { user, method: 'PUT', body: {} })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
    expect(await api(broker, '/api/queues/%2F/w3', { user })).toMatchObject({ status: 404 });
  });

  it('management - DELETE a queue with if-empty / if-unused is 400 while the condition fails; DELETE /contents purges it', async () => {
    const user = admin;
    await api(broker, '/api/queues/%2F/full', { user, method: 'PUT', body: { durable: false } });
    for (let i = 0; i < 3; i++) {
      expect(await api(broker, '/api/exchanges/%2F/amq.default/publish', { user, method: 'POST', body: { routing_key: 'full', payload: `m${i}`, payload_encoding: 'string', properties: {} } })).toMatchObject({ status: 200, body: { routed: true } });
    }
    expect(await api(broker, '/api/queues/%2F/full?if-empty=true', { user, method: 'DELETE' })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.stringMatching(/ready messages/) } });
    const client = await adminClient(broker);
    try {
      await client.request({ op: 'consume', queue: 'full', prefetch: 1 });
      expect(await api(broker, '/api/queues/%2F/full?if-unused=true', { user, method: 'DELETE' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/consumers/) } });
    } finally {
      client.close();
    }
    // The consumer's unacknowledged message goes back to the queue when it disconnects.
    for (let tries = 0; tries < 50 && ((await api(broker, '/api/queues/%2F/full', { user })).body as { consumers: number }).consumers > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await api(broker, '/api/queues/%2F/full', { user })).body).toMatchObject({ messages_ready: 3, consumers: 0 });
    expect(await api(broker, '/api/queues/%2F/full/contents', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect((await api(broker, '/api/queues/%2F/full', { user })).body).toMatchObject({ messages_ready: 0 });
    expect(await api(broker, '/api/queues/%2F/full?if-empty=true&if-unused=true', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/queues/%2F/full/contents', { user, method: 'DELETE' })).toMatchObject({ status: 404 });
  });

  it('management - exchanges: PUT 201/204/400 inequivalent, type required, built-in ones refused, DELETE with if-unused, 404', async () => {
    const user = admin;
    expect(await api(broker, '/api/exchanges/%2F/ev', { user, method: 'PUT', body: { type: 'topic', durable: false, internal: false, arguments: {} } })).toMatchObject({ status: 201 });
    expect((await api(broker, '/api/exchanges/%2F/ev', { user })).body).toEqual({ name: 'ev', vhost: '/', type: 'topic', durable: false, auto_delete: false, internal: false, arguments: {} });
    expect(await api(broker, '/api/exchanges/%2F/ev', { user, method: 'PUT', body: { type: 'topic', durable: false } })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/exchanges/%2F/ev', { user, method: 'PUT', body: { type: 'fanout', durable: false } })).toMatchObject({
      status: 400,
      body: { reason: "inequivalent arg 'type' for exchange 'ev' in vhost '/': received 'fanout' but current is 'topic'" },
    });
    expect(await api(broker, '/api/exchanges/%2F/ex2', { user, method: 'PUT', body: {} })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/key_missing: type/) } });
    expect(await api(broker, '/api/exchanges/%2F/ex2', { user, method: 'PUT', body: { type: 'x-nope' } })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/^invalid type/) } });
    expect(await api(broker, '/api/exchanges/%2F/amq.custom', { user, method: 'PUT', body: { type: 'direct' } })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
    expect(await api(broker, '/api/exchanges/%2F/amq.topic', { user, method: 'DELETE' })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
    expect(await api(broker, '/api/exchanges/%2F/amq.default', { user, method: 'DELETE' })).toMatchObject({ status: 401 });
    await api(broker, '/api/queues/%2F/evq', { user, method: 'PUT', body: { durable: false } });
    expect(await api(broker, '/api/bindings/%2F/e/ev/q/evq', { user, method: 'POST', body: { routing_key: 'a.*' } })).toMatchObject({ status: 201 });
    expect(await api(broker, '/api/exchanges/%2F/ev?if-unused=true', { user, method: 'DELETE' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/has bindings/) } });
    expect(await api(broker, '/api/exchanges/%2F/ev', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/exchanges/%2F/ev', { user, method: 'DELETE' })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect((await api(broker, '/api/queues/%2F/evq/bindings', { user })).body).toEqual([
      { source: '', vhost: '/', destination: 'evq', destination_type: 'queue', routing_key: 'evq', arguments: {}, properties_key: 'evq' },
    ]);
  });

  it('management - bindings: POST 201 with Location, lists, GET and DELETE by properties_key, exchange to exchange', async () => {
    const user = admin;
    await api(broker, '/api/exchanges/%2F/hx', { user, method: 'PUT', body: { type: 'headers', durable: false } });
    await api(broker, '/api/exchanges/%2F/fx', { user, method: 'PUT', body: { type: 'fanout', durable: false } });
    await api(broker, '/api/queues/%2F/bq', { user, method: 'PUT', body: { durable: false } });
    const created = await api(broker, '/api/bindings/%2F/e/amq.direct/q/bq', { user, method: 'POST', body: { routing_key: 'a b/c~d', arguments: {} } });
    expect(created).toMatchObject({ status: 201, body: undefined });
    expect(created.headers.get('location')).toBe('/api/bindings/%2F/e/amq.direct/q/bq/a%2Bb%252Fc%257Ed');
    const withArgs = await api(broker, '/api/bindings/%2F/e/hx/q/bq', { user, method: 'POST', body: { routing_key: '', arguments: { 'x-match': 'any', kind: 'x' } } });
    const propsKey = decodeURIComponent(withArgs.headers.get('location')!.split('/').pop()!);
    expect(propsKey).toMatch(/^~[A-Za-z0-9_-]{6}$/);
    expect(await api(broker, '/api/bindings/%2F/e/fx/q/bq', { user, method: 'POST' })).toMatchObject({ status: 201 });
    expect(await api(broker, '/api/bindings/%2F/e/fx/e/hx', { user, method: 'POST', body: { routing_key: 'k' } })).toMatchObject({ status: 201 });

    const expected = [
      { source: '', vhost: '/', destination: 'bq', destination_type: 'queue', routing_key: 'bq', arguments: {}, properties_key: 'bq' },
      { source: 'amq.direct', vhost: '/', destination: 'bq', destination_type: 'queue', routing_key: 'a b/c~d', arguments: {}, properties_key: 'a+b%2Fc%7Ed' },
      { source: 'fx', vhost: '/', destination: 'bq', destination_type: 'queue', routing_key: '', arguments: {}, properties_key: '~' },
      { source: 'hx', vhost: '/', destination: 'bq', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'any', kind: 'x' }, properties_key: propsKey },
    ];
    expect((await api(broker, '/api/queues/%2F/bq/bindings', { user })).body).toEqual(expected);
    const inVhost = (await api(broker, '/api/bindings/%2F', { user })).body as { source: string; destination: string }[];
    expect(inVhost).toEqual(expect.arrayContaining([...expected, { source: 'fx', vhost: '/', destination: 'hx', destination_type: 'exchange', routing_key: 'k', arguments: {}, properties_key: 'k' }]));
    expect(((await api(broker, '/api/bindings', { user })).body as unknown[]).length).toBeGreaterThanOrEqual(inVhost.length);
    expect((await api(broker, '/api/exchanges/%2F/fx/bindings/source', { user })).body).toHaveLength(2);
    expect((await api(broker, '/api/exchanges/%2F/hx/bindings/destination', { user })).body).toEqual([expect.objectContaining({ source: 'fx', destination: 'hx' })]);

    expect((await api(broker, '/api/bindings/%2F/e/amq.direct/q/bq', { user })).body).toEqual([expected[1]]);
    expect(await api(broker, created.headers.get('location')!, { user })).toMatchObject({ status: 200, body: expected[1] });
    expect(await api(broker, `/api/bindings/%2F/e/hx/q/bq/${encodeURIComponent(propsKey)}`, { user })).toMatchObject({ status: 200, body: expected[3] });
    expect(await api(broker, '/api/bindings/%2F/e/fx/q/bq/~', { user })).toMatchObject({ status: 200, body: expected[2] });
    expect(await api(broker, '/api/bindings/%2F/e/fx/e/hx/k', { user })).toMatchObject({ status: 200, body: { destination_type: 'exchange' } });
    expect(await api(broker, '/api/bindings/%2F/e/fx/q/bq/other', { user })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await api(broker, '/api/bindings/%2F/e/nope/q/bq', { user })).toMatchObject({ status: 404 });
    expect(await api(broker, '/api/bindings/%2F/e/fx/q/nope', { user, method: 'POST', body: {} })).toMatchObject({ status: 404 });
    expect(await api(broker, '/api/bindings/%2F/e/amq.default/q/bq', { user, method: 'POST', body: { routing_key: 'x' } })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
    expect(await api(broker, '/api/bindings/%2F/e/fx/q/bq', { user, method: 'POST', body: { arguments: 'no' } })).toMatchObject({ status: 400 });

    expect(await api(broker, created.headers.get('location')!, { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, `/api/bindings/%2F/e/hx/q/bq/${encodeURIComponent(propsKey)}`, { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/bindings/%2F/e/fx/e/hx/k', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/bindings/%2F/e/fx/e/hx/k', { user, method: 'DELETE' })).toMatchObject({ status: 404 });
    expect(((await api(broker, '/api/queues/%2F/bq/bindings', { user })).body as { source: string }[]).map((binding) => binding.source)).toEqual(['', 'fx']);
  });

  it('management - a queue made over the API gets a message published over the API, and a WebSocket consumer sees it', async () => {
    const user = admin;
    expect(await api(broker, '/api/exchanges/%2F/news', { user, method: 'PUT', body: { type: 'topic', durable: true } })).toMatchObject({ status: 201 });
    expect(await api(broker, '/api/queues/%2F/inbox', { user, method: 'PUT', body: { durable: true } })).toMatchObject({ status: 201 });
    expect(await api(broker, '/api/bindings/%2F/e/news/q/inbox', { user, method: 'POST', body: { routing_key: 'sport.#' } })).toMatchObject({ status: 201 });
    const publish = (body: unknown) => api(broker, '/api/exchanges/%2F/news/publish', { user, method: 'POST', body });
    expect(await publish({ routing_key: 'weather.today', payload: 'rain', payload_encoding: 'string', properties: {} })).toMatchObject({ status: 200, body: { routed: false } });
    expect(await publish({ routing_key: 'sport.ski', payload: 'goal', payload_encoding: 'string', properties: { delivery_mode: 2, headers: { team: 'red' }, message_id: 'm-1', expiration: '60000' } })).toMatchObject({
      status: 200,
      body: { routed: true },
    });
    expect(await publish({ routing_key: 'sport.ski', payload: Buffer.from('héllo').toString('base64'), payload_encoding: 'base64', properties: {} })).toMatchObject({ body: { routed: true } });
    expect(await publish({ routing_key: 'sport.ski', payload: Buffer.from([0xff, 0xfe]).toString('base64'), payload_encoding: 'base64', properties: {} })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/UTF-8/) } });
    expect(await publish({ routing_key: 'sport.ski', payload: 'x', payload_encoding: 'hex', properties: {} })).toMatchObject({ status: 400 });
    expect(await publish({ routing_key: 'sport.ski', payload: 'x', payload_encoding: 'string' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/key_missing: properties/) } });
    expect(await publish({ routing_key: 'sport.ski', payload: 'x', payload_encoding: 'string', properties: { delivery_mode: 3 } })).toMatchObject({ status: 400 });
    expect(await api(broker, '/api/exchanges/%2F/nope/publish', { user, method: 'POST', body: { routing_key: '', payload: '', payload_encoding: 'string', properties: {} } })).toMatchObject({ status: 404 });
    expect((await api(broker, '/api/queues/%2F/inbox', { user })).body).toMatchObject({ messages_ready: 2 });

    const client = await adminClient(broker);
    try {
      await client.request({ op: 'consume', queue: 'inbox', prefetch: 10 });
      const first = await client.waitFor((frame) => frame.op === 'deliver' && frame.deliveryTag === 1);
      expect(first).toMatchObject({ exchange: 'news', routingKey: 'sport.ski', payload: 'goal', headers: { team: 'red' }, properties: { persistent: true, messageId: 'm-1', expiration: 60000 } });
      expect(await client.waitFor((frame) => frame.op === 'deliver' && frame.deliveryTag === 2)).toMatchObject({ payload: 'héllo' });
    } finally {
      client.close();
    }
  });

  it('management - writes need permissions on the vhost, checked as for clients; monitoring users and administrators without them are refused', async () => {
    const user = mgmt;
    expect(await api(broker, '/api/queues/orders/app.q', { user, method: 'PUT', body: { durable: false } })).toMatchObject({ status: 201 });
    expect(await api(broker, '/api/queues/orders/other', { user, method: 'PUT', body: {} })).toMatchObject({
      status: 401,
      body: { error: 'not_authorised', reason: 'access refused: user "mgmt" may not configure queue "other" in vhost "orders" (configure permission)' },
    });
    expect(await api(broker, '/api/exchanges/orders/other', { user, method: 'PUT', body: { type: 'direct' } })).toMatchObject({ status: 401 });
    // Binding needs write on the queue and read on the exchange; publishing write on the exchange.
    expect(await api(broker, '/api/bindings/orders/e/amq.direct/q/app.q', { user, method: 'POST', body: { routing_key: 'k' } })).toMatchObject({ status: 401, body: { reason: expect.stringMatching(/read exchange "amq.direct"/) } });
    expect(await api(broker, '/api/exchanges/orders/amq.default/publish', { user, method: 'POST', body: { routing_key: 'app.q', payload: 'x', payload_encoding: 'string', properties: {} } })).toMatchObject({
      status: 401,
      body: { reason: expect.stringMatching(/write exchange ""/) },
    });
    expect(await api(broker, '/api/queues/%2F/anything', { user, method: 'PUT', body: {} })).toMatchObject({ status: 401, body: { reason: 'User not authorised to access virtual host' } });
    expect(await api(broker, '/api/queues/orders/app.q/contents', { user, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await api(broker, '/api/queues/orders/app.q', { user, method: 'DELETE' })).toMatchObject({ status: 204 });

    for (const other of [
      ['mon', 'mon-pw'],
      ['boss', 'boss-pw'],
    ] as [string, string][]) {
      expect(await api(broker, '/api/queues/%2F/mine', { user: other, method: 'PUT', body: {} }), other[0]).toMatchObject({
        status: 401,
        body: { error: 'not_authorised', reason: 'User not authorised to access virtual host' },
      });
      expect(await api(broker, '/api/exchanges/%2F/amq.direct/publish', { user: other, method: 'POST', body: { routing_key: '', payload: '', payload_encoding: 'string', properties: {} } })).toMatchObject({ status: 401 });
      // Reading is still theirs.
      expect(await api(broker, '/api/bindings/%2F', { user: other })).toMatchObject({ status: 200 });
    }
    expect(await api(broker, '/api/queues/%2F/mine', { user: ['admin', 'wrong'], method: 'PUT', body: {} })).toMatchObject({ status: 401, body: { error: 'not_authorized' } });
  });

  it('management - definitions made over the API are durable: they survive a restart', async () => {
    const user = admin;
    const first = await startBroker({ users: [{ username: 'admin', password: 'admin-pw' }] });
    await api(first, '/api/exchanges/%2F/keep-x', { user, method: 'PUT', body: { type: 'direct', durable: true } });
    await api(first, '/api/queues/%2F/keep-q', { user, method: 'PUT', body: { durable: true } });
    await api(first, '/api/bindings/%2F/e/keep-x/q/keep-q', { user, method: 'POST', body: { routing_key: 'k' } });
    expect(await api(first, '/api/exchanges/%2F/keep-x/publish', { user, method: 'POST', body: { routing_key: 'k', payload: 'kept', payload_encoding: 'string', properties: { delivery_mode: 2 } } })).toMatchObject({ body: { routed: true } });
    await first.stop();
    const second = await startBroker({ users: [{ username: 'admin', password: 'admin-pw' }] }, [], 0, { dataDir: first.dataDir });
    try {
      expect((await api(second, '/api/queues/%2F/keep-q', { user })).body).toMatchObject({ durable: true, messages_ready: 1 });
      expect((await api(second, '/api/bindings/%2F/e/keep-x/q/keep-q', { user })).body).toEqual([expect.objectContaining({ routing_key: 'k', properties_key: 'k' })]);
    } finally {
      await second.stop();
    }
  });
});

describe('management - alarms and TLS', () => {
  it('management - the alarms health check is 503 "failed" with the reason while an alarm is in force', async () => {
    // A memory watermark every process is above: the alarm starts at the first check.
    const broker = await startBroker({ flow: { memoryHighWatermark: 0.0001, checkIntervalMs: 10 } });
    try {
      let answer = await api(broker, '/api/health/checks/alarms');
      for (let tries = 0; answer.status === 200 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        answer = await api(broker, '/api/health/checks/alarms');
      }
      expect(answer).toMatchObject({ status: 503, body: { status: 'failed', reason: expect.stringMatching(/memory/) } });
    } finally {
      await broker.stop();
    }
  });

  it.skipIf(!hasOpenssl)('management - with TLS the API answers over https:// on the port, and says so in its listeners', async () => {
    const { cert, key } = selfSignedCertificate();
    const broker = await startBroker({ server: { tls: { cert, key } } });
    try {
      const answer = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        httpsGet({ host: 'localhost', port: broker.port, path: '/api/overview', ca: readFileSync(cert) }, (response) => {
          let text = '';
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
        }).on('error', reject);
      });
      expect(answer.status).toBe(200);
      expect((answer.body as { listeners: { protocol: string }[] }).listeners.map((listener) => listener.protocol)).toEqual(['https', 'https/warren', 'https/web-stomp']);
    } finally {
      await broker.stop();
    }
  });
});

const CONNECTION_FIELDS = ['name', 'node', 'type', 'state', 'user', 'vhost', 'protocol', 'peer_host', 'peer_port', 'host', 'port', 'ssl', 'connected_at', 'channels', 'client_properties'];

describe('management - connections and consumers', () => {
  const DEFINITIONS = {
    users: [
      { name: 'mgmt', password_hash: rabbitPasswordHash('mgmt-pw', 'rabbit_password_hashing_sha256'), tags: ['management'] },
      { name: 'mon', password_hash: rabbitPasswordHash('mon-pw', 'rabbit_password_hashing_sha256'), tags: ['monitoring'] },
    ],
    vhosts: [{ name: '/' }, { name: 'orders' }],
    permissions: [{ user: 'mgmt', vhost: 'orders', configure: '.*', write: '.*', read: '.*' }],
    queues: [{ name: 'stomp-q', vhost: '/', durable: false }],
  };
  const admin: [string, string] = ['admin', 'admin-pw'];
  const mgmt: [string, string] = ['mgmt', 'mgmt-pw'];
  const mon: [string, string] = ['mon', 'mon-pw'];
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ users: [{ username: 'admin', password: 'admin-pw' }], definitions: DEFINITIONS });
  });
  afterAll(async () => {
    await broker.stop();
  });
  // Each test starts with no connections: those of the previous one have finished closing.
  beforeEach(async () => {
    for (let tries = 0; tries < 100 && (await connections(admin)).length > 0; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await connections(admin)).toEqual([]);
  });

  type ConnectionJson = Record<string, unknown> & { name: string; user: string; peer_port: number };
  const connections = async (user: [string, string], path = '/api/connections') => (await api(broker, path, { user })).body as ConnectionJson[];
  const path = (name: string) => `/api/connections/${encodeURIComponent(name)}`;
  /** The port the client's socket has on its side: the connection's peer_port. */
  const localPort = (client: RawClient) => (client.socket as unknown as { _socket: { localPort: number } })._socket.localPort;

  async function mgmtClient(): Promise<RawClient> {
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: 'mgmt', password: 'mgmt-pw', vhost: 'orders', clientName: 'orders-app' });
    return client;
  }

  it('management - connections of both protocols are listed with RabbitMQ fields; one is read by its name', async () => {
    const before = Date.now();
    const native = await mgmtClient();
    const stomp = await StompPeer.connect(broker.url, { login: 'admin', passcode: 'admin-pw', host: '/' });
    try {
      const list = await connections(admin);
      expect(list).toHaveLength(2);
      for (const entry of list) expect(Object.keys(entry).sort()).toEqual([...CONNECTION_FIELDS].sort());
      const json = list.find((entry) => entry.protocol === 'Warren/JSON') as ConnectionJson;
      expect(json).toEqual({
        name: `127.0.0.1:${localPort(native)} -> 127.0.0.1:${broker.port}`,
        node: expect.stringMatching(/^warren@/),
        type: 'network',
        state: 'running',
        user: 'mgmt',
        vhost: 'orders',
        protocol: 'Warren/JSON',
        peer_host: '127.0.0.1',
        peer_port: localPort(native),
        host: '127.0.0.1',
        port: broker.port,
        ssl: false,
        connected_at: expect.any(Number),
        channels: 0,
        client_properties: { connection_name: 'orders-app' },
      });
      expect(json.connected_at as number).toBeGreaterThanOrEqual(before - 1000);
      expect(json.connected_at as number).toBeLessThanOrEqual(Date.now());
      expect(list.find((entry) => entry.protocol !== 'Warren/JSON')).toMatchObject({ protocol: 'STOMP 1.2', user: 'admin', vhost: '/', client_properties: {}, peer_host: '127.0.0.1', port: broker.port });
      // Sorted by name.
      expect(list.map((entry) => entry.name)).toEqual(list.map((entry) => entry.name).sort());

      expect(await api(broker, path(json.name), { user: admin })).toMatchObject({ status: 200, body: json });
      expect((await connections(admin, '/api/vhosts/orders/connections')).map((entry) => entry.name)).toEqual([json.name]);
      expect((await connections(admin, '/api/vhosts/%2F/connections')).map((entry) => entry.protocol)).toEqual(['STOMP 1.2']);
      expect(await api(broker, path('127.0.0.1:1 -> 127.0.0.1:2'), { user: admin })).toMatchObject({ status: 404, body: NOT_FOUND });
      expect(await api(broker, '/api/vhosts/nope/connections', { user: admin })).toMatchObject({ status: 404 });
      expect((await api(broker, '/api/overview', { user: admin })).body).toMatchObject({ object_totals: { connections: 2 } });
    } finally {
      native.close();
      await stomp.close();
    }
  });

  it('management - a management user sees and closes only its own connections; monitoring sees all and closes none; an administrator closes any', async () => {
    const own = await mgmtClient();
    const other = await adminClient(broker);
    try {
      const mine = (await connections(mgmt))[0];
      expect((await connections(mgmt)).map((entry) => entry.user)).toEqual(['mgmt']);
      expect((await connections(mgmt, '/api/vhosts/orders/connections')).map((entry) => entry.user)).toEqual(['mgmt']);
      const all = await connections(mon);
      expect(all.map((entry) => entry.user).sort()).toEqual(['admin', 'mgmt']);
      const theirs = all.find((entry) => entry.user === 'admin') as ConnectionJson;
      const refused = { status: 401, body: { error: 'not_authorised', reason: 'User not authorised to access object' } };
      expect(await api(broker, path(theirs.name), { user: mgmt })).toMatchObject(refused);
      expect(await api(broker, path(theirs.name), { user: mgmt, method: 'DELETE' })).toMatchObject(refused);
      expect(await api(broker, path(theirs.name), { user: mon })).toMatchObject({ status: 200, body: { user: 'admin' } });
      expect(await api(broker, path(mine.name), { user: mon, method: 'DELETE' })).toMatchObject(refused);
      expect(other.closeCode).toBeUndefined();

      expect(await api(broker, path(mine.name), { user: mgmt, method: 'DELETE' })).toMatchObject({ status: 204, body: undefined });
      expect(await own.waitForClose()).toBe(4320);
      expect(await api(broker, path(theirs.name), { user: admin, method: 'DELETE' })).toMatchObject({ status: 204 });
      expect(await other.waitForClose()).toBe(4320);
      expect(await connections(admin)).toEqual([]);
    } finally {
      own.close();
      other.close();
    }
  });

  it('management - DELETE closes the socket with code 4320 and the X-Reason text; its unacknowledged deliveries are requeued', async () => {
    const client = await adminClient(broker);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await client.request({ op: 'queue.declare', queue: 'held', durable: false });
    for (let i = 0; i < 3; i++) await client.request({ op: 'publish', routingKey: 'held', payload: i });
    await client.request({ op: 'consume', queue: 'held', prefetch: 2 });
    await client.waitFor((frame) => frame.op === 'deliver' && frame.deliveryTag === 2);
    expect((await api(broker, '/api/queues/%2F/held', { user: admin })).body).toMatchObject({ messages_ready: 1, messages_unacknowledged: 2 });
    const [entry] = await connections(admin);
    const answer = await fetch(`http://127.0.0.1:${broker.port}${path(entry.name)}`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`, 'x-reason': 'maintenance window' },
    });
    expect(answer.status).toBe(204);
    expect(await closed).toEqual({ code: 4320, reason: 'maintenance window' });
    // The close is handled after the socket's closing handshake: wait for the requeue.
    for (let tries = 0; tries < 100 && ((await api(broker, '/api/queues/%2F/held', { user: admin })).body as { messages_ready: number }).messages_ready !== 3; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await api(broker, '/api/queues/%2F/held', { user: admin })).body).toMatchObject({ messages_ready: 3, messages_unacknowledged: 0, consumers: 0 });
    expect(broker.logs).toContainEqual(expect.objectContaining({ msg: 'connection closed by an administrator', reason: 'maintenance window', username: 'admin' }));
  });

  it('management - a STOMP connection closed without X-Reason gets 4320 "Closed via management plugin"', async () => {
    const stomp = await StompPeer.connect(broker.url, { login: 'admin', passcode: 'admin-pw', host: '/' });
    const [entry] = await connections(admin);
    expect(await api(broker, path(entry.name), { user: admin, method: 'DELETE' })).toMatchObject({ status: 204 });
    expect(await stomp.waitForClose()).toBe(4320);
    expect(broker.logs).toContainEqual(expect.objectContaining({ msg: 'connection closed by an administrator', reason: 'Closed via management plugin' }));
  });

  it('management - consumers of both protocols are listed with RabbitMQ fields, filtered by the vhosts the caller sees', async () => {
    const native = await mgmtClient();
    const stomp = await StompPeer.connect(broker.url, { login: 'admin', passcode: 'admin-pw', host: '/' });
    try {
      await native.request({ op: 'queue.declare', queue: 'work', durable: false });
      await native.request({ op: 'consume', queue: 'work', consumerTag: 'c1', prefetch: 5, arguments: { 'x-priority': 3 } });
      await native.request({ op: 'consume', queue: 'work', consumerTag: 'c2', noAck: true, exclusive: false });
      await stomp.subscribe('/amq/queue/stomp-q', { ack: 'client-individual' });
      const nativeName = `127.0.0.1:${localPort(native)} -> 127.0.0.1:${broker.port}`;

      const all = (await api(broker, '/api/consumers', { user: admin })).body as Record<string, unknown>[];
      expect(all).toHaveLength(3);
      expect(all[0]).toMatchObject({ queue: { name: 'stomp-q', vhost: '/' }, ack_required: true, active: true, channel_details: { user: 'admin', peer_host: '127.0.0.1' } });
      expect(all[1]).toEqual({
        consumer_tag: 'c1',
        queue: { name: 'work', vhost: 'orders' },
        channel_details: { connection_name: nativeName, peer_host: '127.0.0.1', peer_port: localPort(native), user: 'mgmt', node: expect.stringMatching(/^warren@/) },
        ack_required: true,
        prefetch_count: 5,
        exclusive: false,
        active: true,
        activity_status: 'up',
        arguments: { 'x-priority': 3 },
      });
      expect(all[2]).toMatchObject({ consumer_tag: 'c2', ack_required: false, arguments: {} });

      expect(((await api(broker, '/api/consumers/orders', { user: admin })).body as { consumer_tag: string }[]).map((c) => c.consumer_tag)).toEqual(['c1', 'c2']);
      // A management user sees the consumers of its vhosts (RabbitMQ filters consumers by vhost, not by user).
      expect(((await api(broker, '/api/consumers', { user: mgmt })).body as { consumer_tag: string }[]).map((c) => c.consumer_tag)).toEqual(['c1', 'c2']);
      expect(await api(broker, '/api/consumers/%2F', { user: mgmt })).toMatchObject({ status: 401, body: { error: 'not_authorised' } });
      expect(await api(broker, '/api/consumers/nope', { user: admin })).toMatchObject({ status: 404 });
      expect(await api(broker, '/api/consumers', { user: admin, method: 'DELETE' })).toMatchObject({ status: 405 });
    } finally {
      native.close();
      await stomp.close();
    }
  });
});
