import { SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { Authenticator, configUser, FULL_ACCESS, isLoopback, regexAccess, TokenVerifier, type LoginOutcome, type LoginRequest, type User } from '../../src/auth/index.js';
import { hashPassword, rabbitPasswordHash } from '../../src/auth/passwords.js';

// docs/security.md, "Who may connect": users, tokens, anonymous access and vhosts.

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const request = (fields: Partial<LoginRequest>): LoginRequest => ({ username: undefined, password: undefined, token: undefined, vhost: undefined, remoteAddress: '127.0.0.1', ...fields });

const hashed = (name: string, password: string, vhosts: User['vhosts'] = new Map([['/', FULL_ACCESS]])): User => ({
  name,
  tags: ['management'],
  credential: { kind: 'hash', hash: rabbitPasswordHash(password, 'rabbit_password_hashing_sha256'), algorithm: 'rabbit_password_hashing_sha256' },
  vhosts,
});

async function token(claims: JWTPayload): Promise<string> {
  return new SignJWT({ sub: 'ann', aud: 'warren', exp: Math.floor(Date.now() / 1000) + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(SECRET));
}

const tokens = () => TokenVerifier.create({ secret: SECRET, audience: 'warren', scopePrefix: 'warren.', clockToleranceSec: 0 });

function refusal(outcome: LoginOutcome): { closeCode: number; message: string } {
  if (outcome.ok) throw new Error('expected a refusal');
  return { closeCode: outcome.closeCode, message: outcome.message };
}

describe('authenticator - anonymous', () => {
  it('authenticator - with no users and no token keys, anonymous clients get in from loopback with full access', async () => {
    const auth = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    const outcome = await auth.login(request({ remoteAddress: '::ffff:127.0.0.1' }));
    expect(outcome).toMatchObject({ ok: true, principal: { username: undefined, vhost: '/', access: FULL_ACCESS } });
  });

  it('authenticator - anonymous clients from another address are refused unless auth.anonymous is true', async () => {
    const loopbackOnly = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(refusal(await loopbackOnly.login(request({ remoteAddress: '10.1.2.3' })))).toEqual({ closeCode: 4401, message: expect.stringMatching(/auth\.anonymous/) });
    const open = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: true });
    expect((await open.login(request({ remoteAddress: '10.1.2.3' }))).ok).toBe(true);
    const closed = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: false });
    expect((await closed.login(request({}))).ok).toBe(false);
  });

  it('authenticator - loopback addresses', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '::', '128.0.0.1', undefined].some(isLoopback)).toBe(false);
  });
});

describe('authenticator - users', () => {
  it('authenticator - config users (plain password) and definitions users (RabbitMQ hash) log in; wrong ones are refused with 4401 and counted', async () => {
    const auth = new Authenticator({ users: [configUser('cfg', 'plain-pw'), hashed('ann', 's3cret')], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(await auth.login(request({ username: 'cfg', password: 'plain-pw' }))).toMatchObject({ ok: true, principal: { username: 'cfg' } });
    expect(await auth.login(request({ username: 'ann', password: 's3cret' }))).toMatchObject({ ok: true, principal: { username: 'ann', tags: new Set(['management']) } });
    for (const wrong of [{ username: 'ann', password: 'nope' }, { username: 'nobody', password: 's3cret' }, {}, { username: 'cfg' }]) {
      expect(refusal(await auth.login(request(wrong)))).toEqual({ closeCode: 4401, message: 'access refused: unknown user or wrong password' });
    }
    expect(auth.failedLogins).toBe(4);
    expect(auth.anonymousAllowed).toBe(false);
  });

  it('authenticator - a user with a hash from hashPassword (argon2id on Node 24.7+, scrypt before) logs in; an unknown name is refused', async () => {
    const { hash, algorithm } = await hashPassword('slow-pw');
    const slow: User = { name: 'sam', tags: [], credential: { kind: 'hash', hash, algorithm }, vhosts: new Map([['/', FULL_ACCESS]]) };
    const auth = new Authenticator({ users: [slow], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(await auth.login(request({ username: 'sam', password: 'slow-pw' }))).toMatchObject({ ok: true });
    expect(refusal(await auth.login(request({ username: 'sam', password: 'nope' }))).closeCode).toBe(4401);
    // Checked against a decoy of the same algorithm, so that it takes as long as a wrong password.
    expect(refusal(await auth.login(request({ username: 'nobody', password: 'slow-pw' }))).closeCode).toBe(4401);
  });

  it('authenticator - an unknown vhost, or one the user has no permissions on, is refused with 4403', async () => {
    const limited = hashed('ann', 's3cret', new Map([['/', regexAccess({ configure: '', write: '', read: '.*' }, [], { username: 'ann', vhost: '/' })]]));
    const auth = new Authenticator({ users: [limited, hashed('bob', 'pw', new Map())], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(refusal(await auth.login(request({ username: 'ann', password: 's3cret', vhost: 'prod' })))).toEqual({ closeCode: 4403, message: 'access refused: vhost "prod" does not exist' });
    expect(refusal(await auth.login(request({ username: 'bob', password: 'pw' })))).toEqual({ closeCode: 4403, message: 'access refused: user "bob" has no permissions on vhost "/"' });
    const ann = await auth.login(request({ username: 'ann', password: 's3cret' }));
    expect(ann.ok && ann.principal.access.read('x') && !ann.principal.access.write('x')).toBe(true);
  });
});

describe('authenticator - tokens', () => {
  it('authenticator - a token logs in as its sub, with its scopes as permissions and its expiry', async () => {
    const auth = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: await tokens(), anonymous: undefined });
    const outcome = await auth.login(request({ token: await token({ scope: 'warren.read:%2F/user.ann.* warren.tag:monitoring' }), remoteAddress: '10.0.0.9' }));
    if (!outcome.ok) throw new Error(outcome.message);
    expect(outcome.principal.username).toBe('ann');
    expect(outcome.principal.expiresAt).toBeGreaterThan(Date.now());
    expect(outcome.principal.access.read('user.ann.inbox')).toBe(true);
    expect(outcome.principal.access.read('user.bob.inbox')).toBe(false);
    expect([...outcome.principal.tags]).toEqual(['monitoring']);
  });

  it('authenticator - a bad token, a token without access to the vhost, or a token where none is configured, is refused', async () => {
    const auth = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: await tokens(), anonymous: undefined });
    expect(refusal(await auth.login(request({ token: 'not.a.token' }))).closeCode).toBe(4401);
    expect(refusal(await auth.login(request({ token: await token({ scope: 'warren.read:other/q' }) })))).toEqual({ closeCode: 4403, message: 'access refused: user "ann" has no permissions on vhost "/"' });
    const noTokens = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(refusal(await noTokens.login(request({ token: await token({}) }))).message).toMatch(/no auth\.jwt is configured/);
  });

  it('authenticator - a refresh must name the same user', async () => {
    const auth = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: await tokens(), anonymous: undefined });
    const first = await auth.login(request({ token: await token({ scope: 'warren.read:%2F/*' }) }));
    if (!first.ok) throw new Error(first.message);
    expect((await auth.refresh(await token({ scope: 'warren.read:%2F/*', exp: Math.floor(Date.now() / 1000) + 1200 }), first.principal)).ok).toBe(true);
    expect(refusal(await auth.refresh(await token({ sub: 'bob', scope: 'warren.read:%2F/*' }), first.principal)).message).toMatch(/for user "bob"/);
  });
});

