import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { ADMIN, ADMIN_CONFIG as config, api, RawClient, startBroker, type RunningBroker } from './harness.js';

// docs/management.md, "Users, permissions and vhosts": the writes, through the real process; what
// they change for logins at once, what a deleted user or vhost takes with it, and that the changes
// survive a restart.

const NOT_FOUND = { error: 'Object Not Found', reason: 'Not Found' };
const SHA256 = 'rabbit_password_hashing_sha256';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker(config);
});
afterAll(async () => {
  await broker.stop();
});

const as = (user: [string, string], path: string, method = 'GET', body?: unknown) => api(broker, path, { user, method, body });
const admin = (path: string, method = 'GET', body?: unknown) => as(ADMIN, path, method, body);

/** Logs in over the protocol; the close code when refused, 'ok' when let in. */
async function login(user: string, password: string, vhost = '/'): Promise<'ok' | number | undefined> {
  const client = await RawClient.open(broker.url);
  const reply = await client.request({ op: 'connect', version: 1, username: user, password, vhost }).catch(() => undefined);
  await client.waitFor(() => client.closeCode !== undefined, 300).catch(() => undefined);
  const result = reply?.op === 'ok' && client.closeCode === undefined ? 'ok' : client.closeCode;
  client.socket.close();
  return result;
}

