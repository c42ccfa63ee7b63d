import { describe, expect, it } from 'vitest';
import { AccountBook, AccountError, FULL_ACCESS } from '../../src/auth/index.js';
import { hashPassword, rabbitPasswordHash } from '../../src/auth/passwords.js';

const SHA256 = 'rabbit_password_hashing_sha256' as const;
const user = (name: string) => ({ name, passwordHash: rabbitPasswordHash('pw', SHA256), hashingAlgorithm: SHA256, tags: ['management'] });
const all = (user: string, vhost = '/') => ({ user, vhost, configure: '.*', write: '.*', read: '.*' });

describe('account book - users and permissions as they change', () => {
  it('account book - a user logs in with the vhosts it has permissions on, recompiled on every change', () => {
    const book = new AccountBook();
    book.putUser(user('ann'));
    expect(book.get('ann')?.vhosts.size).toBe(0);
    book.putPermission({ user: 'ann', vhost: '/', configure: '^ann\\.', write: '.*', read: '.*' });
    const access = book.get('ann')?.vhosts.get('/');
    expect(access?.configure('ann.q')).toBe(true);
    expect(access?.configure('bob.q')).toBe(false);
    book.putTopicPermission({ user: 'ann', vhost: '/', exchange: 'amq.topic', write: '^ann\\.', read: '.*' });
    expect(book.get('ann')?.vhosts.get('/')?.writeTopic('amq.topic', 'bob.x')).toBe(false);
    expect(book.deleteTopicPermissions('ann', '/')).toBe(true);
    expect(book.get('ann')?.vhosts.get('/')?.writeTopic('amq.topic', 'bob.x')).toBe(true);
    expect(book.deletePermission('ann', '/')).toBe(true);
    expect(book.get('ann')?.vhosts.has('/')).toBe(false);
  });

  it('account book - .* everywhere without topic permissions is full access, the checks skipped', () => {
    const book = new AccountBook({ users: [user('root')], permissions: [all('root')], topicPermissions: [] });
    expect(book.get('root')?.vhosts.get('/')).toBe(FULL_ACCESS);
  });

  it('account book - a refused change leaves what was there', () => {
    const book = new AccountBook({ users: [user('ann')], permissions: [all('ann')], topicPermissions: [] });
    expect(() => book.putPermission({ ...all('ann'), read: '(' })).toThrow(AccountError);
    expect(book.permissionsOf()).toEqual([all('ann')]);
    expect(book.get('ann')?.vhosts.get('/')).toBe(FULL_ACCESS);
    expect(() => book.putPermission(all('ghost'))).toThrow(/user "ghost" does not exist/);
    expect(() => book.putUser({ ...user('bad'), passwordHash: '!!' })).toThrow(/user "bad": the hash is not base64/);
    expect(book.user('bad')).toBeUndefined();
  });

  it('account book - deleting a user takes its permissions; deleting a vhost takes the permissions on it', () => {
    const book = new AccountBook({ users: [user('ann'), user('bob')], permissions: [all('ann'), all('bob'), all('bob', 'prod')], topicPermissions: [] });
    book.putTopicPermission({ user: 'ann', vhost: '/', exchange: 'x', write: '.*', read: '.*' });
    expect(book.deleteUser('ann')).toBe(true);
    expect(book.get('ann')).toBeUndefined();
    expect(book.snapshot().topicPermissions).toEqual([]);
    book.deleteVhost('prod');
    expect(book.permissionsOf()).toEqual([all('bob')]);
    expect(book.get('bob')?.vhosts.has('prod')).toBe(false);
    expect(book.deleteUser('ann')).toBe(false);
  });

  it('account book - knows its costliest slow hash, for the decoy an unknown name is checked against', async () => {
    const book = new AccountBook();
    expect(book.slowHash).toBeUndefined();
    const made = await hashPassword('pw');
    book.putUser({ name: 's', passwordHash: made.hash, hashingAlgorithm: made.algorithm, tags: [] });
    expect(book.slowHash).toBe(made.algorithm);
    const scrypt = await hashPassword('pw', 'warren_password_hashing_scrypt');
    book.putUser({ name: 't', passwordHash: scrypt.hash, hashingAlgorithm: scrypt.algorithm, tags: [] });
    expect(book.slowHash).toBe('warren_password_hashing_scrypt');
    book.putUser(user('t'));
    book.deleteUser('s');
    expect(book.slowHash).toBeUndefined();
  });
});
