import { regexAccess, RegexError, type VhostAccess } from './access.js';
import type { User, UserSource } from './authenticator.js';
import { describeBadHash, SLOW_ALGORITHMS, type HashingAlgorithm, type SlowAlgorithm } from './passwords.js';

/** A user as RabbitMQ's definitions and management API give it, with its hash as given. */
export interface AccountUser {
  name: string;
  /** "" means the user cannot log in with a password (RabbitMQ's convention). */
  passwordHash: string;
  hashingAlgorithm: HashingAlgorithm;
  /** Without empty entries. */
  tags: string[];
}

/** RabbitMQ permissions of one (user, vhost): three regexes. */
export interface AccountPermission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

/** RabbitMQ topic permissions of one (user, vhost, exchange). */
export interface AccountTopicPermission {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

/** Every user and permission, as plain data: what is exported and kept on disk. */
export interface AccountsSnapshot {
  users: AccountUser[];
  permissions: AccountPermission[];
  topicPermissions: AccountTopicPermission[];
}

/** A change the book refuses (a malformed hash, a regex that does not compile, an unknown user); the message says what to fix. */
export class AccountError extends Error {
  override name = 'AccountError';
}

const permissionKey = (user: string, vhost: string) => JSON.stringify([user, vhost]);
const topicKey = (user: string, vhost: string, exchange: string) => JSON.stringify([user, vhost, exchange]);

/**
 * The users, permissions and topic permissions of the broker, as they change at run time
 * (docs/management.md, "Users, permissions and vhosts"): the plain entries as given (for exports), and
 * for each user the compiled form logins are checked against, rebuilt when its entries change.
 * Logins made before a change keep what they were given, as in RabbitMQ.
 */
export class AccountBook implements UserSource {
  private readonly users = new Map<string, AccountUser>();
  private readonly permissions = new Map<string, AccountPermission>();
  private readonly topicPermissions = new Map<string, AccountTopicPermission>();
  private readonly compiled = new Map<string, User>();
  /** Users per slow hashing algorithm, for the decoy an unknown name is checked against. */
  private readonly slowUsers = new Map<string, number>();

  /** Throws AccountError for an entry the book would refuse one by one. */
  constructor(snapshot: AccountsSnapshot = { users: [], permissions: [], topicPermissions: [] }) {
    for (const user of snapshot.users) this.putUser(user);
    for (const permission of snapshot.permissions) this.putPermission(permission);
    for (const topic of snapshot.topicPermissions) this.putTopicPermission(topic);
  }

  // UserSource, for the Authenticator.
  get(name: string): User | undefined {
    return this.compiled.get(name);
  }

  get size(): number {
    return this.users.size;
  }

  get slowHash(): SlowAlgorithm | undefined {
    // Scrypt costs the most: while any user has it, an unknown name must cost as much.
    return SLOW_ALGORITHMS.find((algorithm) => this.slowUsers.get(algorithm));
  }

  private countSlow(algorithm: HashingAlgorithm, delta: 1 | -1): void {
    this.slowUsers.set(algorithm, (this.slowUsers.get(algorithm) ?? 0) + delta);
  }

  /** Becomes `snapshot` (what another node saved): all or nothing, as it throws AccountError before it changes anything. */
  replaceWith(snapshot: AccountsSnapshot): void {
    new AccountBook(snapshot);
    for (const name of [...this.users.keys()]) this.deleteUser(name);
    this.permissions.clear();
    this.topicPermissions.clear();
    for (const user of snapshot.users) this.putUser(user);
    for (const permission of snapshot.permissions) this.putPermission(permission);
    for (const topic of snapshot.topicPermissions) this.putTopicPermission(topic);
  }

  user(name: string): AccountUser | undefined {
    return this.users.get(name);
  }

  snapshot(): AccountsSnapshot {
    return { users: [...this.users.values()], permissions: [...this.permissions.values()], topicPermissions: [...this.topicPermissions.values()] };
  }

  /** Adds or replaces a user (its permissions stay); returns whether it is new. */
  putUser(user: AccountUser): boolean {
    const problem = describeBadHash(user.passwordHash, user.hashingAlgorithm);
    if (problem !== undefined) throw new AccountError(`user ${JSON.stringify(user.name)}: ${problem}`);
    const earlier = this.users.get(user.name);
    if (earlier) this.countSlow(earlier.hashingAlgorithm, -1);
    this.countSlow(user.hashingAlgorithm, 1);
    this.users.set(user.name, { ...user, tags: [...user.tags] });
    this.compile(user.name);
    return earlier === undefined;
  }

