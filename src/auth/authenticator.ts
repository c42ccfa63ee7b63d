import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { FULL_ACCESS, type VhostAccess } from './access.js';
import { hashPassword, SLOW_ALGORITHMS, verifyPassword, type HashingAlgorithm, type SlowAlgorithm } from './passwords.js';
import { TokenError, type TokenVerifier, type VerifiedToken } from './tokens.js';

/** WebSocket close code after failed authentication (docs/protocol.md, "Connecting"). */
export const CLOSE_ACCESS_REFUSED = 4401;
/** WebSocket close code when the vhost does not exist or the user may not use it. */
export const CLOSE_VHOST_REFUSED = 4403;

/** The vhost a connection gets when it names none (RabbitMQ's default). */
export const DEFAULT_VHOST = '/';

/** How a user proves who they are: a stored hash (definitions, management API) or a password from the config's `users`. */
export type Credential = { kind: 'hash'; hash: string; algorithm: HashingAlgorithm } | { kind: 'plain'; password: string };

/** A user as the broker knows them: how they log in, their tags, and what they may do in each vhost. */
export interface User {
  readonly name: string;
  readonly tags: readonly string[];
  readonly credential: Credential;
  /** Vhosts the user has permissions on; a vhost missing here cannot be used. */
  readonly vhosts: ReadonlyMap<string, VhostAccess>;
}

/** Who is connected, in which vhost, and what they may do there. */
export interface Principal {
  /** Undefined for an anonymous connection. */
  readonly username: string | undefined;
  readonly vhost: string;
  readonly tags: ReadonlySet<string>;
  readonly access: VhostAccess;
  /** When the token it logged in with expires (ms since the epoch); undefined for a password login. */
  readonly expiresAt: number | undefined;
}

/**
 * Who calls the management API (docs/management.md, "Authentication"): a user or a token's
 * subject, its tags, and the vhosts it has permissions on. No vhost is chosen, unlike a Principal.
 */
export interface Identity {
  /** Undefined for anonymous development access. */
  readonly username: string | undefined;
  readonly tags: ReadonlySet<string>;
  /** Whether it has permissions on `vhost` (could log into it). */
  mayUse(vhost: string): boolean;
  /**
   * What it may do in `vhost` (the same VhostAccess a client's login there gets), or undefined
   * without permissions on it: what the API's writes are checked against, through GuardedVhost.
   */
  access(vhost: string): VhostAccess | undefined;
  /** When its token expires (ms since the epoch); undefined for a password. */
  readonly expiresAt: number | undefined;
}

export type IdentifyOutcome =
  | { ok: true; identity: Identity }
  /** `message` goes to the client; `reason` only to the log. */
  | { ok: false; message: string; reason: string };

export interface LoginRequest {
  username: string | undefined;
  password: string | undefined;
  token: string | undefined;
  vhost: string | undefined;
  /** The client's IP address: anonymous access is for loopback only unless configured otherwise. */
  remoteAddress: string | undefined;
}

export type LoginOutcome =
  | { ok: true; principal: Principal }
  /** `message` goes to the client; `reason` only to the log (it may say which part was wrong). */
  | { ok: false; closeCode: number; message: string; reason: string };

/** Where the Authenticator finds users: an AccountBook, which changes at run time. */
export interface UserSource {
  get(name: string): User | undefined;
  readonly size: number;
  /** The costliest slow hash a user has, if any: an unknown name is checked against a decoy of it. */
  readonly slowHash: SlowAlgorithm | undefined;
}

export interface AuthenticatorOptions {
  /** A fixed list (tests), or a source that changes. */
  users: readonly User[] | UserSource;
  /** The vhosts that exist now (they may come and go while running). */
  vhosts: { has(name: string): boolean };
  /** Undefined when no token key is configured. */
  tokens: TokenVerifier | undefined;
  /** `auth.anonymous`: true lets anonymous clients in from anywhere; false never; undefined from loopback only. */
  anonymous: boolean | undefined;
}

const WRONG_CREDENTIALS = 'access refused: unknown user or wrong password';

/**
 * Checked for an unknown user name, so that its refusal takes as long as a wrong password of a
 * real user (who would otherwise be told apart by timing): the costliest scheme in use. The
 * argon2id one is made when first needed, on a Node that has argon2 (no such user exists otherwise).
 */
