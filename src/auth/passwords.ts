import * as crypto from 'node:crypto';
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** The values of a RabbitMQ definitions user's `hashing_algorithm`, plus Warren's own. */
export const HASHING_ALGORITHMS = [
  'rabbit_password_hashing_sha256',
  'rabbit_password_hashing_sha512',
  'rabbit_password_hashing_md5',
  'warren_password_hashing_scrypt',
  'warren_password_hashing_argon2id',
] as const;
export type HashingAlgorithm = (typeof HASHING_ALGORITHMS)[number];
/** RabbitMQ's default when a definitions user has no hashing_algorithm. */
export const DEFAULT_HASHING_ALGORITHM: HashingAlgorithm = 'rabbit_password_hashing_sha256';
/** Warren's own: costly on purpose, run on libuv's thread pool, at most MAX_CONCURRENT_SLOW at once; the costliest first. */
export const SLOW_ALGORITHMS = ['warren_password_hashing_scrypt', 'warren_password_hashing_argon2id'] as const;
export type SlowAlgorithm = (typeof SLOW_ALGORITHMS)[number];

type RabbitAlgorithm = Exclude<HashingAlgorithm, SlowAlgorithm>;

/** crypto.argon2, from Node 24.7 (absent from Node 20's types and runtime). */
type Argon2 = (
  algorithm: 'argon2id',
  parameters: { message: string; nonce: Buffer; parallelism: number; tagLength: number; memory: number; passes: number },
  callback: (error: Error | null, key: Buffer) => void,
) => void;
const argon2: Argon2 | undefined = (crypto as unknown as { argon2?: Argon2 }).argon2;
/** Whether this Node has crypto.argon2 (24.7 and later): then new hashes are argon2id, and argon2id hashes verify. */
export const ARGON2_AVAILABLE = typeof argon2 === 'function';

/** RabbitMQ's salt is 32 bits (rabbit_password.erl, generate_salt/0). */
const RABBIT_SALT_BYTES = 4;
const RABBIT_DIGESTS: Record<RabbitAlgorithm, { digest: string; label: string; bytes: number }> = {
  rabbit_password_hashing_sha256: { digest: 'sha256', label: 'SHA-256', bytes: 32 },
  rabbit_password_hashing_sha512: { digest: 'sha512', label: 'SHA-512', bytes: 64 },
  rabbit_password_hashing_md5: { digest: 'md5', label: 'MD5', bytes: 16 },
};

// OWASP's password storage cheat sheet minimum for scrypt: N=2^17, r=8, p=1.
const SCRYPT_LOG_N = 17;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_SALT_BYTES = 16;
const SCRYPT_KEY_BYTES = 32;
// The parameters come from a definitions file or the management API: bounded so that a crafted
// hash cannot make a login allocate gigabytes or spin for minutes on the thread pool.
const SCRYPT_BOUNDS = { ln: [10, 20], r: [1, 32], p: [1, 16], salt: [16, 64], key: [16, 64] } as const;
/** Passed as scrypt's `maxmem`, and the most a stored hash's parameters may need: about twice the defaults' 128 MiB. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;
/** What OpenSSL's scrypt allocates for these parameters, as it checks it against `maxmem`. */
const scryptMemory = (n: number, r: number, p: number) => 128 * r * (n + p + 2);

const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UNPADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2,3})?$/;
const SCRYPT_FORMAT = /^\$scrypt\$ln=(0|[1-9]\d{0,2}),r=(0|[1-9]\d{0,2}),p=(0|[1-9]\d{0,2})\$([^$]*)\$([^$]*)$/;
const SCRYPT_EXAMPLE = '$scrypt$ln=17,r=8,p=1$<salt>$<hash>';

// OWASP's password storage cheat sheet's first choice: argon2id, m=19 MiB, t=2, p=1.
const ARGON2_MEMORY_KIB = 19_456;
const ARGON2_PASSES = 2;
const ARGON2_PARALLELISM = 1;
// As for scrypt: a stored hash may not make a login allocate more than 256 MiB or spin for long.
const ARGON2_BOUNDS = { m: [8_192, 262_144], t: [1, 10], p: [1, 16], salt: [16, 64], key: [16, 64] } as const;
const ARGON2_FORMAT = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$([^$]*)\$([^$]*)$/;
const ARGON2_EXAMPLE = '$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>';