  /** Removes a user with its permissions and topic permissions, as RabbitMQ does; false when there is none. */
  deleteUser(name: string): boolean {
    const user = this.users.get(name);
    if (!user) return false;
    this.countSlow(user.hashingAlgorithm, -1);
    this.users.delete(name);
    this.compiled.delete(name);
    for (const [key, entry] of this.permissions) if (entry.user === name) this.permissions.delete(key);
    for (const [key, entry] of this.topicPermissions) if (entry.user === name) this.topicPermissions.delete(key);
    return true;
  }

  permissionsOf(filter: (entry: AccountPermission) => boolean = () => true): AccountPermission[] {
    return [...this.permissions.values()].filter(filter);
  }

  topicPermissionsOf(filter: (entry: AccountTopicPermission) => boolean = () => true): AccountTopicPermission[] {
    return [...this.topicPermissions.values()].filter(filter);
  }

  /** Sets a user's permissions on a vhost; returns whether it had none. Throws AccountError for an unknown user or a bad regex. */
  putPermission(permission: AccountPermission): boolean {
    this.knownUser(permission.user);
    const key = permissionKey(permission.user, permission.vhost);
    const earlier = this.permissions.get(key);
    this.permissions.set(key, { ...permission });
    this.compileOrUndo(permission.user, () => (earlier ? this.permissions.set(key, earlier) : this.permissions.delete(key)));
    return earlier === undefined;
  }

  deletePermission(user: string, vhost: string): boolean {
    if (!this.permissions.delete(permissionKey(user, vhost))) return false;
    this.compile(user);
    return true;
  }

  /** Sets a user's topic permission for one exchange of a vhost; returns whether it is new. */
  putTopicPermission(topic: AccountTopicPermission): boolean {
    this.knownUser(topic.user);
    const key = topicKey(topic.user, topic.vhost, topic.exchange);
    const earlier = this.topicPermissions.get(key);
    this.topicPermissions.set(key, { ...topic });
    this.compileOrUndo(topic.user, () => (earlier ? this.topicPermissions.set(key, earlier) : this.topicPermissions.delete(key)));
    return earlier === undefined;
  }

  /** Removes a user's topic permissions on a vhost, for one exchange or all; false when there were none. */
  deleteTopicPermissions(user: string, vhost: string, exchange?: string): boolean {
    let removed = false;
    for (const [key, entry] of this.topicPermissions) {
      if (entry.user === user && entry.vhost === vhost && (exchange === undefined || entry.exchange === exchange)) removed = this.topicPermissions.delete(key) || removed;
    }
    if (removed) this.compile(user);
    return removed;
  }

  /** A vhost was deleted: every permission on it goes, as in RabbitMQ. */
  deleteVhost(vhost: string): void {
    const users = new Set<string>();
    for (const [key, entry] of this.permissions) if (entry.vhost === vhost && this.permissions.delete(key)) users.add(entry.user);
    for (const [key, entry] of this.topicPermissions) if (entry.vhost === vhost && this.topicPermissions.delete(key)) users.add(entry.user);
    for (const user of users) this.compile(user);
  }

  private knownUser(name: string): void {
    if (!this.users.has(name)) throw new AccountError(`user ${JSON.stringify(name)} does not exist; create the user first`);
  }

  private compileOrUndo(user: string, undo: () => void): void {
    try {
      this.compile(user);
    } catch (error) {
      undo();
      if (error instanceof RegexError) throw new AccountError(error.message);
      throw error;
    }
  }

  /** Builds the user's compiled form from its entries; throws RegexError when a pattern does not compile. */
  private compile(name: string): void {
    const user = this.users.get(name);
    if (!user) return;
    const vhosts = new Map<string, VhostAccess>();
    for (const permission of this.permissions.values()) {
      if (permission.user !== name) continue;
      const topics = this.topicPermissionsOf((topic) => topic.user === name && topic.vhost === permission.vhost);
      vhosts.set(permission.vhost, regexAccess(permission, topics, { username: name, vhost: permission.vhost }));
    }
    this.compiled.set(name, { name, tags: user.tags, credential: { kind: 'hash', hash: user.passwordHash, algorithm: user.hashingAlgorithm }, vhosts });
  }
}
