import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ADMIN_CONFIG as config, api, asSet, RawClient, startBroker, type RunningBroker } from './harness.js';

// docs/management.md, "Importing definitions": POST /api/definitions merges a RabbitMQ export
// into the running broker, all of it or none; export, import, export gives the same document.

const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/rabbitmq-3.10.8-policies-quorum.json', import.meta.url), 'utf8')) as Record<string, unknown[]>;
let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker(config);
});
afterAll(async () => {
  await broker.stop();
});

const admin = (on: RunningBroker, path: string, method = 'GET', body?: unknown) => api(on, path, { user: ADMIN, method, body });

describe('management - definitions import', () => {
  it('management - a RabbitMQ 3.10.8 export with quorum queues, policies and mirroring keys is imported, merged, and in effect', async () => {
    await admin(broker, '/api/queues/%2F/already-here', 'PUT', { durable: true });
    expect(await admin(broker, '/api/definitions', 'POST', FIXTURE)).toMatchObject({ status: 204 });
    expect((await admin(broker, '/api/queues/%2F/already-here')).status).toBe(200);
    await admin(broker, '/api/permissions/prod/admin', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    expect((await admin(broker, '/api/queues/prod/orders')).body).toMatchObject({ type: 'quorum', policy: 'dlx', effective_policy_definition: { 'dead-letter-exchange': 'orders.dlx', 'max-length': 1000 } });
    expect((await admin(broker, '/api/queues/prod/orders.dead')).body).toMatchObject({ type: 'classic', policy: 'ha', arguments: { 'x-queue-mode': 'lazy' } });
    expect(broker.logs).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/policy keys ha-mode, ha-sync-mode \(in 1 policy\) and queue argument x-queue-mode \(on 1 queue\) accepted with no effect/) }));
    expect(broker.logs).toContainEqual(expect.objectContaining({ msg: 'definitions imported', queues: 5, policies: 2, by: 'admin' }));
    // The export's users log in with their passwords, with their permissions.
    const app = await RawClient.open(broker.url);
    expect((await app.request({ op: 'connect', version: 1, username: 'app', password: 'app-pw', vhost: 'prod' })).op).toBe('ok');
    expect((await app.request({ op: 'queue.declare', queue: 'other.q', durable: false })).code).toBe('ACCESS_REFUSED');
    app.socket.close();
    const exported = (await admin(broker, '/api/definitions')).body as Record<string, unknown[]>;
    for (const section of ['users', 'permissions', 'topic_permissions', 'policies', 'exchanges', 'bindings']) {
      expect(asSet(exported[section]), section).toEqual(expect.arrayContaining(asSet(FIXTURE[section])));
    }
    // RabbitMQ 3.10 exports queues without their type; Warren adds it.
    expect(asSet(exported.queues)).toEqual(expect.arrayContaining(asSet(FIXTURE.queues.map((queue) => ({ ...(queue as object), type: (queue as { arguments: Record<string, unknown> }).arguments['x-queue-type'] })))));
  });

  it('management - export, import into another broker, export: the same document', async () => {
    const first = (await admin(broker, '/api/definitions')).body;
    const other = await startBroker(config);
    try {
      expect((await admin(other, '/api/definitions', 'POST', first)).status).toBe(204);
      const second = (await admin(other, '/api/definitions')).body;
      expect(second).toEqual(first);
    } finally {
      await other.stop();
    }
  });

  it('management - one refused entry refuses the import, with every problem named, and nothing of it is applied', async () => {
    const answer = await admin(broker, '/api/definitions', 'POST', {
      vhosts: [{ name: 'never-made' }],
      users: [{ name: 'never-user', password_hash: '', tags: '' }],
      queues: [
        { name: 'never-q', vhost: '/', durable: true, arguments: {} },
        { name: 'bad-q', vhost: '/', durable: true, arguments: { 'x-max-length': -1 } },
        { name: 'already-here', vhost: '/', durable: false, arguments: {} },
      ],
      policies: [{ name: 'bad-p', vhost: '/', pattern: '.', definition: { 'federation-upstream': 'x' } }],
      bindings: [{ source: 'nowhere', vhost: '/', destination: 'never-q' }],
    });
    expect(answer.status).toBe(400);
    const reason = (answer.body as { reason: string }).reason.split('\n');
    expect(reason).toEqual([
      expect.stringMatching(/^the request body: policies\[0\] \(bad-p\): policy "bad-p": "federation-upstream" is not a policy key/),
      expect.stringMatching(/^the request body: queues\[1\] \(bad-q\): queue argument x-max-length must be an integer >= 0/),
      expect.stringMatching(/^the request body: queues\[2\] \(already-here\): queue "already-here" already exists with other properties/),
      expect.stringMatching(/^the request body: bindings\[0\] \(nowhere -> never-q\): exchange "nowhere" does not exist/),
    ]);
    expect((await admin(broker, '/api/vhosts/never-made')).status).toBe(404);
    expect((await admin(broker, '/api/users/never-user')).status).toBe(404);
    expect((await admin(broker, '/api/queues/%2F/never-q')).status).toBe(404);
  });

  it('management - a document that is not definitions is 400 naming the field; only administrators import', async () => {
    expect(await admin(broker, '/api/definitions', 'POST', { queues: [{ durable: true }] })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/queues\[0\]: missing required field "name"/) } });
    expect(await api(broker, '/api/definitions', { user: ADMIN, method: 'POST', rawBody: '{not json' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/not JSON/) } });
    await admin(broker, '/api/users/watcher', 'PUT', { password: 'w', tags: 'monitoring' });
    expect(await api(broker, '/api/definitions', { user: ['watcher', 'w'], method: 'POST', body: { queues: [] } })).toMatchObject({ status: 401, body: { reason: 'Not administrator user' } });
  });

  it('management - a per-vhost import puts every entry in the path vhost and takes no users', async () => {
    await admin(broker, '/api/vhosts/team', 'PUT');
    await admin(broker, '/api/permissions/team/admin', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    const answer = await admin(broker, '/api/definitions/team', 'POST', {
      users: [{ name: 'sneaky', password_hash: '', tags: 'administrator' }],
      queues: [{ name: 'team.q', vhost: 'somewhere-else', durable: true, arguments: {} }],
      exchanges: [{ name: 'team.x', type: 'fanout' }],
      bindings: [{ source: 'team.x', destination: 'team.q' }],
    });
    expect(answer.status).toBe(204);
    expect((await admin(broker, '/api/queues/team/team.q')).status).toBe(200);
    expect((await admin(broker, '/api/bindings/team/e/team.x/q/team.q')).body).toHaveLength(1);
    expect((await admin(broker, '/api/users/sneaky')).status).toBe(404);
    expect((await admin(broker, '/api/definitions/nowhere', 'POST', {})).status).toBe(404);
  });
});
