/**
 * JWT verification with jose: keys are imported once at start-up, every signature check, algorithm
 * rule and claim check is jose's. Accepted: HS256 with `secret`, RS256 and ES256 with `publicKeys`,
 * `jwksFile` or `jwksUrl`; never `none`, and never an algorithm of the other family (a public key
 * used as an HMAC secret is the classic algorithm-confusion forgery).
 */
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  importJWK,
  importSPKI,
  importX509,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { parseScopes, type TokenGrants } from './scopes.js';

/** `auth.jwt` of the config. */
export interface JwtConfig {
  /** HS256 shared secret, used as its UTF-8 bytes. */
  secret?: string;
  /** PEM public keys (SPKI `BEGIN PUBLIC KEY`, or an X.509 certificate) for RS256 or ES256. */
  publicKeys?: string[];
  jwksUrl?: string;
  jwksFile?: string;
  audience: string;
  issuer?: string;
  scopePrefix: string;
  clockToleranceSec: number;
}

/** A token that verified: who, until when, and what its scopes grant. */
export interface VerifiedToken {
  username: string;
  /** `exp`, in ms since the epoch. */
  expiresAt: number;
  grants: TokenGrants;
}

/** Why a token was refused, as a sentence a person can act on. */
export class TokenError extends Error {
  override name = 'TokenError';
}

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8192;
/** A token that lives longer than this is refused: a leaked one must not stay good for ever. */
const MAX_TOKEN_LIFETIME_MS = 366 * 24 * 3600 * 1000;

type Asymmetric = 'RS256' | 'ES256';
const ASYMMETRIC: readonly Asymmetric[] = ['RS256', 'ES256'];

/** One place a signing key can come from, with the algorithms it may verify. */
interface KeySource {
  readonly algorithms: readonly string[];
  /** For the "not signed by" sentence and fetch errors: the config key it came from. */
  readonly label: string;
  readonly key: CryptoKey | Uint8Array | JWTVerifyGetKey;
}

const isCode = (error: unknown, code: string): boolean => error instanceof errors.JOSEError && error.code === code;

/** Signature did not verify with this source, or the source has no key for the token: try the next one. */
function isKeyMiss(error: unknown): boolean {
  return isCode(error, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') || isCode(error, 'ERR_JWKS_NO_MATCHING_KEY');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// jose refuses shorter RSA keys when verifying; saying so at start-up beats refusing every login.
const MIN_RSA_BITS = 2048;

/** Why `key` is too weak to verify with, or undefined. */
function weakKey(key: CryptoKey): string | undefined {
  const { modulusLength } = key.algorithm as { modulusLength?: number };
  return modulusLength !== undefined && modulusLength < MIN_RSA_BITS ? `its RSA modulus is ${modulusLength} bits, under ${MIN_RSA_BITS}` : undefined;
}

async function importPem(pem: string, index: number): Promise<KeySource> {
  const certificate = pem.includes('-----BEGIN CERTIFICATE-----');
  const problems: string[] = [];
  // A PEM does not say which algorithm it is for: the key type does (RSA: RS256, P-256: ES256).
  for (const alg of ASYMMETRIC) {
    let key: CryptoKey;
    try {
      key = certificate ? await importX509(pem, alg) : await importSPKI(pem, alg);
    } catch (error) {
      problems.push(`${alg}: ${describe(error)}`);
      continue;
    }
    const weak = weakKey(key);
    if (weak !== undefined) throw new Error(`auth.jwt.publicKeys[${index}] cannot verify ${alg}: ${weak}`);
    return { algorithms: [alg], label: `auth.jwt.publicKeys[${index}]`, key };
  }
  throw new Error(
    `auth.jwt.publicKeys[${index}] is not a PEM public key ("-----BEGIN PUBLIC KEY-----" or a certificate) for RS256 (RSA) or ES256 (P-256) (${problems.join('; ')})`,
  );
}

/** The algorithm a JWKS member is for: its `alg`, or what its key type implies. */
function jwkAlgorithm(jwk: JWK): string | undefined {
  if (jwk.alg !== undefined) return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return undefined;
}

async function loadJwksFile(path: string): Promise<KeySource> {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
  } catch (error) {
    throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)} could not be read as JSON: ${describe(error)}`, { cause: error });
  }
  let key: JWTVerifyGetKey;
  try {
    key = createLocalJWKSet(jwks);
  } catch (error) {
    throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)} is not a JSON Web Key Set ({"keys": [...]}): ${describe(error)}`, { cause: error });
  }
  // Import each usable key now, so that a broken one fails at start-up rather than on a client's login.
  let usable = 0;
  for (const [index, jwk] of jwks.keys.entries()) {
    const alg = jwkAlgorithm(jwk);
    if (alg === undefined || !(ASYMMETRIC as readonly string[]).includes(alg) || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
    if (jwk.d !== undefined) {
      throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)}: keys[${index}] is a private key; the file must hold public keys only`);
    }
    let imported: CryptoKey | Uint8Array;
    try {
      imported = await importJWK(jwk, alg);
    } catch (error) {
      throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)}: keys[${index}] is not a usable ${alg} key: ${describe(error)}`, { cause: error });
    }
    const weak = imported instanceof Uint8Array ? 'it is not a public key' : weakKey(imported);
    if (weak !== undefined) throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)}: keys[${index}] is not a usable ${alg} key: ${weak}`);
    usable++;
  }
  if (usable === 0) throw new Error(`auth.jwt.jwksFile ${JSON.stringify(path)} has no RS256 or ES256 signing key`);
  return { algorithms: ASYMMETRIC, label: 'auth.jwt.jwksFile', key };
}

function remoteJwks(url: string): KeySource {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`auth.jwt.jwksUrl ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new Error(`auth.jwt.jwksUrl ${JSON.stringify(url)} must be an http(s) URL`);
  }
  // jose caches the set (10 minutes) and refetches on an unknown kid at most every 30 s.
  return { algorithms: ASYMMETRIC, label: 'auth.jwt.jwksUrl', key: createRemoteJWKSet(parsed) };
}

