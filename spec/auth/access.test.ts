import { describe, expect, it } from 'vitest';
import { describeBadRegex, FULL_ACCESS, regexAccess, RegexError, type PermissionRegexes } from '../../src/auth/access.js';

const ALICE = { username: 'alice', vhost: '/' };
const ALL: PermissionRegexes = { configure: '.*', write: '.*', read: '.*' };

describe('access - permissions', () => {
  it('access - configure, write and read each use their own regex', () => {
    const access = regexAccess({ configure: '^tmp\\.', write: '^orders$', read: '^reports' }, [], ALICE);
    expect(access.configure('tmp.a')).toBe(true);
    expect(access.configure('orders')).toBe(false);
    expect(access.write('orders')).toBe(true);
    expect(access.write('tmp.a')).toBe(false);
    expect(access.read('reports.daily')).toBe(true);
    expect(access.read('orders')).toBe(false);
  });

  it('access - patterns are searched unanchored, as re:run does', () => {
    const access = regexAccess({ configure: 'gen', write: '^amq\\.gen', read: 'log$' }, [], ALICE);
    expect(access.configure('amq.gen-123')).toBe(true);
    expect(access.write('amq.gen-123')).toBe(true);
    expect(access.write('x.amq.gen')).toBe(false);
    expect(access.read('audit.log')).toBe(true);
    expect(access.read('log.audit')).toBe(false);
  });

  it('access - ".*" allows every name', () => {
    const access = regexAccess(ALL, [], ALICE);
    for (const name of ['a', 'amq.default', 'with space', 'ü']) {
      expect([access.configure(name), access.write(name), access.read(name)]).toEqual([true, true, true]);
    }
  });

  it('access - "" denies everything', () => {
    const access = regexAccess({ configure: '', write: '', read: '.*' }, [], ALICE);
    for (const name of ['a', 'amq.default', '']) {
      expect(access.configure(name)).toBe(false);
      expect(access.write(name)).toBe(false);
    }
    expect(access.read('a')).toBe(true);
  });

  it('access - without a permission entry for the vhost nothing is allowed', () => {
    const access = regexAccess(undefined, [], ALICE);
    expect([access.configure('a'), access.write('a'), access.read('a')]).toEqual([false, false, false]);
  });

  it('access - write answers the same from its cache, past the cache bound', () => {
    const access = regexAccess({ configure: '', write: '^even', read: '' }, [], ALICE);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) expect(access.write(i % 2 === 0 ? `even${i}` : `odd${i}`)).toBe(i % 2 === 0);
    }
  });

  it('access - {username} is not expanded in resource permissions (RabbitMQ expands it in topic permissions only)', () => {
    const access = regexAccess({ configure: '', write: '^{username}$', read: '' }, [], ALICE);
    expect(access.write('alice')).toBe(false);
    expect(access.write('{username}')).toBe(true);
  });

  it('access - FULL_ACCESS allows everything', () => {
    expect([FULL_ACCESS.configure('a'), FULL_ACCESS.write('a'), FULL_ACCESS.read('a')]).toEqual([true, true, true]);
    expect([FULL_ACCESS.writeTopic('t', 'k'), FULL_ACCESS.readTopic('t', 'k')]).toEqual([true, true]);
  });
});

