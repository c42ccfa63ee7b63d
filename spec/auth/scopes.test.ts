import { describe, expect, it } from 'vitest';
import type { VhostAccess } from '../../src/auth/access.js';
import { parseScopes, ScopeError } from '../../src/auth/scopes.js';

const P = 'warren.';

function accessTo(scope: unknown, vhost: string, username?: string): VhostAccess {
  const access = parseScopes(scope, P).access(vhost, username === undefined ? undefined : { username });
  if (access === undefined) throw new Error(`expected access to ${vhost}`);
  return access;
}

function scopeError(scope: unknown): ScopeError {
  try {
    parseScopes(scope, P);
  } catch (error) {
    expect(error).toBeInstanceOf(ScopeError);
    return error as ScopeError;
  }
  throw new Error('expected parseScopes to throw a ScopeError');
}

describe('scopes - forms', () => {
  it('scopes - configure, write and read grant their own permission on the name', () => {
    const access = accessTo('warren.configure:shop/tmp warren.write:shop/orders warren.read:shop/reports', 'shop');
    expect([access.configure('tmp'), access.configure('orders')]).toEqual([true, false]);
    expect([access.write('orders'), access.write('tmp')]).toEqual([true, false]);
    expect([access.read('reports'), access.read('orders')]).toEqual([true, false]);
  });

  it('scopes - the claim may be an array of strings', () => {
    const access = accessTo(['warren.read:shop/q', 'warren.write:shop/x'], 'shop');
    expect([access.read('q'), access.write('x')]).toEqual([true, true]);
  });

  it('scopes - repeated spaces in the string form are ignored', () => {
    expect(accessTo('  warren.read:shop/q   warren.write:shop/x ', 'shop').write('x')).toBe(true);
  });

  it('scopes - names are matched whole (anchored), not searched', () => {
    const access = accessTo('warren.read:shop/orders', 'shop');
    expect(access.read('orders')).toBe(true);
    expect(access.read('orders.eu')).toBe(false);
    expect(access.read('my.orders')).toBe(false);
  });

  it('scopes - tag scopes give tags', () => {
    const grants = parseScopes('warren.tag:administrator warren.tag:monitoring warren.read:shop/q', P);
    expect([...grants.tags].sort()).toEqual(['administrator', 'monitoring']);
  });

  it('scopes - scopes without the prefix are ignored', () => {
    const grants = parseScopes('openid profile rabbitmq.read:*/* other.write:shop/x email warren', P);
    expect(grants.tags.size).toBe(0);
    expect(grants.access('shop')).toBeUndefined();
  });

  it('scopes - another prefix is honoured', () => {
    expect(parseScopes('rabbitmq.read:shop/q', 'rabbitmq.').access('shop')?.read('q')).toBe(true);
  });

  it('scopes - no scope claim grants nothing', () => {
    const grants = parseScopes(undefined, P);
    expect(grants.tags.size).toBe(0);
    expect(grants.access('/')).toBeUndefined();
  });
});

describe('scopes - vhosts', () => {
  it('scopes - access is undefined for a vhost no scope names', () => {
    expect(parseScopes('warren.read:shop/q warren.tag:administrator', P).access('other')).toBeUndefined();
  });

  it('scopes - %2F is the default vhost "/"', () => {
    const grants = parseScopes('warren.write:%2F/orders', P);
    expect(grants.access('/')?.write('orders')).toBe(true);
    expect(grants.access('%2F')).toBeUndefined();
  });

  it('scopes - percent-encoding is decoded in names and routing keys too, and %2A is a literal star', () => {
    const access = accessTo('warren.write:shop/a%2Fb%20c/k%2A', 'shop');
    expect(access.write('a/b c')).toBe(true);
    expect(access.writeTopic('a/b c', 'k*')).toBe(true);
    expect(access.writeTopic('a/b c', 'kx')).toBe(false);
  });

  it('scopes - a scope grants only in the vhosts it matches', () => {
    const grants = parseScopes('warren.write:shop/orders warren.write:hr/people', P);
    expect(grants.access('shop')?.write('people')).toBe(false);
    expect(grants.access('hr')?.write('people')).toBe(true);
  });
});

describe('scopes - wildcards', () => {
  it('scopes - * matches any characters in vhost, name and routing key', () => {
    const access = accessTo('warren.write:dev-*/orders.*/eu.*', 'dev-1');
    expect(access.write('orders.created')).toBe(true);
    expect(access.write('orders.')).toBe(true);
    expect(access.write('order')).toBe(false);
    expect(access.writeTopic('orders.x', 'eu.a.b')).toBe(true);
    expect(parseScopes('warren.write:dev-*/x', P).access('prod')).toBeUndefined();
  });

  it('scopes - */* grants every name in every vhost', () => {
    const grants = parseScopes('warren.read:*/*', P);
    expect(grants.access('/')?.read('anything at all')).toBe(true);
    expect(grants.access('x')?.read('')).toBe(true);
  });

  it('scopes - only * is special: regex characters are literal', () => {
    const access = accessTo('warren.read:shop/a.b+c(d)|e$', 'shop');
    expect(access.read('a.b+c(d)|e$')).toBe(true);
    expect(access.read('aXbbc(d)|e')).toBe(false);
    expect(access.read('a.b+cd')).toBe(false);
  });

  it('scopes - a * in the middle matches across dots, an ending * at the end', () => {
    const access = accessTo('warren.read:shop/*ab', 'shop');
    expect(access.read('abab')).toBe(true);
    expect(access.read('ab')).toBe(true);
    expect(access.read('aba')).toBe(false);
  });
});