const isHashingAlgorithm = (algorithm: string): algorithm is HashingAlgorithm => (HASHING_ALGORITHMS as readonly string[]).includes(algorithm);

interface ScryptHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** The parsed hash, or why it is not one: Buffer.from(..., 'base64') skips bad characters silently, so the alphabet is checked first. */
function parseScrypt(passwordHash: string): ScryptHash | string {
  const match = SCRYPT_FORMAT.exec(passwordHash);
  if (!match) return `a warren_password_hashing_scrypt hash looks like "${SCRYPT_EXAMPLE}" (as "warren hash-password" prints), and this one does not`;
  const [ln, r, p] = [match[1], match[2], match[3]].map(Number);
  const outside = (
    [
      ['ln', ln],
      ['r', r],
      ['p', p],
    ] as const
  ).find(([name, value]) => value < SCRYPT_BOUNDS[name][0] || value > SCRYPT_BOUNDS[name][1]);
  if (outside) {
    const [name, value] = outside;
    return `the scrypt parameter ${name}=${value} is outside ${SCRYPT_BOUNDS[name][0]}..${SCRYPT_BOUNDS[name][1]}`;
  }
  const n = 2 ** ln;
  const memory = scryptMemory(n, r, p);
  if (memory > SCRYPT_MAX_MEMORY) {
    return `the scrypt parameters ln=${ln},r=${r},p=${p} need ${Math.ceil(memory / 2 ** 20)} MiB per login, over Warren's limit of ${SCRYPT_MAX_MEMORY / 2 ** 20} MiB`;
  }
  const decoded = saltAndKey('scrypt', match[4], match[5], SCRYPT_BOUNDS);
  return typeof decoded === 'string' ? decoded : { n, r, p, ...decoded };
}

/** A PHC string's salt and key, unpadded base64, each within its bounds; or why not. */
function saltAndKey(
  scheme: string,
  saltText: string,
  keyText: string,
  bounds: { salt: readonly [number, number]; key: readonly [number, number] },
): { salt: Buffer; key: Buffer } | string {
  const parts = [
    ['salt', saltText, bounds.salt],
    ['hash', keyText, bounds.key],
  ] as const;
  const decoded: Buffer[] = [];
  for (const [name, text, [min, max]] of parts) {
    if (!UNPADDED_BASE64.test(text)) return `the ${scheme} ${name} is not unpadded base64 (A-Z, a-z, 0-9, + and /, without "=")`;
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length < min || bytes.length > max) return `the ${scheme} ${name} is ${bytes.length} bytes; Warren accepts ${min} to ${max}`;
    decoded.push(bytes);
  }
  return { salt: decoded[0], key: decoded[1] };
}

interface Argon2Hash {
  memory: number;
  passes: number;
  parallelism: number;
  salt: Buffer;
  key: Buffer;
}

function parseArgon2(passwordHash: string): Argon2Hash | string {
  if (!ARGON2_AVAILABLE) {
    return `argon2id hashes need Node.js 24.7 or later, and this broker runs on Node.js ${process.versions.node}: run it on a newer Node, or give this user a scrypt hash made here with "warren hash-password"`;
  }
  const match = ARGON2_FORMAT.exec(passwordHash);
  if (!match) return `a warren_password_hashing_argon2id hash looks like "${ARGON2_EXAMPLE}" (as "warren hash-password" prints on Node.js 24.7 and later), and this one does not`;
  const [m, t, p] = [match[1], match[2], match[3]].map(Number);
  const named = [
    ['m', m],
    ['t', t],
    ['p', p],
  ] as const;
  const outside = named.find(([name, value]) => value < ARGON2_BOUNDS[name][0] || value > ARGON2_BOUNDS[name][1]);
  if (outside) return `the argon2id parameter ${outside[0]}=${outside[1]} is outside ${ARGON2_BOUNDS[outside[0]][0]}..${ARGON2_BOUNDS[outside[0]][1]}`;
  const decoded = saltAndKey('argon2id', match[4], match[5], ARGON2_BOUNDS);
  return typeof decoded === 'string' ? decoded : { memory: m, passes: t, parallelism: p, ...decoded };
}

