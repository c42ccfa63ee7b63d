import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitPasswordHash, verifyPassword } from '../../src/auth/passwords.js';
import { ADMIN, asSet, startBroker, type RunningBroker } from './harness.js';

// docs/management.md, "Users, permissions and definitions", through the real process: the exports
// keep the original hashes and regexes, are for administrators only, and load back unchanged.

const FIXTURE = fileURLToPath(new URL('../fixtures/rabbitmq-3.10.8-export.json', import.meta.url));
const MONA: [string, string] = ['mona', 'mona-pw'];
const NOT_FOUND = { error: 'Object Not Found', reason: 'Not Found' };
const SHA256 = 'rabbit_password_hashing_sha256';

type Json = Record<string, unknown>;

async function get(broker: RunningBroker, path: string, user: [string, string] = ADMIN): Promise<{ status: number; text: string; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${broker.port}${path}`, { headers: { authorization: `Basic ${Buffer.from(user.join(':')).toString('base64')}` } });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function put(broker: RunningBroker, path: string, body: unknown): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${broker.port}${path}`, {
    method: path.includes('/bindings/') ? 'POST' : 'PUT',
    headers: { authorization: `Basic ${Buffer.from(ADMIN.join(':')).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.text();
  return response.status;
}

describe('management - users, permissions and definitions', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    // The plain config user admin, a monitoring user mona from the config's definitions, and the fixture's users.
    broker = await startBroker(
      {
        users: [{ username: 'admin', password: 'admin-pw' }],
        definitions: {
          users: [{ name: 'mona', password_hash: rabbitPasswordHash('mona-pw', SHA256), hashing_algorithm: SHA256, tags: ['monitoring'] }],
          permissions: [{ user: 'mona', vhost: '/', configure: '', write: '', read: '.*' }],
        },
      },
      ['--definitions', FIXTURE],
    );
    // Objects an export leaves out: a transient queue and exchange, and the bindings to or from them.
    expect(await put(broker, '/api/queues/%2F/scratch', { durable: false })).toBe(201);
    expect(await put(broker, '/api/exchanges/%2F/passing', { type: 'fanout', durable: false })).toBe(201);
    expect(await put(broker, '/api/bindings/%2F/e/events/q/scratch', { routing_key: 'x' })).toBe(201);
    expect(await put(broker, '/api/bindings/%2F/e/passing/q/bob.inbox', {})).toBe(201);
    // And ones it keeps: a durable internal headers exchange, and a binding with arguments.
    expect(await put(broker, '/api/exchanges/%2F/audit', { type: 'headers', internal: true, arguments: { 'alternate-exchange': 'none' } })).toBe(201);
    expect(await put(broker, '/api/bindings/%2F/e/audit/q/bob.inbox', { routing_key: '', arguments: { 'x-match': 'any', kind: 'audit' } })).toBe(201);
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('management - GET /api/users lists every user with its hash, algorithm, tags and limits; a plain config user as a SHA-256 hash', async () => {
    const answer = await get(broker, '/api/users');
    expect(answer.status).toBe(200);
    const users = answer.body as Json[];
    expect(users.map((user) => user.name)).toEqual(['admin', 'alice', 'bob', 'guest', 'mona']);
    expect(users[2]).toEqual({ name: 'bob', password_hash: 'ydJB29FHtp30QCEhHVAAVf9o4Vn7X1HppAfP3ayuxmRiJCME', hashing_algorithm: SHA256, tags: [], limits: {} });
    const admin = users[0];
    expect(admin).toMatchObject({ hashing_algorithm: SHA256, tags: ['administrator'], limits: {} });
    expect(await verifyPassword('admin-pw', admin.password_hash as string, SHA256)).toBe(true);
    expect(answer.text).not.toContain('admin-pw');
  });

  it('management - GET /api/users/{name} and its permissions and topic permissions; unknown users are 404', async () => {
    expect(await get(broker, '/api/users/alice')).toMatchObject({ status: 200, body: { name: 'alice', tags: ['management'], hashing_algorithm: SHA256, limits: {} } });
    expect(await get(broker, '/api/users/alice/permissions')).toMatchObject({
      status: 200,
      body: [
        { user: 'alice', vhost: '/', configure: '^alice\\.', write: '^(alice\\..*|events)$', read: '^(alice\\..*|events)$' },
        { user: 'alice', vhost: 'prod', configure: '^alice\\.', write: '^alice\\.', read: '^alice\\.' },
      ],
    });
    expect(await get(broker, '/api/users/alice/topic-permissions')).toMatchObject({
      status: 200,
      body: [{ user: 'alice', vhost: '/', exchange: 'events', write: '^user\\.{username}\\.', read: '^user\\.{username}\\.' }],
    });
    expect(await get(broker, '/api/users/bob/topic-permissions')).toMatchObject({ status: 200, body: [] });
    for (const path of ['/api/users/nobody', '/api/users/nobody/permissions', '/api/users/nobody/topic-permissions']) {
      expect(await get(broker, path)).toMatchObject({ status: 404, body: NOT_FOUND });
    }
  });

  it('management - GET /api/permissions and /api/topic-permissions, by vhost and user, sorted by vhost then user', async () => {
    const all = (await get(broker, '/api/permissions')).body as Json[];
    expect(all.map((entry) => `${entry.vhost as string}:${entry.user as string}`)).toEqual(['/:admin', '/:alice', '/:bob', '/:guest', '/:mona', 'prod:alice', 'prod:guest']);
    expect(all[0]).toEqual({ user: 'admin', vhost: '/', configure: '.*', write: '.*', read: '.*' });
    expect(await get(broker, '/api/permissions/prod/alice')).toMatchObject({ status: 200, body: { user: 'alice', vhost: 'prod', configure: '^alice\\.' } });
    expect(await get(broker, '/api/topic-permissions')).toMatchObject({ status: 200, body: [{ user: 'alice', vhost: '/', exchange: 'events' }] });
    expect(await get(broker, '/api/topic-permissions/%2F/alice')).toMatchObject({ status: 200, body: [{ user: 'alice', exchange: 'events' }] });
    const prod = (await get(broker, '/api/vhosts/prod/permissions')).body as Json[];
    expect(prod.map((entry) => entry.user)).toEqual(['alice', 'guest']);
    expect(await get(broker, '/api/vhosts/%2F/topic-permissions')).toMatchObject({ status: 200, body: [{ user: 'alice' }] });
    expect(await get(broker, '/api/vhosts/prod/topic-permissions')).toMatchObject({ status: 200, body: [] });
    for (const path of [
      '/api/permissions/prod/bob',
      '/api/permissions/nope/alice',
      '/api/permissions/prod/nobody',
      '/api/topic-permissions/prod/alice',
      '/api/topic-permissions/nope/alice',
      '/api/vhosts/nope/permissions',
      '/api/vhosts/nope/topic-permissions',
      '/api/definitions/nope',
    ]) {
      expect(await get(broker, path), path).toMatchObject({ status: 404, body: NOT_FOUND });
    }
  });

  it('management - users, permissions and definitions are for administrators only: 401 not_authorised', async () => {
    expect(await get(broker, '/api/whoami', MONA)).toMatchObject({ status: 200, body: { name: 'mona', tags: ['monitoring'] } });
    for (const path of [
      '/api/users',
      '/api/users/mona',
      '/api/users/mona/permissions',
      '/api/users/mona/topic-permissions',
      '/api/permissions',
      '/api/permissions/%2F/mona',
      '/api/topic-permissions',
      '/api/topic-permissions/%2F/alice',
      '/api/vhosts/%2F/permissions',
      '/api/vhosts/%2F/topic-permissions',
      '/api/definitions',
      '/api/definitions/%2F',
    ]) {
      expect(await get(broker, path, MONA), path).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: 'Not administrator user' } });
    }
  });

  it('management - GET /api/definitions exports users, vhosts, permissions and the durable topology, without built-in or transient objects', async () => {
    const answer = await get(broker, '/api/definitions');
    expect(answer.status).toBe(200);
    const body = answer.body as Json;
    expect(body).toMatchObject({ product_name: 'Warren', parameters: [], global_parameters: [], policies: [] });
    expect(body.rabbit_version).toBe(body.product_version);
    expect(body.rabbitmq_version).toBe(body.product_version);
    expect(answer.text).not.toContain('admin-pw');
    expect(body.users).toEqual((await get(broker, '/api/users')).body);
    expect(body.permissions).toEqual((await get(broker, '/api/permissions')).body);
    expect(body.topic_permissions).toEqual((await get(broker, '/api/topic-permissions')).body);
    expect(body.vhosts).toEqual([
      { name: '/', limits: [], metadata: { description: '', tags: [] } },
      { name: 'prod', limits: [], metadata: { description: '', tags: [] } },
    ]);
    expect(body.queues).toEqual([
      { name: 'alice.inbox', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' }, type: 'classic' },
      { name: 'bob.inbox', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' }, type: 'classic' },
      { name: 'alice.prod', vhost: 'prod', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' }, type: 'classic' },
    ]);
    expect(body.exchanges).toEqual([
      { name: 'audit', vhost: '/', type: 'headers', durable: true, auto_delete: false, internal: true, arguments: { 'alternate-exchange': 'none' } },
      { name: 'events', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
    ]);
    expect(body.bindings).toEqual([
      { source: 'audit', vhost: '/', destination: 'bob.inbox', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'any', kind: 'audit' } },
      { source: 'events', vhost: '/', destination: 'alice.inbox', destination_type: 'queue', routing_key: 'user.alice.#', arguments: {} },
    ]);
  });

  it('management - GET /api/definitions/{vhost} is the per-vhost export: the topology without vhost fields, users or permissions', async () => {
    const answer = await get(broker, '/api/definitions/%2F');
    expect(answer.status).toBe(200);
    const body = answer.body as Json;
    expect(Object.keys(body).sort()).toEqual(['bindings', 'exchanges', 'parameters', 'policies', 'product_name', 'product_version', 'queues', 'rabbit_version', 'rabbitmq_version']);
    expect((body.queues as Json[]).map((queue) => queue.name)).toEqual(['alice.inbox', 'bob.inbox']);
    expect(body.exchanges).toEqual([
      { name: 'audit', type: 'headers', durable: true, auto_delete: false, internal: true, arguments: { 'alternate-exchange': 'none' } },
      { name: 'events', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
    ]);
    expect((body.bindings as Json[])[0]).toEqual({ source: 'audit', destination: 'bob.inbox', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'any', kind: 'audit' } });
    expect(await get(broker, '/api/definitions/prod')).toMatchObject({
      status: 200,
      body: { queues: [{ name: 'alice.prod', durable: true, auto_delete: false, arguments: {}, type: 'classic' }], exchanges: [], bindings: [] },
    });
  });

  it('management - an export loads back with --definitions unchanged', async () => {
    const first = (await get(broker, '/api/definitions')).body as Json;
    const dir = mkdtempSync(join(tmpdir(), 'warren-export-'));
    const file = join(dir, 'export.json');
    writeFileSync(file, JSON.stringify(first));
    // No plain users this time: admin logs in with the hash the export gave it.
    const second = await startBroker({}, ['--definitions', file]);
    try {
      const answer = await get(second, '/api/definitions');
      expect(answer.status).toBe(200);
      const again = answer.body as Json;
      for (const section of ['users', 'vhosts', 'permissions', 'topic_permissions', 'queues', 'exchanges', 'bindings']) {
        expect(asSet(again[section]), section).toEqual(asSet(first[section]));
      }
      expect(second.logs.filter((entry) => entry.level === 40)).toEqual([]);
    } finally {
      await second.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