describe('scopes - topic grants', () => {
  it('scopes - a routing-key part restricts publish keys (write) and binding keys (read) on that exchange', () => {
    const access = accessTo('warren.write:shop/events/eu.* warren.read:shop/events/eu.orders', 'shop');
    expect(access.write('events')).toBe(true);
    expect(access.read('events')).toBe(true);
    expect(access.writeTopic('events', 'eu.orders')).toBe(true);
    expect(access.writeTopic('events', 'us.orders')).toBe(false);
    expect(access.readTopic('events', 'eu.orders')).toBe(true);
    expect(access.readTopic('events', 'eu.#')).toBe(false);
  });

  it('scopes - without a routing-key part topic access is unrestricted for that grant', () => {
    const access = accessTo('warren.write:shop/events warren.read:shop/*', 'shop');
    expect(access.writeTopic('events', 'any.key')).toBe(true);
    expect(access.readTopic('events', '#')).toBe(true);
  });

  it('scopes - an unrestricted grant on the exchange wins over a restricted one', () => {
    const access = accessTo('warren.write:shop/events/eu.* warren.write:shop/ev*', 'shop');
    expect(access.writeTopic('events', 'us.orders')).toBe(true);
  });

  it('scopes - exchanges no grant names are left to the resource check', () => {
    const access = accessTo('warren.write:shop/events/eu.*', 'shop');
    expect(access.write('other')).toBe(false);
    expect(access.writeTopic('other', 'us.orders')).toBe(true);
  });

  it('scopes - an empty routing-key part allows only the empty key', () => {
    const access = accessTo('warren.write:shop/events/', 'shop');
    expect(access.writeTopic('events', '')).toBe(true);
    expect(access.writeTopic('events', 'x')).toBe(false);
  });
});

describe('scopes - variables', () => {
  it('scopes - {vhost}, {username} and {sub} are expanded', () => {
    const grants = parseScopes('warren.configure:*/q-{username} warren.write:*/{vhost}.in warren.read:*/u.{sub}/{sub}.*', P);
    const access = grants.access('shop', { username: 'bob' });
    expect(access?.configure('q-bob')).toBe(true);
    expect(access?.configure('q-alice')).toBe(false);
    expect(access?.write('shop.in')).toBe(true);
    expect(access?.readTopic('u.bob', 'bob.x')).toBe(true);
    expect(access?.readTopic('u.bob', 'alice.x')).toBe(false);
  });

  it('scopes - expanded values are literal, * and regex characters included', () => {
    const access = parseScopes('warren.read:*/q-{username}', P).access('shop', { username: 'a*.b' });
    expect(access?.read('q-a*.b')).toBe(true);
    expect(access?.read('q-axxxb')).toBe(false);
  });

  it('scopes - without a user name, scopes that use it grant nothing', () => {
    const grants = parseScopes('warren.read:*/q-{username} warren.read:shop/fixed', P);
    expect(grants.access('shop')?.read('q-{username}')).toBe(false);
    expect(grants.access('shop')?.read('fixed')).toBe(true);
    expect(parseScopes('warren.read:{username}/q', P).access('bob')).toBeUndefined();
  });
});

describe('scopes - malformed', () => {
  it('scopes - a Warren scope of no known form throws ScopeError naming it', () => {
    expect(scopeError('openid warren.admin:shop/x').message).toContain('"warren.admin:shop/x"');
    expect(scopeError('warren.read').message).toContain('"warren.read"');
    expect(scopeError('warren.tag:').message).toContain('names no tag');
  });

  it('scopes - wrong number of parts', () => {
    expect(scopeError('warren.read:shop').message).toContain('must be read:<vhost>/<name>[/<routing-key>]');
    expect(scopeError('warren.write:shop/a/b/c').message).toContain('"warren.write:shop/a/b/c"');
    expect(scopeError('warren.configure:shop/a/k').message).toContain('must be configure:<vhost>/<name>');
  });

  it('scopes - an empty vhost or name is refused, with the hint for "/"', () => {
    expect(scopeError('warren.read://q').message).toContain('%2F');
    expect(scopeError('warren.read:shop/').message).toContain('empty name');
  });

  it('scopes - bad percent-encoding and unknown variables are refused', () => {
    expect(scopeError('warren.read:shop/%zz').message).toContain('percent-encoding');
    expect(scopeError('warren.read:shop/{client_id}').message).toContain('{client_id}');
  });

  it('scopes - a claim that is neither a string nor an array of strings is refused', () => {
    expect(scopeError(42).message).toContain('space-separated string or an array of strings');
    expect(scopeError(['warren.read:shop/q', 7]).message).toContain('array of strings');
  });
});

describe('scopes - many stars', () => {
  it('scopes - stars match without backtracking: in order, at least the literal text, the ends anchored', () => {
    const access = parseScopes(`warren.read:%2F/${'a*'.repeat(12)}b warren.read:%2F/x*y*z`, 'warren.')?.access('/');
    expect(access?.read(`${'a'.repeat(60)}b`)).toBe(true);
    expect(access?.read('a'.repeat(60))).toBe(false);
    expect(access?.read('xAyBz')).toBe(true);
    expect(access?.read('xyz')).toBe(true);
    expect(access?.read('xzy')).toBe(false);
    expect(access?.read('xyzq')).toBe(false);
  });
});