function formatTime(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : String(seconds);
}

function formatClaim(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => JSON.stringify(v)).join(', ');
  return JSON.stringify(value);
}

/** Verifies tokens against the keys of one `auth.jwt` config. */
export class TokenVerifier {
  private readonly accepted: ReadonlySet<string>;

  private constructor(
    private readonly config: JwtConfig,
    private readonly sources: readonly KeySource[],
  ) {
    this.accepted = new Set(sources.flatMap((s) => s.algorithms));
  }

  /**
   * Imports the configured keys once. Throws an Error naming the config key that is wrong (a bad
   * PEM, an unreadable or invalid JWKS file, a malformed URL, no key at all).
   */
  static async create(config: JwtConfig): Promise<TokenVerifier> {
    const sources: KeySource[] = [];
    if (config.secret !== undefined) {
      if (config.secret === '') throw new Error('auth.jwt.secret is empty');
      sources.push({ algorithms: ['HS256'], label: 'auth.jwt.secret', key: new TextEncoder().encode(config.secret) });
    }
    for (const [index, pem] of (config.publicKeys ?? []).entries()) sources.push(await importPem(pem, index));
    if (config.jwksFile !== undefined) sources.push(await loadJwksFile(config.jwksFile));
    if (config.jwksUrl !== undefined) sources.push(remoteJwks(config.jwksUrl));
    if (sources.length === 0) throw new Error('auth.jwt needs at least one of secret, publicKeys, jwksFile or jwksUrl');
    if (!Number.isFinite(config.clockToleranceSec) || config.clockToleranceSec < 0) {
      throw new Error('auth.jwt.clockToleranceSec must be a number of seconds, 0 or more');
    }
    return new TokenVerifier(config, sources);
  }