describe('management - users', () => {
  it('management - a user made with a password logs in at once; without permissions it may not use a vhost', async () => {
    expect((await admin('/api/users/ann', 'PUT', { password: 'ann-pw', tags: 'management' })).status).toBe(201);
    expect((await admin('/api/users/ann')).body).toMatchObject({ name: 'ann', hashing_algorithm: SHA256, tags: ['management'], limits: {} });
    expect(await login('ann', 'ann-pw')).toBe(4403);
    expect((await admin('/api/permissions/%2F/ann', 'PUT', { configure: '^ann\\.', write: '.*', read: '.*' })).status).toBe(201);
    expect(await login('ann', 'ann-pw')).toBe('ok');
    expect(await login('ann', 'wrong')).toBe(4401);
    expect((await admin('/api/permissions/%2F/ann')).body).toEqual({ user: 'ann', vhost: '/', configure: '^ann\\.', write: '.*', read: '.*' });
    // Replacing: 204, and the new password is the one that works.
    expect((await admin('/api/users/ann', 'PUT', { password: 'new-pw', tags: ['management', 'monitoring'] })).status).toBe(204);
    expect(await login('ann', 'new-pw')).toBe('ok');
    expect(await login('ann', 'ann-pw')).toBe(4401);
    expect((await as(['ann', 'new-pw'], '/api/whoami')).body).toEqual({ name: 'ann', tags: ['management', 'monitoring'] });
  });

  it('management - a user from a password_hash, and one with neither that cannot log in', async () => {
    const hash = rabbitPasswordHash('bob-pw', 'rabbit_password_hashing_sha512');
    expect((await admin('/api/users/bob', 'PUT', { password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha512', tags: '' })).status).toBe(201);
    await admin('/api/permissions/%2F/bob', 'PUT', { configure: '', write: '', read: '.*' });
    expect(await login('bob', 'bob-pw')).toBe('ok');
    expect((await admin('/api/users/nopass', 'PUT', { tags: '' })).status).toBe(201);
    expect((await admin('/api/users/nopass')).body).toMatchObject({ password_hash: '' });
  });

  it('management - deleting a user closes its connections and takes its permissions with it', async () => {
    await admin('/api/users/carl', 'PUT', { password: 'carl-pw', tags: '' });
    await admin('/api/permissions/%2F/carl', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    await admin('/api/topic-permissions/%2F/carl', 'PUT', { exchange: 'amq.topic', write: '^carl\\.', read: '.*' });
    const client = await RawClient.open(broker.url);
    expect((await client.request({ op: 'connect', version: 1, username: 'carl', password: 'carl-pw' })).op).toBe('ok');
    expect((await admin('/api/users/carl', 'DELETE')).status).toBe(204);
    await client.waitFor(() => client.closeCode !== undefined).catch(() => undefined);
    expect(client.closeCode).toBe(4320);
    expect(await admin('/api/users/carl')).toMatchObject({ status: 404, body: NOT_FOUND });
    expect((await admin('/api/permissions')).body).not.toContainEqual(expect.objectContaining({ user: 'carl' }));
    expect((await admin('/api/topic-permissions')).body).not.toContainEqual(expect.objectContaining({ user: 'carl' }));
    expect(await admin('/api/users/carl', 'DELETE')).toMatchObject({ status: 404 });
    expect(broker.logs).toContainEqual(expect.objectContaining({ msg: 'user deleted', user: 'carl', by: 'admin' }));
  });

  it('management - bad user and permission writes are 400 with a reason; only administrators write', async () => {
    const reason = (status: number, pattern: RegExp) => ({ status, body: { error: 'bad_request', reason: expect.stringMatching(pattern) } });
    expect(await admin('/api/users/x', 'PUT', { password_hash: 'not base64!', hashing_algorithm: SHA256 })).toMatchObject(reason(400, /user "x": the hash is not base64/));
    expect(await admin('/api/users/x', 'PUT', { password_hash: '', hashing_algorithm: 'md4' })).toMatchObject(reason(400, /unknown hashing_algorithm "md4"/));
    expect(await admin('/api/users/x', 'PUT', { password: 'a', password_hash: '' })).toMatchObject(reason(400, /not both/));
    expect(await admin('/api/users/x', 'PUT', { tags: 5 })).toMatchObject(reason(400, /tags must be/));
    expect(await admin('/api/permissions/%2F/ghost', 'PUT', { configure: '.*', write: '.*', read: '.*' })).toMatchObject(reason(400, /user "ghost" does not exist/));
    expect(await admin('/api/permissions/nowhere/admin', 'PUT', { configure: '.*', write: '.*', read: '.*' })).toMatchObject(reason(400, /vhost "nowhere" does not exist/));
    expect(await admin('/api/permissions/%2F/admin', 'PUT', { configure: '.*' })).toMatchObject(reason(400, /write is required/));
    expect(await admin('/api/permissions/%2F/bob', 'PUT', { configure: '(', write: '.*', read: '.*' })).toMatchObject(reason(400, /configure permission pattern "\(" is not a usable regular expression/));
    // bob keeps what he had.
    expect((await admin('/api/permissions/%2F/bob')).body).toMatchObject({ configure: '', read: '.*' });
    await admin('/api/users/mona', 'PUT', { password: 'mona-pw', tags: 'monitoring' });
    await admin('/api/permissions/%2F/mona', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    expect(await as(['mona', 'mona-pw'], '/api/users/y', 'PUT', { password: 'y' })).toMatchObject({ status: 401, body: { error: 'not_authorised', reason: 'Not administrator user' } });
    expect((await admin('/api/users/y')).status).toBe(404);
  });
});

describe('management - vhosts', () => {
  it('management - a vhost is created and deleted; deleting it closes its connections and removes its permissions and queues', async () => {
    expect((await admin('/api/vhosts/staging', 'PUT', { description: 'ignored' })).status).toBe(201);
    expect((await admin('/api/vhosts/staging', 'PUT')).status).toBe(204);
    await admin('/api/permissions/staging/admin', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    expect((await admin('/api/queues/staging/jobs', 'PUT', { durable: true })).status).toBe(201);
    const client = await RawClient.open(broker.url);
    expect((await client.request({ op: 'connect', version: 1, username: 'admin', password: 'admin-pw', vhost: 'staging' })).op).toBe('ok');
    expect((await admin('/api/vhosts/staging', 'DELETE')).status).toBe(204);
    await client.waitFor(() => client.closeCode !== undefined).catch(() => undefined);
    expect(client.closeCode).toBe(4320);
    expect(await admin('/api/vhosts/staging')).toMatchObject({ status: 404 });
    expect((await admin('/api/permissions')).body).not.toContainEqual(expect.objectContaining({ vhost: 'staging' }));
    // Made again, it is empty.
    await admin('/api/vhosts/staging', 'PUT');
    await admin('/api/permissions/staging/admin', 'PUT', { configure: '.*', write: '.*', read: '.*' });
    expect((await admin('/api/queues/staging')).body).toEqual([]);
    expect(await admin('/api/vhosts/%2F', 'DELETE')).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/cannot be deleted/) } });
    expect(await admin('/api/vhosts/nowhere', 'DELETE')).toMatchObject({ status: 404 });
  });

  it('management - users, permissions and vhosts made through the API survive a restart, kept in accounts.json', async () => {
    const first = await startBroker(config);
    let dataDir: string;
    try {
      dataDir = first.dataDir;
      const on = (path: string, method = 'GET', body?: unknown) => api(first, path, { user: ADMIN, method, body });
      await on('/api/vhosts/kept', 'PUT');
      await on('/api/users/dora', 'PUT', { password: 'dora-pw', tags: 'management' });
      await on('/api/permissions/kept/dora', 'PUT', { configure: '.*', write: '.*', read: '.*' });
      await on('/api/topic-permissions/kept/dora', 'PUT', { exchange: 'amq.topic', write: '^dora\\.', read: '.*' });
      const file = JSON.parse(readFileSync(join(dataDir, 'accounts.json'), 'utf8')) as { users: { name: string }[] };
      expect(file.users.map((user) => user.name).sort()).toEqual(['admin', 'dora']);
    } finally {
      await first.stop('SIGKILL');
    }
    const second = await startBroker(config, [], 0, { dataDir });
    try {
      const on = (path: string) => api(second, path, { user: ['dora', 'dora-pw'] });
      expect((await on('/api/whoami')).body).toEqual({ name: 'dora', tags: ['management'] });
      expect((await api(second, '/api/topic-permissions/kept/dora', { user: ADMIN })).body).toEqual([{ user: 'dora', vhost: 'kept', exchange: 'amq.topic', write: '^dora\\.', read: '.*' }]);
      expect((await on('/api/vhosts')).body).toEqual([expect.objectContaining({ name: 'kept' })]);
    } finally {
      await second.stop();
    }
  });
});
