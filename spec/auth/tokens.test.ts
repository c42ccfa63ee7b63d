import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_TOKEN_BYTES, TokenError, TokenVerifier, type JwtConfig } from '../../src/auth/tokens.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const BASE: JwtConfig = { audience: 'warren', scopePrefix: 'warren.', clockToleranceSec: 0 };

interface Pair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  pem: string;
}

async function pair(alg: 'RS256' | 'ES256'): Promise<Pair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, pem: await exportSPKI(publicKey) };
}

let rsa: Pair;
let ec: Pair;
let otherRsa: Pair;
beforeAll(async () => {
  [rsa, ec, otherRsa] = await Promise.all([pair('RS256'), pair('ES256'), pair('RS256')]);
});

const now = (): number => Math.floor(Date.now() / 1000);

/** A token with sub, aud and exp set (an hour ahead) unless `claims` overrides or `omit` drops them. */
function sign(alg: string, key: CryptoKey | Uint8Array, claims: JWTPayload = {}, omit: string[] = [], header: Record<string, unknown> = {}): Promise<string> {
  const payload: JWTPayload = { sub: 'alice', aud: 'warren', exp: now() + 3600, scope: 'warren.read:%2F/q', ...claims };
  for (const claim of omit) delete payload[claim];
  return new SignJWT(payload).setProtectedHeader({ ...header, alg }).sign(key);
}

const hs = (claims?: JWTPayload, omit?: string[]): Promise<string> => sign('HS256', new TextEncoder().encode(SECRET), claims, omit);

async function refusal(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return (error as Error).message;
  }
  throw new Error('expected verify to throw a TokenError');
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-tokens-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('tokens - valid tokens', () => {
  it('tokens - HS256 with the secret', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, secret: SECRET });
    const exp = now() + 600;
    const verified = await verifier.verify(await hs({ exp, scope: 'warren.read:%2F/q warren.tag:management' }));
    expect(verified.username).toBe('alice');
    expect(verified.expiresAt).toBe(exp * 1000);
    expect(verified.grants.access('/')?.read('q')).toBe(true);
    expect([...verified.grants.tags]).toEqual(['management']);
  });

  it('tokens - RS256 and ES256 with PEM public keys, each key tried', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, publicKeys: [otherRsa.pem, rsa.pem, ec.pem] });
    expect((await verifier.verify(await sign('RS256', rsa.privateKey))).username).toBe('alice');
    expect((await verifier.verify(await sign('ES256', ec.privateKey))).username).toBe('alice');
    expect((await verifier.verify(await sign('RS256', otherRsa.privateKey))).username).toBe('alice');
  });

  it('tokens - the audience may be one of several', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, secret: SECRET });
    expect((await verifier.verify(await hs({ aud: ['other', 'warren'] }))).username).toBe('alice');
  });

  it('tokens - the issuer is checked when configured', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, secret: SECRET, issuer: 'https://idp.example' });
    expect((await verifier.verify(await hs({ iss: 'https://idp.example' }))).username).toBe('alice');
    expect(await refusal(verifier, await hs({ iss: 'https://evil.example' }))).toBe(
      'the token\'s issuer is "https://evil.example", not "https://idp.example"',
    );
    expect(await refusal(verifier, await hs())).toContain('the token has no iss claim');
  });

  it('tokens - a JWKS file, with and without kid', async () => {
    const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'r1', alg: 'RS256', use: 'sig' };
    const ecJwk = await exportJWK(ec.publicKey);
    const otherJwk = await exportJWK(otherRsa.publicKey);
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [rsaJwk, ecJwk, otherJwk] }));
    const verifier = await TokenVerifier.create({ ...BASE, jwksFile: file });
    expect((await verifier.verify(await sign('RS256', rsa.privateKey, {}, [], { kid: 'r1' }))).username).toBe('alice');
    expect((await verifier.verify(await sign('ES256', ec.privateKey))).username).toBe('alice');
    // No kid and two RSA keys: jose offers both.
    expect((await verifier.verify(await sign('RS256', otherRsa.privateKey))).username).toBe('alice');
    expect(await refusal(verifier, await sign('RS256', rsa.privateKey, {}, [], { kid: 'unknown' }))).toBe('the token is not signed by a configured key');
  });

  it('tokens - the clock tolerance lets a just-expired token through', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, secret: SECRET, clockToleranceSec: 60 });
    expect((await verifier.verify(await hs({ exp: now() - 10 }))).username).toBe('alice');
  });
});

