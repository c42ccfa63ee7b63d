import { createHash, scrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ARGON2_AVAILABLE,
  DEFAULT_HASHING_ALGORITHM,
  describeBadHash,
  HASHING_ALGORITHMS,
  hashPassword,
  rabbitPasswordHash,
  verifyPassword,
} from '../../src/auth/passwords.js';

const RABBIT_ALGORITHMS = ['rabbit_password_hashing_sha256', 'rabbit_password_hashing_sha512', 'rabbit_password_hashing_md5'] as const;

describe('passwords - RabbitMQ hashes', () => {
  it('passwords - each RabbitMQ algorithm round-trips, and a wrong password does not verify', async () => {
    for (const algorithm of RABBIT_ALGORITHMS) {
      const hash = rabbitPasswordHash('s3cret ünïcode', algorithm);
      expect(describeBadHash(hash, algorithm)).toBeUndefined();
      expect(await verifyPassword('s3cret ünïcode', hash, algorithm)).toBe(true);
      expect(await verifyPassword('s3cret unicode', hash, algorithm)).toBe(false);
      expect(await verifyPassword('', hash, algorithm)).toBe(false);
    }
  });

  it('passwords - a fresh salt each time, so one password gives different hashes', () => {
    expect(rabbitPasswordHash('same', 'rabbit_password_hashing_sha256')).not.toBe(rabbitPasswordHash('same', 'rabbit_password_hashing_sha256'));
  });

  it('passwords - published RabbitMQ hashes verify', async () => {
    // MD5, salt CA D5 08 9B, password "simon": the worked example by Simon MacMullen (RabbitMQ) on rabbitmq-discuss,
    // https://lists.rabbitmq.com/pipermail/rabbitmq-discuss/2011-May/012765.html
    const md5 = 'ytUIm8s3AnKsXQjptplKFytfVxI=';
    expect(rabbitPasswordHash('simon', 'rabbit_password_hashing_md5', Buffer.from('cad5089b', 'hex'))).toBe(md5);
    expect(await verifyPassword('simon', md5, 'rabbit_password_hashing_md5')).toBe(true);
    // SHA-256, salt 90 8D C6 0A, password "test12": the example of rabbitmq.com's "Credentials and Passwords" guide,
    // "Computing Password Hash" (https://www.rabbitmq.com/docs/passwords), as quoted in
    // https://gist.github.com/timb07/7fa21389a5eb215b5d1f9fd8580a444f
    const sha256 = 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR';
    expect(rabbitPasswordHash('test12', 'rabbit_password_hashing_sha256', Buffer.from('908dc60a', 'hex'))).toBe(sha256);
    expect(await verifyPassword('test12', sha256, 'rabbit_password_hashing_sha256')).toBe(true);
    // SHA-256 of "1" exported from a RabbitMQ node's definitions, quoted in
    // https://stackoverflow.com/questions/41306350/how-to-generate-password-hash-for-rabbitmq-management-http-api
    expect(await verifyPassword('1', 'y4xPTRVfzXg68sz9ALqeQzARam3CwnGo53xS752cDV5+Utzh', 'rabbit_password_hashing_sha256')).toBe(true);
    expect(await verifyPassword('2', 'y4xPTRVfzXg68sz9ALqeQzARam3CwnGo53xS752cDV5+Utzh', 'rabbit_password_hashing_sha256')).toBe(false);
  });

  it('passwords - a SHA-512 hash matches one computed independently from the documented scheme', async () => {
    // No published SHA-512 pair was found: computed here by hand as base64(salt ++ SHA-512(salt ++ UTF-8 password)).
    const salt = Buffer.from('01020304', 'hex');
    const digest = createHash('sha512').update(Buffer.concat([salt, Buffer.from('pässword', 'utf8')])).digest();
    const expected = Buffer.concat([salt, digest]).toString('base64');
    expect(rabbitPasswordHash('pässword', 'rabbit_password_hashing_sha512', salt)).toBe(expected);
    expect(await verifyPassword('pässword', expected, 'rabbit_password_hashing_sha512')).toBe(true);
  });

  it('passwords - a salt of other than 4 bytes is refused', () => {
    expect(() => rabbitPasswordHash('x', 'rabbit_password_hashing_sha256', Buffer.alloc(8))).toThrow(/4 bytes, not 8/);
  });

  it('passwords - sha256 is the default, and every algorithm is listed', () => {
    expect(DEFAULT_HASHING_ALGORITHM).toBe('rabbit_password_hashing_sha256');
    expect(HASHING_ALGORITHMS).toEqual([...RABBIT_ALGORITHMS, 'warren_password_hashing_scrypt', 'warren_password_hashing_argon2id']);
  });
});

