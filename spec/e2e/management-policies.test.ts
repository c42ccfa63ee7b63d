import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, WarrenError } from '../../src/client/index.js';
import { ADMIN, api, definitionsUser, startBroker, type RunningBroker } from './harness.js';

// docs/management.md, "Policies", through the real process: set, read, clear, their effect on
// queues and exchanges at once, the tags they take, and their survival of a restart.

const POLLY: [string, string] = ['polly', 'polly-pw'];
const MONA: [string, string] = ['mona', 'mona-pw'];
const MANNY: [string, string] = ['manny', 'manny-pw'];
const NOT_FOUND = { error: 'Object Not Found', reason: 'Not Found' };

let broker: RunningBroker;
beforeAll(async () => {
  const all = { vhost: '/', configure: '.*', write: '.*', read: '.*' };
  broker = await startBroker({
    definitions: {
      users: [definitionsUser(...ADMIN, ['administrator']), definitionsUser(...POLLY, ['policymaker']), definitionsUser(...MONA, ['monitoring']), definitionsUser(...MANNY, ['management'])],
      permissions: ['admin', 'polly', 'mona', 'manny'].map((name) => ({ ...all, user: name })),
    },
  });
});
afterAll(async () => {
  await broker.stop();
});

const setPolicy = (name: string, body: unknown, as: [string, string] = ADMIN) => api(broker, `/api/policies/%2F/${name}`, { user: as, method: 'PUT', body });