const SCRYPT_DECOY: Credential = {
  kind: 'hash',
  hash: '$scrypt$ln=17,r=8,p=1$WK/Tc4hkxjMLpJNoq6991w$1rQL9Efjrgj412PcfCJf96SN11ZQvJzAutnpUBYDsZ0',
  algorithm: 'warren_password_hashing_scrypt',
};
const FAST_DECOY: Credential = { kind: 'hash', hash: 'UKSOHCeVU/zbGKVR/daNgdxzjzrX4xR332S8SmZo7VcOiIzk', algorithm: 'rabbit_password_hashing_sha256' };
let argon2Decoy: Promise<Credential> | undefined;

function decoyFor(slowHash: SlowAlgorithm | undefined): Credential | Promise<Credential> {
  if (slowHash === 'warren_password_hashing_scrypt') return SCRYPT_DECOY;
  if (slowHash === undefined) return FAST_DECOY;
  argon2Decoy ??= hashPassword(randomUUID(), slowHash).then(({ hash, algorithm }) => ({ kind: 'hash', hash, algorithm }));
  return argon2Decoy;
}

/** Most users have no tags: they share one empty set rather than a set per login (an idle connection holds it). */
const NO_TAGS: ReadonlySet<string> = new Set();
const tagSet = (tags: readonly string[]): ReadonlySet<string> => (tags.length === 0 ? NO_TAGS : new Set(tags));

/**
 * Decides who may connect (docs/security.md): users with passwords, tokens, or anonymous
 * development access. Counts failed logins. No socket code: the session core asks it.
 */
export class Authenticator {
  /** Failed logins since start, for logs and metrics. */
  failedLogins = 0;
  private readonly users: UserSource;

  constructor(private readonly options: AuthenticatorOptions) {
    this.users = 'get' in options.users ? options.users : fixedUsers(options.users);
  }

  /** Whether a client with no user name and no token is let in, from some address. */
  get anonymousAllowed(): boolean {
    return this.users.size === 0 && this.options.tokens === undefined && this.options.anonymous !== false;
  }

  async login(request: LoginRequest): Promise<LoginOutcome> {
    const outcome = await this.decide(request);
    if (!outcome.ok) this.failedLogins++;
    return outcome;
  }

  private async decide(request: LoginRequest): Promise<LoginOutcome> {
    const vhost = request.vhost ?? DEFAULT_VHOST;
    if (request.token !== undefined) return this.tokenLogin(request.token, vhost);
    if (this.anonymousAllowed) {
      if (this.options.anonymous !== true && !isLoopback(request.remoteAddress)) {
        return refused(
          CLOSE_ACCESS_REFUSED,
          'access refused: anonymous access is allowed from this machine only; configure users or tokens, or set auth.anonymous to true',
          `anonymous from ${request.remoteAddress ?? 'an unknown address'}`,
        );
      }
      return this.enter(undefined, vhost, FULL_ACCESS, NO_TAGS, undefined);
    }
    const checked = await this.checkPassword(request.username, request.password);
    if (typeof checked === 'string') return refused(CLOSE_ACCESS_REFUSED, WRONG_CREDENTIALS, checked);
    return this.enter(checked.name, vhost, checked.vhosts.get(vhost), tagSet(checked.tags), undefined);
  }

  /**
   * A user name and password for the management API: the user with its tags, no vhost chosen.
   * The same users, hashes, decoy and failure count as a client's login.
   */
  async authenticateUser(username: string, password: string): Promise<IdentifyOutcome> {
    const checked = await this.checkPassword(username, password);
    if (typeof checked === 'string') {
      this.failedLogins++;
      return { ok: false, message: WRONG_CREDENTIALS, reason: checked };
    }
    const tags = tagSet(checked.tags);
    const access = (vhost: string) => checked.vhosts.get(vhost);
    return { ok: true, identity: { username: checked.name, tags, mayUse: (vhost) => access(vhost) !== undefined, access, expiresAt: undefined } };
  }

  /** A token for the management API: its subject, the tags of its `tag:` scopes, the vhosts its scopes name. */
  async authenticateToken(token: string): Promise<IdentifyOutcome> {
    const verified = await this.verifyToken(token);
    if (!('grants' in verified)) {
      this.failedLogins++;
      return { ok: false, ...verified };
    }
    const { username, grants, expiresAt } = verified;
    const access = (vhost: string) => grants.access(vhost, { username });
    return { ok: true, identity: { username, tags: grants.tags, mayUse: (vhost) => access(vhost) !== undefined, access, expiresAt } };
  }