describe('authenticator - management API identities', () => {
  it('authenticator - a user name and password give the user, its tags and its vhosts, with no vhost chosen', async () => {
    const vhosts = new Map([['orders', FULL_ACCESS]]);
    const auth = new Authenticator({ users: [configUser('cfg', 'plain-pw'), hashed('ann', 's3cret', vhosts)], vhosts: new Set(['/', 'orders']), tokens: undefined, anonymous: undefined });
    const ann = await auth.authenticateUser('ann', 's3cret');
    if (!ann.ok) throw new Error(ann.message);
    expect(ann.identity).toMatchObject({ username: 'ann', tags: new Set(['management']), expiresAt: undefined });
    expect([ann.identity.mayUse('orders'), ann.identity.mayUse('/')]).toEqual([true, false]);
    const cfg = await auth.authenticateUser('cfg', 'plain-pw');
    expect(cfg.ok && [...cfg.identity.tags]).toEqual(['administrator']);
    for (const [username, password] of [['ann', 'nope'], ['nobody', 's3cret']]) {
      expect(await auth.authenticateUser(username, password)).toEqual({ ok: false, message: 'access refused: unknown user or wrong password', reason: expect.any(String) });
    }
    expect(auth.failedLogins).toBe(2);
  });

  it('authenticator - a token gives its subject, the tags of its tag: scopes and the vhosts its scopes name', async () => {
    const auth = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: await tokens(), anonymous: undefined });
    const outcome = await auth.authenticateToken(await token({ scope: 'warren.read:orders/* warren.tag:monitoring' }));
    if (!outcome.ok) throw new Error(outcome.message);
    expect(outcome.identity).toMatchObject({ username: 'ann', tags: new Set(['monitoring']) });
    expect(outcome.identity.expiresAt).toBeGreaterThan(Date.now());
    expect([outcome.identity.mayUse('orders'), outcome.identity.mayUse('/')]).toEqual([true, false]);
    expect(await auth.authenticateToken('not.a.token')).toMatchObject({ ok: false, message: expect.stringMatching(/^access refused: /) });
    const noTokens = new Authenticator({ users: [], vhosts: new Set(['/']), tokens: undefined, anonymous: undefined });
    expect(await noTokens.authenticateToken(await token({}))).toMatchObject({ ok: false, message: expect.stringMatching(/no auth\.jwt is configured/) });
    expect(auth.failedLogins + noTokens.failedLogins).toBe(2);
  });
  it('authenticator - an identity gives its VhostAccess per vhost, the one a login there gets, for the API\'s writes', async () => {
    const orders = regexAccess({ configure: '^app\\.', write: '.*', read: '^$' }, [], { username: 'ann', vhost: 'orders' });
    const auth = new Authenticator({ users: [hashed('ann', 's3cret', new Map([['orders', orders]]))], vhosts: new Set(['/', 'orders']), tokens: await tokens(), anonymous: undefined });
    const ann = await auth.authenticateUser('ann', 's3cret');
    if (!ann.ok) throw new Error(ann.message);
    expect(ann.identity.access('orders')).toBe(orders);
    expect(ann.identity.access('/')).toBeUndefined();
    const login = await auth.login(request({ username: 'ann', password: 's3cret', vhost: 'orders' }));
    expect(login.ok && login.principal.access).toBe(ann.identity.access('orders'));
    const fromToken = await auth.authenticateToken(await token({ scope: 'warren.configure:orders/app.* warren.tag:management' }));
    if (!fromToken.ok) throw new Error(fromToken.message);
    const access = fromToken.identity.access('orders');
    expect([access?.configure('app.q'), access?.configure('other'), access?.write('app.q')]).toEqual([true, false, false]);
    expect(fromToken.identity.access('/')).toBeUndefined();
  });
});