  /** Verifies `token` and returns its user, expiry and grants. Throws TokenError only. */
  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string') throw new TokenError('malformed token: it is not a string');
    if (Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) {
      throw new TokenError(`the token is over ${MAX_TOKEN_BYTES / 1024} KiB`);
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (error) {
      throw new TokenError(`malformed token: ${describe(error)}`);
    }
    if (typeof alg !== 'string' || alg === '') throw new TokenError('malformed token: its header names no alg');
    if (alg === 'none') throw new TokenError('the token is unsigned (alg "none"), which is never accepted');
    if (!this.accepted.has(alg)) {
      throw new TokenError(`the token is signed with ${JSON.stringify(alg)}, but only ${[...this.accepted].join(', ')} are accepted by this broker's auth.jwt keys`);
    }
    let payload: JWTPayload | undefined;
    for (const source of this.sources) {
      if (!source.algorithms.includes(alg)) continue;
      try {
        payload = await this.verifyWith(token, source);
      } catch (error) {
        if (isKeyMiss(error)) continue;
        throw this.refusal(error, source);
      }
      if (payload !== undefined) break;
    }
    if (payload === undefined) throw new TokenError('the token is not signed by a configured key');
    return this.accept(payload);
  }

  /** The payload if `source` verifies the token; a key miss is thrown for the caller to try the next source. */
  private async verifyWith(token: string, source: KeySource): Promise<JWTPayload> {
    const options = {
      algorithms: [...source.algorithms],
      audience: this.config.audience,
      issuer: this.config.issuer,
      clockTolerance: this.config.clockToleranceSec,
      requiredClaims: ['exp', 'sub'],
    };
    try {
      // The overloads of jwtVerify split key and key function; `source.key` is one or the other.
      return typeof source.key === 'function'
        ? (await jwtVerify(token, source.key, options)).payload
        : (await jwtVerify(token, source.key, options)).payload;
    } catch (error) {
      // Several keys of a set fit the header (no kid): jose hands them over one by one.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      for await (const key of error) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (inner) {
          if (!isKeyMiss(inner)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  private refusal(error: unknown, source: KeySource): TokenError {
    if (error instanceof errors.JWTExpired) {
      return new TokenError(`the token has expired at ${formatTime(error.payload.exp)}`);
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      const { claim, reason, payload } = error;
      if (reason === 'missing') {
        const wanted = claim === 'aud' ? ` (it must name ${JSON.stringify(this.config.audience)})` : claim === 'iss' ? ` (it must be ${JSON.stringify(this.config.issuer)})` : '';
        return new TokenError(`the token has no ${claim} claim${wanted}`);
      }
      if (claim === 'aud') return new TokenError(`the token's audience is ${formatClaim(payload.aud)}, not ${this.config.audience}`);
      if (claim === 'iss') return new TokenError(`the token's issuer is ${formatClaim(payload.iss)}, not ${JSON.stringify(this.config.issuer)}`);
      if (claim === 'nbf' && reason === 'check_failed') return new TokenError(`the token is not valid before ${formatTime(payload.nbf)}`);
      return new TokenError(`the token's ${claim} claim is invalid: ${error.message}`);
    }
    if (isCode(error, 'ERR_JWS_INVALID') || isCode(error, 'ERR_JWT_INVALID')) {
      return new TokenError(`malformed token: ${describe(error)}`);
    }
    // What is left from the remote set is its fetch: a timeout, a network error, a bad response.
    if (source.label === 'auth.jwt.jwksUrl') {
      return new TokenError(`the token could not be checked: the key set at auth.jwt.jwksUrl could not be fetched (${describe(error)})`);
    }
    return new TokenError(`the token could not be verified: ${describe(error)}`);
  }

  private accept(payload: JWTPayload): VerifiedToken {
    const { sub, exp } = payload;
    if (typeof sub !== 'string' || sub === '') throw new TokenError('the token has no sub claim (it must be the user name, a non-empty string)');
    if (typeof exp !== 'number') throw new TokenError('the token has no exp claim');
    if (exp * 1000 > Date.now() + MAX_TOKEN_LIFETIME_MS) {
      throw new TokenError(`the token expires at ${formatTime(exp)}, more than a year from now; issue tokens that expire sooner`);
    }
    let grants: TokenGrants;
    try {
      grants = parseScopes(payload.scope, this.config.scopePrefix);
    } catch (error) {
      throw new TokenError(`the token's scope claim is not usable: ${describe(error)}`);
    }
    return { username: sub, expiresAt: exp * 1000, grants };
  }
}