  /** The token, verified; or why not: a message for the client and a reason for the log. */
  private async verifyToken(token: string): Promise<VerifiedToken | { message: string; reason: string }> {
    const verifier = this.options.tokens;
    if (!verifier) return { message: 'access refused: this broker does not accept tokens (no auth.jwt is configured)', reason: 'token login not configured' };
    try {
      return await verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenError) return { message: `access refused: ${error.message}`, reason: error.message };
      throw error;
    }
  }

  /** The user whose password this is, or why not (for the log only: the client is told no more than WRONG_CREDENTIALS). */
  private async checkPassword(username: string | undefined, password: string | undefined): Promise<User | string> {
    const user = username === undefined ? undefined : this.users.get(username);
    if (!user && password !== undefined) await matches(password, await decoyFor(this.users.slowHash));
    if (!user || password === undefined || !(await matches(password, user.credential))) {
      return user ? 'wrong password' : username === undefined ? 'no user name' : 'unknown user';
    }
    return user;
  }

  /**
   * A new token for a live connection (`auth.refresh`): it must verify, name the same user and
   * still give access to the connection's vhost; the permissions become the new token's.
   */
  async refresh(token: string, current: Principal): Promise<LoginOutcome> {
    const outcome = await this.tokenLogin(token, current.vhost);
    if (outcome.ok && outcome.principal.username !== current.username) {
      return refused(
        CLOSE_ACCESS_REFUSED,
        `access refused: the token is for user ${JSON.stringify(outcome.principal.username)}, and this connection is user ${JSON.stringify(current.username)}'s`,
        'refresh for another user',
      );
    }
    return outcome;
  }

  private async tokenLogin(token: string, vhost: string): Promise<LoginOutcome> {
    const verified = await this.verifyToken(token);
    if (!('grants' in verified)) return refused(CLOSE_ACCESS_REFUSED, verified.message, verified.reason);
    return this.enter(verified.username, vhost, verified.grants.access(vhost, { username: verified.username }), verified.grants.tags, verified.expiresAt);
  }

  private enter(username: string | undefined, vhost: string, access: VhostAccess | undefined, tags: ReadonlySet<string>, expiresAt: number | undefined): LoginOutcome {
    if (!this.options.vhosts.has(vhost)) {
      return refused(CLOSE_VHOST_REFUSED, `access refused: vhost ${JSON.stringify(vhost)} does not exist`, 'unknown vhost');
    }
    if (!access) {
      return refused(CLOSE_VHOST_REFUSED, `access refused: user ${JSON.stringify(username)} has no permissions on vhost ${JSON.stringify(vhost)}`, 'no permissions on the vhost');
    }
    return { ok: true, principal: { username, vhost, tags, access, expiresAt } };
  }
}

/**
 * A user of the config's `users` list: a plain password, full permissions on the default vhost,
 * and the administrator tag (docs/security.md, "Users").
 */
export function configUser(username: string, password: string): User {
  return { name: username, tags: ['administrator'], credential: { kind: 'plain', password }, vhosts: new Map([[DEFAULT_VHOST, FULL_ACCESS]]) };
}

function fixedUsers(list: readonly User[]): UserSource {
  const users = new Map(list.map((user) => [user.name, user]));
  const algorithms = new Set(list.map(({ credential }) => (credential.kind === 'hash' ? credential.algorithm : undefined)));
  const slowHash = SLOW_ALGORITHMS.find((algorithm) => algorithms.has(algorithm));
  return { get: (name) => users.get(name), size: users.size, slowHash };
}

function refused(closeCode: number, message: string, reason: string): LoginOutcome {
  return { ok: false, closeCode, message, reason };
}

async function matches(password: string, credential: Credential): Promise<boolean> {
  if (credential.kind === 'hash') return verifyPassword(password, credential.hash, credential.algorithm);
  // Digests of equal length, so that the comparison takes the same time whatever the password.
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(password), digest(credential.password));
}

/** Whether an address is this machine's: 127.0.0.0/8, ::1, or an IPv4 loopback mapped into IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