describe('tokens - refused', () => {
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = await TokenVerifier.create({ ...BASE, secret: SECRET, publicKeys: [rsa.pem] });
  });

  it('tokens - one that expires more than a year ahead', async () => {
    expect(await refusal(verifier, await hs({ exp: now() + 400 * 24 * 3600 }))).toMatch(/more than a year from now/);
  });

  it('tokens - expired', async () => {
    const exp = now() - 60;
    expect(await refusal(verifier, await hs({ exp }))).toBe(`the token has expired at ${new Date(exp * 1000).toISOString()}`);
  });

  it('tokens - not yet valid', async () => {
    const nbf = now() + 600;
    expect(await refusal(verifier, await hs({ nbf }))).toBe(`the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
  });

  it('tokens - wrong audience', async () => {
    expect(await refusal(verifier, await hs({ aud: 'billing' }))).toBe('the token\'s audience is "billing", not warren');
    expect(await refusal(verifier, await hs({}, ['aud']))).toBe('the token has no aud claim (it must name "warren")');
  });

  it('tokens - missing exp', async () => {
    expect(await refusal(verifier, await hs({}, ['exp']))).toBe('the token has no exp claim');
  });

  it('tokens - missing or empty sub', async () => {
    expect(await refusal(verifier, await hs({}, ['sub']))).toBe('the token has no sub claim');
    expect(await refusal(verifier, await hs({ sub: '' }))).toContain('the token has no sub claim');
  });

  it('tokens - alg none is never accepted', async () => {
    const token = new UnsecuredJWT({ sub: 'alice', aud: 'warren', exp: now() + 3600 }).encode();
    expect(await refusal(verifier, token)).toBe('the token is unsigned (alg "none"), which is never accepted');
  });

  it('tokens - signed by another key', async () => {
    expect(await refusal(verifier, await sign('RS256', otherRsa.privateKey))).toBe('the token is not signed by a configured key');
    expect(await refusal(verifier, await sign('HS256', new TextEncoder().encode('another-secret-of-32-bytes-or-more')))).toBe(
      'the token is not signed by a configured key',
    );
  });

  it('tokens - an algorithm without a configured key is refused', async () => {
    expect(await refusal(verifier, await sign('ES256', ec.privateKey))).toContain('the token is signed with "ES256", but only HS256, RS256 are accepted');
  });

  it('tokens - HS256 with the public key as secret is refused when only public keys are configured', async () => {
    const publicOnly = await TokenVerifier.create({ ...BASE, publicKeys: [rsa.pem] });
    // The classic forgery: the public PEM, which anyone has, used as an HMAC secret.
    const forged = await sign('HS256', new TextEncoder().encode(rsa.pem));
    expect(await refusal(publicOnly, forged)).toBe('the token is signed with "HS256", but only RS256 are accepted by this broker\'s auth.jwt keys');
  });

  it('tokens - over 8 KiB is refused before parsing', async () => {
    const big = await hs({ padding: 'x'.repeat(MAX_TOKEN_BYTES) });
    expect(await refusal(verifier, big)).toBe('the token is over 8 KiB');
    expect(await refusal(verifier, 'x'.repeat(MAX_TOKEN_BYTES + 1))).toBe('the token is over 8 KiB');
  });

  it('tokens - garbage text', async () => {
    expect(await refusal(verifier, 'not a token')).toMatch(/^malformed token: /);
    expect(await refusal(verifier, '')).toMatch(/^malformed token: /);
    expect(await refusal(verifier, 'eyJhbGciOiJIUzI1NiJ9.!!!.sig')).toMatch(/^malformed token: |not signed/);
  });

  it('tokens - a malformed Warren scope refuses the token', async () => {
    expect(await refusal(verifier, await hs({ scope: 'warren.read:nope' }))).toMatch(/^the token's scope claim is not usable: the scope "warren.read:nope"/);
  });
});

describe('tokens - configuration', () => {
  it('tokens - a bad PEM names auth.jwt.publicKeys[i]', async () => {
    await expect(TokenVerifier.create({ ...BASE, publicKeys: [rsa.pem, 'not a pem'] })).rejects.toThrow(/^auth\.jwt\.publicKeys\[1\] is not a PEM public key/);
  });

  it('tokens - an unreadable or invalid JWKS file names auth.jwt.jwksFile', async () => {
    await expect(TokenVerifier.create({ ...BASE, jwksFile: join(dir, 'missing.json') })).rejects.toThrow(/^auth\.jwt\.jwksFile .* could not be read/);
    const notJwks = join(dir, 'bad.json');
    writeFileSync(notJwks, JSON.stringify({ key: [] }));
    await expect(TokenVerifier.create({ ...BASE, jwksFile: notJwks })).rejects.toThrow(/^auth\.jwt\.jwksFile .* is not a JSON Web Key Set/);
    const privateKey = join(dir, 'private.json');
    writeFileSync(privateKey, JSON.stringify({ keys: [await exportJWK(rsa.privateKey)] }));
    await expect(TokenVerifier.create({ ...BASE, jwksFile: privateKey })).rejects.toThrow(/keys\[0\] is a private key/);
    const brokenKey = join(dir, 'broken.json');
    writeFileSync(brokenKey, JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', alg: 'RS256' }] }));
    await expect(TokenVerifier.create({ ...BASE, jwksFile: brokenKey })).rejects.toThrow(/keys\[0\] is not a usable RS256 key: its RSA modulus is 17 bits, under 2048/);
    writeFileSync(brokenKey, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] }));
    await expect(TokenVerifier.create({ ...BASE, jwksFile: brokenKey })).rejects.toThrow(/keys\[0\] is not a usable ES256 key/);
    writeFileSync(brokenKey, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
    await expect(TokenVerifier.create({ ...BASE, jwksFile: brokenKey })).rejects.toThrow(/has no RS256 or ES256 signing key/);
  });

  it('tokens - a malformed jwksUrl and a config without keys are refused', async () => {
    await expect(TokenVerifier.create({ ...BASE, jwksUrl: 'not a url' })).rejects.toThrow(/^auth\.jwt\.jwksUrl "not a url" is not a URL/);
    await expect(TokenVerifier.create({ ...BASE, jwksUrl: 'ftp://idp.example/jwks' })).rejects.toThrow(/must be an http\(s\) URL/);
    await expect(TokenVerifier.create(BASE)).rejects.toThrow('auth.jwt needs at least one of secret, publicKeys, jwksFile or jwksUrl');
  });
});

describe('tokens - jwksUrl', () => {
  let server: Server;
  let url: string;
  let requests = 0;
  beforeAll(async () => {
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'r1', alg: 'RS256' }] });
    server = createServer((_request, response) => {
      requests++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  it('tokens - keys are fetched from the URL and cached', async () => {
    const verifier = await TokenVerifier.create({ ...BASE, jwksUrl: url });
    const token = await sign('RS256', rsa.privateKey, {}, [], { kid: 'r1' });
    expect((await verifier.verify(token)).username).toBe('alice');
    expect((await verifier.verify(token)).username).toBe('alice');
    expect(requests).toBe(1);
    expect(await refusal(verifier, await sign('RS256', otherRsa.privateKey, {}, [], { kid: 'r1' }))).toBe('the token is not signed by a configured key');
  });

  it('tokens - an unreachable key set is a TokenError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const verifier = await TokenVerifier.create({ ...BASE, jwksUrl: deadUrl });
    expect(await refusal(verifier, await sign('RS256', rsa.privateKey, {}, [], { kid: 'r1' }))).toMatch(/^the token could not be checked: the key set at auth\.jwt\.jwksUrl could not be fetched/);
  });
});