describe('passwords - describeBadHash', () => {
  it('passwords - characters outside base64 are named as bad base64', () => {
    expect(describeBadHash('kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2PO!', 'rabbit_password_hashing_sha256')).toMatch(/not base64/);
    expect(describeBadHash('ytUIm8s3AnKsXQjptplKFytfVxI=x', 'rabbit_password_hashing_md5')).toMatch(/not base64/);
    expect(describeBadHash('ytUIm8s3 AnKsXQjptplKFytfVxI=', 'rabbit_password_hashing_md5')).toMatch(/not base64/);
  });

  it('passwords - padding is optional', () => {
    expect(describeBadHash('ytUIm8s3AnKsXQjptplKFytfVxI', 'rabbit_password_hashing_md5')).toBeUndefined();
  });

  it('passwords - a digest of the wrong length is refused for each algorithm, naming the expected length', () => {
    const md5 = rabbitPasswordHash('x', 'rabbit_password_hashing_md5');
    const sha256 = rabbitPasswordHash('x', 'rabbit_password_hashing_sha256');
    const sha512 = rabbitPasswordHash('x', 'rabbit_password_hashing_sha512');
    expect(describeBadHash(md5, 'rabbit_password_hashing_sha256')).toMatch(/is 36 bytes .* decodes to 20; that is the length of a rabbit_password_hashing_md5 hash/);
    expect(describeBadHash(sha256, 'rabbit_password_hashing_sha512')).toMatch(/is 68 bytes .* decodes to 36; that is the length of a rabbit_password_hashing_sha256 hash/);
    expect(describeBadHash(sha512, 'rabbit_password_hashing_md5')).toMatch(/is 20 bytes .* decodes to 68; that is the length of a rabbit_password_hashing_sha512 hash/);
    expect(describeBadHash(Buffer.alloc(10).toString('base64'), 'rabbit_password_hashing_sha256')).toMatch(/decodes to 10$/);
    expect(describeBadHash(sha256, 'warren_password_hashing_scrypt')).toMatch(/looks like "\$scrypt\$ln=17,r=8,p=1\$<salt>\$<hash>"/);
  });

  it('passwords - an unknown algorithm is refused, listing the known ones', () => {
    expect(describeBadHash('', 'rabbit_password_hashing_sha1')).toMatch(/unknown hashing_algorithm "rabbit_password_hashing_sha1"; Warren knows rabbit_password_hashing_sha256, /);
  });

  it('passwords - malformed scrypt strings are refused', () => {
    const salt = Buffer.alloc(16, 1).toString('base64').replace(/=+$/, '');
    const key = Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '');
    expect(describeBadHash(`$scrypt$ln=17,r=8,p=1$${salt}$${key}`, 'warren_password_hashing_scrypt')).toBeUndefined();
    const bad = [
      [`$scrypt$ln=17,r=8$${salt}$${key}`, /looks like/],
      [`$scrypt$r=8,ln=17,p=1$${salt}$${key}`, /looks like/],
      [`$scrypt$ln=17,r=8,p=1$${salt}`, /looks like/],
      [`$argon2id$v=19$m=65536,t=3,p=4$${salt}$${key}`, /looks like/],
      [`$scrypt$ln=17,r=8,p=1$${salt}==$${key}`, /salt is not unpadded base64/],
      [`$scrypt$ln=17,r=8,p=1$${salt}$${key}!`, /hash is not unpadded base64/],
      [`$scrypt$ln=17,r=8,p=1$AAAA$${key}`, /salt is 3 bytes; Warren accepts 16 to 64/],
      [`$scrypt$ln=17,r=8,p=1$${salt}$AAAA`, /hash is 3 bytes; Warren accepts 16 to 64/],
    ] as const;
    for (const [hash, reason] of bad) expect(describeBadHash(hash, 'warren_password_hashing_scrypt'), hash).toMatch(reason);
  });

  it('passwords - scrypt parameters outside the bounds are refused, so a crafted hash cannot allocate gigabytes', () => {
    const tail = `${Buffer.alloc(16).toString('base64').replace(/=+$/, '')}$${Buffer.alloc(32).toString('base64').replace(/=+$/, '')}`;
    const describe = (params: string) => describeBadHash(`$scrypt$${params}$${tail}`, 'warren_password_hashing_scrypt');
    expect(describe('ln=9,r=8,p=1')).toMatch(/ln=9 is outside 10\.\.20/);
    expect(describe('ln=21,r=1,p=1')).toMatch(/ln=21 is outside 10\.\.20/);
    expect(describe('ln=0,r=8,p=1')).toMatch(/ln=0 is outside/);
    expect(describe('ln=17,r=0,p=1')).toMatch(/r=0 is outside 1\.\.32/);
    expect(describe('ln=17,r=33,p=1')).toMatch(/r=33 is outside 1\.\.32/);
    expect(describe('ln=17,r=8,p=17')).toMatch(/p=17 is outside 1\.\.16/);
    // Each within its bounds, but together 4 GiB.
    expect(describe('ln=20,r=32,p=1')).toMatch(/need 4097 MiB per login, over Warren's limit of 256 MiB/);
    expect(describe('ln=18,r=8,p=1')).toMatch(/over Warren's limit/);
    expect(describe('ln=20,r=1,p=16')).toBeUndefined();
  });

  it('passwords - an empty hash is well-formed and never verifies', async () => {
    for (const algorithm of HASHING_ALGORITHMS) {
      expect(describeBadHash('', algorithm)).toBeUndefined();
      expect(await verifyPassword('', '', algorithm)).toBe(false);
      expect(await verifyPassword('guest', '', algorithm)).toBe(false);
    }
  });

  it('passwords - verifying against a malformed hash rejects with the reason', async () => {
    await expect(verifyPassword('x', 'not base64!', 'rabbit_password_hashing_sha256')).rejects.toThrow(/not base64/);
    await expect(verifyPassword('x', '$scrypt$ln=30,r=8,p=1$a$b', 'warren_password_hashing_scrypt')).rejects.toThrow(/ln=30 is outside/);
  });

  it('passwords - digests are compared with crypto.timingSafeEqual, never === or Buffer.equals', () => {
    const source = readFileSync(new URL('../../src/auth/passwords.ts', import.meta.url), 'utf8');
    expect(source.match(/return timingSafeEqual\(/g)).toHaveLength(3);
    expect(source).not.toMatch(/\.equals\(|\.compare\(|scryptSync\(/);
  });
});

describe('passwords - Warren argon2id hashes (Node.js 24.7 and later)', () => {
  it.runIf(ARGON2_AVAILABLE)('passwords - new hashes are argon2id at OWASP strength, verify, and keep their parameters', async () => {
    const made = await hashPassword('correct horse');
    expect(made.algorithm).toBe('warren_password_hashing_argon2id');
    expect(made.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(describeBadHash(made.hash, made.algorithm)).toBeUndefined();
    expect(await verifyPassword('correct horse', made.hash, made.algorithm)).toBe(true);
    expect(await verifyPassword('correct horsf', made.hash, made.algorithm)).toBe(false);
    // A cheaper hash (as another tool may write) verifies with its own parameters.
    const cheap = made.hash.replace('m=19456,t=2', 'm=8192,t=1');
    expect(await verifyPassword('correct horse', cheap, made.algorithm)).toBe(false);
    expect(describeBadHash(made.hash.replace('m=19456', 'm=999999'), made.algorithm)).toMatch(/m=999999 is outside 8192\.\.262144/);
    expect(describeBadHash('$argon2i$v=19$m=19456,t=2,p=1$a$b', made.algorithm)).toMatch(/looks like "\$argon2id\$v=19/);
  });

  it.runIf(!ARGON2_AVAILABLE)('passwords - on a Node.js without argon2, new hashes are scrypt, and an argon2id hash is refused saying why', async () => {
    expect((await hashPassword('pw')).algorithm).toBe('warren_password_hashing_scrypt');
    const hash = '$argon2id$v=19$m=19456,t=2,p=1$WK/Tc4hkxjMLpJNoq6991w$1rQL9Efjrgj412PcfCJf96SN11ZQvJzAutnpUBYDsZ0';
    expect(describeBadHash(hash, 'warren_password_hashing_argon2id')).toMatch(/argon2id hashes need Node.js 24.7 or later, and this broker runs on Node.js 20\./);
    await expect(hashPassword('pw', 'warren_password_hashing_argon2id')).rejects.toThrow(/needs Node.js 24.7/);
  });
});

describe('passwords - Warren scrypt hashes', () => {
  it('passwords - hashPassword with scrypt makes an OWASP-strength PHC string with a fresh salt that verifies, and a wrong password does not', async () => {
    const [first, second] = await Promise.all([hashPassword('correct horse', 'warren_password_hashing_scrypt'), hashPassword('correct horse', 'warren_password_hashing_scrypt')]);
    expect(first.hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(first.hash).not.toBe(second.hash);
    expect(describeBadHash(first.hash, 'warren_password_hashing_scrypt')).toBeUndefined();
    expect(await verifyPassword('correct horse', first.hash, 'warren_password_hashing_scrypt')).toBe(true);
    expect(await verifyPassword('correct horsf', first.hash, 'warren_password_hashing_scrypt')).toBe(false);
  });

  it('passwords - the parameters are read from the stored hash, not assumed', async () => {
    // Computed independently with cheaper parameters than Warren writes: a verifier assuming ln=17,r=8,p=1 would say false.
    const salt = Buffer.alloc(16, 7);
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt('tr0ub4dor', salt, 24, { N: 2 ** 10, r: 4, p: 2 }, (error, derived) => (error ? reject(error) : resolve(derived))),
    );
    const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
    const hash = `$scrypt$ln=10,r=4,p=2$${unpadded(salt)}$${unpadded(key)}`;
    expect(await verifyPassword('tr0ub4dor', hash, 'warren_password_hashing_scrypt')).toBe(true);
    expect(await verifyPassword('tr0ub4dor', hash.replace('p=2', 'p=1'), 'warren_password_hashing_scrypt')).toBe(false);
  });
});