/** The salt and digest, or why they are not: the length names the algorithm, so a mismatch is most likely the wrong `hashing_algorithm`. */
function parseRabbit(passwordHash: string, algorithm: RabbitAlgorithm): { salt: Buffer; digest: Buffer } | string {
  if (!PADDED_BASE64.test(passwordHash) && !UNPADDED_BASE64.test(passwordHash)) {
    return `the hash is not base64 (A-Z, a-z, 0-9, + and /, with "=" only as padding at the end)`;
  }
  const bytes = Buffer.from(passwordHash, 'base64');
  const { label, bytes: digestBytes } = RABBIT_DIGESTS[algorithm];
  const expected = RABBIT_SALT_BYTES + digestBytes;
  if (bytes.length !== expected) {
    const other = (Object.keys(RABBIT_DIGESTS) as RabbitAlgorithm[]).find((name) => RABBIT_SALT_BYTES + RABBIT_DIGESTS[name].bytes === bytes.length);
    const hint = other ? `; that is the length of a ${other} hash: is hashing_algorithm right?` : '';
    return `a ${algorithm} hash is ${expected} bytes (${RABBIT_SALT_BYTES} salt bytes and a ${digestBytes}-byte ${label} digest), but this one decodes to ${bytes.length}${hint}`;
  }
  return { salt: bytes.subarray(0, RABBIT_SALT_BYTES), digest: bytes.subarray(RABBIT_SALT_BYTES) };
}

/** The digest RabbitMQ stores after the salt: H(salt ++ UTF-8 password), as in rabbit_password.erl's salted_hash/3. */
const rabbitDigest = (password: string, algorithm: RabbitAlgorithm, salt: Buffer): Buffer =>
  createHash(RABBIT_DIGESTS[algorithm].digest)
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();

/**
 * Scrypt and argon2id derivations running at once, at most. Each holds one of libuv's four threads
 * for tens to hundreds of milliseconds, and the journal's file writes need that pool too: a burst
 * of logins (or of wrong passwords) must queue behind these two rather than stall every
 * publisher's confirm.
 */
const MAX_CONCURRENT_SLOW = 2;
let slowRunning = 0;
const slowWaiting: (() => void)[] = [];

async function slowHash(derive: (done: (error: Error | null, key: Buffer) => void) => void): Promise<Buffer> {
  while (slowRunning >= MAX_CONCURRENT_SLOW) await new Promise<void>((resolve) => slowWaiting.push(resolve));
  slowRunning++;
  try {
    return await new Promise((resolve, reject) => derive((error, key) => (error ? reject(error) : resolve(key))));
  } finally {
    slowRunning--;
    slowWaiting.shift()?.();
  }
}