describe('access - topic permissions', () => {
  it('access - without a topic permission for the exchange topic access is unrestricted', () => {
    const access = regexAccess(ALL, [{ exchange: 'orders', write: '^eu\\.', read: '^eu\\.' }], ALICE);
    expect(access.writeTopic('amq.topic', 'anything.at.all')).toBe(true);
    expect(access.readTopic('amq.topic', '#')).toBe(true);
    expect(regexAccess(ALL, [], ALICE).writeTopic('orders', 'x')).toBe(true);
  });

  it('access - the entry for the exchange checks publish keys (write) and binding keys (read)', () => {
    const access = regexAccess(ALL, [{ exchange: 'orders', write: '^eu\\.', read: '^eu\\.(created|paid)$' }], ALICE);
    expect(access.writeTopic('orders', 'eu.created')).toBe(true);
    expect(access.writeTopic('orders', 'us.created')).toBe(false);
    expect(access.readTopic('orders', 'eu.paid')).toBe(true);
    expect(access.readTopic('orders', 'eu.#')).toBe(false);
  });

  it('access - the exchange of a topic permission is a name, not a pattern', () => {
    const access = regexAccess(ALL, [{ exchange: 'orders.*', write: '^$', read: '^$' }], ALICE);
    expect(access.writeTopic('orders.eu', 'k')).toBe(true);
    expect(access.writeTopic('orders.*', 'k')).toBe(false);
  });

  it('access - several topic permissions, one per exchange', () => {
    const access = regexAccess(
      ALL,
      [
        { exchange: 'a', write: '^a\\.', read: '.*' },
        { exchange: 'b', write: '^b\\.', read: '.*' },
      ],
      ALICE,
    );
    expect([access.writeTopic('a', 'a.1'), access.writeTopic('a', 'b.1')]).toEqual([true, false]);
    expect([access.writeTopic('b', 'b.1'), access.writeTopic('b', 'a.1')]).toEqual([true, false]);
  });

  it('access - a topic "" lets only the empty routing key through, as RabbitMQ\'s ^$', () => {
    const access = regexAccess(ALL, [{ exchange: 'orders', write: '', read: '' }], ALICE);
    expect(access.writeTopic('orders', '')).toBe(true);
    expect(access.writeTopic('orders', 'x')).toBe(false);
    expect(access.readTopic('orders', 'x')).toBe(false);
  });

  it('access - {username} and {vhost} are expanded in topic permissions', () => {
    const access = regexAccess(ALL, [{ exchange: 'amq.topic', write: '^users\\.{username}\\.', read: '^{vhost}\\.' }], { username: 'bob', vhost: 'shop' });
    expect(access.writeTopic('amq.topic', 'users.bob.inbox')).toBe(true);
    expect(access.writeTopic('amq.topic', 'users.alice.inbox')).toBe(false);
    expect(access.readTopic('amq.topic', 'shop.orders')).toBe(true);
    expect(access.readTopic('amq.topic', 'other.orders')).toBe(false);
  });

  it('access - regex metacharacters in the user name and vhost are matched literally', () => {
    const variables = { username: 'a.b|.*$&', vhost: '/' };
    const access = regexAccess(ALL, [{ exchange: 'amq.topic', write: '^u\\.{username}$', read: '^{vhost}x$' }], variables);
    expect(access.writeTopic('amq.topic', 'u.a.b|.*$&')).toBe(true);
    expect(access.writeTopic('amq.topic', 'u.aXb')).toBe(false);
    expect(access.writeTopic('amq.topic', 'u.a.b')).toBe(false);
    expect(access.writeTopic('amq.topic', 'u.anything')).toBe(false);
    expect(access.readTopic('amq.topic', '/x')).toBe(true);
  });
});

describe('access - bad patterns', () => {
  it('access - a pattern that does not compile throws RegexError naming it and why', () => {
    expect(() => regexAccess({ configure: '.*', write: 'orders(', read: '.*' }, [], ALICE)).toThrow(RegexError);
    expect(() => regexAccess({ configure: '.*', write: 'orders(', read: '.*' }, [], ALICE)).toThrow(
      'the write permission pattern "orders(" is not a usable regular expression: unterminated group',
    );
  });

  it('access - a bad topic permission pattern names the exchange', () => {
    expect(() => regexAccess(ALL, [{ exchange: 'orders', write: '.*', read: '[eu' }], ALICE)).toThrow(
      /topic permission's read \(exchange "orders"\) pattern "\[eu" is not a usable regular expression/,
    );
  });

  it('access - describeBadRegex is undefined for good patterns and a reason for bad ones', () => {
    for (const good of ['.*', '^amq\\.gen', '^(a|b)$', '\\-', '^{username}$', '']) expect(describeBadRegex(good)).toBeUndefined();
    expect(describeBadRegex('a(')).toBe('unterminated group');
    expect(describeBadRegex('*a')).toBe('nothing to repeat');
    expect(describeBadRegex('(?i)orders')).toBe('invalid group');
  });

  it('access - PCRE escapes that JavaScript would read as a letter are refused', () => {
    expect(describeBadRegex('\\Aamq')).toMatch(/^\\A \(PCRE's start of subject\)/);
    expect(describeBadRegex('amq\\z')).toMatch(/^\\z/);
    expect(describeBadRegex('\\\\A')).toBeUndefined();
    expect(() => regexAccess({ configure: '\\Aamq', write: '', read: '' }, [], ALICE)).toThrow(RegexError);
  });
});