describe('management - policies', () => {
  it('management - a policy is created (201), replaced (204), listed, read and cleared as RabbitMQ does', async () => {
    const body = { pattern: '^crud\\.', definition: { 'max-length': 5, 'ha-mode': 'all' }, priority: 2, 'apply-to': 'queues' };
    expect((await setPolicy('crud', body)).status).toBe(201);
    expect((await setPolicy('crud', { ...body, priority: 3 })).status).toBe(204);
    const view = { vhost: '/', name: 'crud', pattern: '^crud\\.', 'apply-to': 'queues', definition: { 'max-length': 5, 'ha-mode': 'all' }, priority: 3 };
    expect(await api(broker, '/api/policies/%2F/crud', { user: ADMIN })).toMatchObject({ status: 200, body: view });
    expect((await api(broker, '/api/policies', { user: ADMIN })).body).toContainEqual(view);
    expect((await api(broker, '/api/policies/%2F', { user: ADMIN })).body).toContainEqual(view);
    expect(broker.logs.some((line) => line.msg === 'policy changed' && line.policy === 'crud' && line.user === 'admin')).toBe(true);
    expect((await api(broker, '/api/policies/%2F/crud', { user: ADMIN, method: 'DELETE' })).status).toBe(204);
    expect(await api(broker, '/api/policies/%2F/crud', { user: ADMIN })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await api(broker, '/api/policies/%2F/crud', { user: ADMIN, method: 'DELETE' })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await api(broker, '/api/policies/nowhere/crud', { user: ADMIN, method: 'PUT', body })).toMatchObject({ status: 404, body: NOT_FOUND });
  });

  it('management - an invalid policy is 400 with a reason that says what to change', async () => {
    const bad = async (body: unknown) => setPolicy('bad', body);
    expect(await bad({ definition: { 'max-length': 1 } })).toMatchObject({ status: 400, body: { error: 'bad_request', reason: expect.stringMatching(/pattern is required/) } });
    expect(await bad({ pattern: '(', definition: { 'max-length': 1 } })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/not a valid regular expression/) } });
    expect(await bad({ pattern: '.', definition: { foo: 1 } })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/"foo" is not a policy key/) } });
    expect(await bad({ pattern: '.', definition: { 'message-ttl': 'soon' } })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/message-ttl must be an integer/) } });
    expect(await bad({ pattern: '.', definition: { 'max-length': 1 }, priority: 'high' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/priority must be an integer/) } });
    expect(await bad({ pattern: '.', definition: { 'max-length': 1 }, 'apply-to': 'nothing' })).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/apply-to "nothing"/) } });
    expect((await api(broker, '/api/policies/%2F/bad', { user: ADMIN })).status).toBe(404);
  });

  it('management - tags: policymakers set and read; monitoring and management users only list', async () => {
    const body = { pattern: '^tags$', definition: { 'max-length': 1 } };
    expect((await setPolicy('by-polly', body, POLLY)).status).toBe(201);
    const refused = { status: 401, body: { error: 'not_authorised', reason: 'User not authorised to access object' } };
    expect(await setPolicy('by-mona', body, MONA)).toMatchObject(refused);
    expect(await setPolicy('by-manny', body, MANNY)).toMatchObject(refused);
    expect(await api(broker, '/api/policies/%2F/by-polly', { user: MONA })).toMatchObject(refused);
    expect(await api(broker, '/api/policies/%2F/by-polly', { user: MANNY, method: 'DELETE' })).toMatchObject(refused);
    expect((await api(broker, '/api/policies', { user: MANNY })).body).toContainEqual(expect.objectContaining({ name: 'by-polly' }));
    expect((await api(broker, '/api/policies/%2F/by-polly', { user: POLLY, method: 'DELETE' })).status).toBe(204);
  });

  it('management - a queue shows its policy and effective definition; an exchange its policy', async () => {
    await api(broker, '/api/queues/%2F/shown', { user: ADMIN, method: 'PUT', body: { arguments: { 'x-max-length': 100 } } });
    await api(broker, '/api/exchanges/%2F/shown.x', { user: ADMIN, method: 'PUT', body: { type: 'fanout' } });
    expect((await api(broker, '/api/queues/%2F/shown', { user: ADMIN })).body).toMatchObject({ policy: null, effective_policy_definition: {}, type: 'classic' });
    await setPolicy('show', { pattern: '^shown', definition: { 'max-length': 7, 'alternate-exchange': 'ae' } });
    expect((await api(broker, '/api/queues/%2F/shown', { user: ADMIN })).body).toMatchObject({
      policy: 'show',
      effective_policy_definition: { 'max-length': 7, 'alternate-exchange': 'ae' },
      arguments: { 'x-max-length': 100 },
    });
    expect((await api(broker, '/api/exchanges/%2F/shown.x', { user: ADMIN })).body).toMatchObject({ policy: 'show' });
    expect((await api(broker, '/api/exchanges/%2F/amq.direct', { user: ADMIN })).body).not.toHaveProperty('policy');
  });

  it('management - a policy changed while messages flow limits the queue at once, and clearing it lifts the limit', async () => {
    const client = await connect(broker.url, { username: ADMIN[0], password: ADMIN[1] });
    await client.declareQueue('flow', { durable: true });
    let published = 0;
    let rejected = 0;
    let running = true;
    const publishing = (async () => {
      while (running) {
        try {
          await client.publish('', 'flow', { n: published }, { properties: { persistent: true } });
          published++;
        } catch (error) {
          if (!(error instanceof WarrenError) || error.code !== 'REJECTED') throw error;
          rejected++;
        }
      }
    })();
    const depth = async () => ((await api(broker, '/api/queues/%2F/flow', { user: ADMIN })).body as { messages_ready: number }).messages_ready;
    const until = async (condition: () => boolean | Promise<boolean>) => {
      while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    try {
      await until(async () => (await depth()) >= 20);
      // Lower than the queue's depth: drop-head (the default overflow) trims it at once.
      await setPolicy('flow-limit', { pattern: '^flow$', definition: { 'max-length': 10 } });
      expect(await depth()).toBeLessThanOrEqual(10);
      // Now refuse instead: the publisher's confirms turn negative while the queue stays at 10.
      await setPolicy('flow-limit', { pattern: '^flow$', definition: { 'max-length': 10, overflow: 'reject-publish' } });
      await until(() => rejected >= 5);
      expect(await depth()).toBe(10);
      await api(broker, '/api/policies/%2F/flow-limit', { user: ADMIN, method: 'DELETE' });
      const acceptedBefore = published;
      await until(() => published >= acceptedBefore + 20);
    } finally {
      running = false;
      await publishing;
    }
    expect(await depth()).toBeGreaterThanOrEqual(30);
    await client.close();
  });

  it('management - policies survive a restart and apply to the recovered queues', async () => {
    const restarted = await startBroker({}, [], 0, {});
    try {
      const base = { user: undefined };
      expect((await api(restarted, '/api/policies/%2F/kept', { ...base, method: 'PUT', body: { pattern: '^kept$', definition: { 'max-length': 3 } } })).status).toBe(201);
      await api(restarted, '/api/queues/%2F/kept', { method: 'PUT', body: { durable: true } });
    } finally {
      await restarted.stop();
    }
    const again = await startBroker({}, [], 0, { dataDir: restarted.dataDir });
    try {
      expect((await api(again, '/api/policies/%2F/kept')).body).toMatchObject({ name: 'kept', definition: { 'max-length': 3 } });
      expect((await api(again, '/api/queues/%2F/kept')).body).toMatchObject({ policy: 'kept' });
    } finally {
      await again.stop();
    }
  });
});