// Not util.promisify: its typing picks scrypt's overload without options.
const scryptAsync = (password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> =>
  slowHash((done) => scrypt(password, salt, keyLength, options, done));

const argon2Async = (password: string, salt: Buffer, keyLength: number, memory: number, passes: number, parallelism: number): Promise<Buffer> =>
  slowHash((done) => (argon2 as Argon2)('argon2id', { message: password, nonce: salt, parallelism, tagLength: keyLength, memory, passes }, done));

const scryptOptions = (n: number, r: number, p: number): ScryptOptions => ({ N: n, r, p, maxmem: SCRYPT_MAX_MEMORY });

/**
 * Why `passwordHash` cannot be a hash of `algorithm` (bad base64, wrong length, bad scrypt parameters...), as a sentence
 * naming what is wrong; undefined when it is well-formed. An empty hash is well-formed: RabbitMQ uses it for users who
 * cannot log in with a password.
 */
export function describeBadHash(passwordHash: string, algorithm: string): string | undefined {
  if (!isHashingAlgorithm(algorithm)) return `unknown hashing_algorithm "${algorithm}"; Warren knows ${HASHING_ALGORITHMS.join(', ')}`;
  if (passwordHash === '') return undefined;
  const parsed =
    algorithm === 'warren_password_hashing_scrypt' ? parseScrypt(passwordHash) : algorithm === 'warren_password_hashing_argon2id' ? parseArgon2(passwordHash) : parseRabbit(passwordHash, algorithm);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * Whether `password` matches; constant-time comparison of the digests (crypto.timingSafeEqual); false for an empty
 * stored hash; never throws for a well-formed hash (a malformed one rejects with `describeBadHash`'s sentence: check
 * hashes when they are loaded, not at login). Async because scrypt runs on libuv's thread pool (never scryptSync: it
 * would stall the event loop).
 */
export async function verifyPassword(password: string, passwordHash: string, algorithm: HashingAlgorithm): Promise<boolean> {
  if (passwordHash === '') return false;
  if (algorithm === 'warren_password_hashing_scrypt') {
    const parsed = parseScrypt(passwordHash);
    if (typeof parsed === 'string') throw new Error(parsed);
    const key = await scryptAsync(password, parsed.salt, parsed.key.length, scryptOptions(parsed.n, parsed.r, parsed.p));
    return timingSafeEqual(key, parsed.key);
  }
  if (algorithm === 'warren_password_hashing_argon2id') {
    const parsed = parseArgon2(passwordHash);
    if (typeof parsed === 'string') throw new Error(parsed);
    const key = await argon2Async(password, parsed.salt, parsed.key.length, parsed.memory, parsed.passes, parsed.parallelism);
    return timingSafeEqual(key, parsed.key);
  }
  const parsed = parseRabbit(passwordHash, algorithm);
  if (typeof parsed === 'string') throw new Error(parsed);
  return timingSafeEqual(rabbitDigest(password, algorithm, parsed.salt), parsed.digest);
}

/**
 * A new Warren hash of `password` (a fresh random salt): argon2id where this Node has it (24.7
 * and later), scrypt otherwise; `algorithm` is the `hashing_algorithm` to store with it.
 */
export async function hashPassword(password: string, algorithm: SlowAlgorithm = ARGON2_AVAILABLE ? 'warren_password_hashing_argon2id' : 'warren_password_hashing_scrypt'): Promise<{ hash: string; algorithm: SlowAlgorithm }> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
  if (algorithm === 'warren_password_hashing_argon2id') {
    if (!ARGON2_AVAILABLE) throw new Error(`argon2id needs Node.js 24.7 or later (this is ${process.versions.node})`);
    const key = await argon2Async(password, salt, SCRYPT_KEY_BYTES, ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_PARALLELISM);
    return { hash: `$argon2id$v=19$m=${ARGON2_MEMORY_KIB},t=${ARGON2_PASSES},p=${ARGON2_PARALLELISM}$${unpadded(salt)}$${unpadded(key)}`, algorithm };
  }
  const key = await scryptAsync(password, salt, SCRYPT_KEY_BYTES, scryptOptions(2 ** SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P));
  return { hash: `$scrypt$ln=${SCRYPT_LOG_N},r=${SCRYPT_R},p=${SCRYPT_P}$${unpadded(salt)}$${unpadded(key)}`, algorithm };
}

/**
 * A hash in RabbitMQ's format (base64 of 4 salt bytes followed by the digest of salt + UTF-8 password), as
 * `rabbitmqctl hash_password` makes; `salt` for tests.
 */
export function rabbitPasswordHash(password: string, algorithm: RabbitAlgorithm, salt: Buffer = randomBytes(RABBIT_SALT_BYTES)): string {
  if (salt.length !== RABBIT_SALT_BYTES) throw new RangeError(`a RabbitMQ password salt is ${RABBIT_SALT_BYTES} bytes, not ${salt.length}`);
  return Buffer.concat([salt, rabbitDigest(password, algorithm, salt)]).toString('base64');
}
