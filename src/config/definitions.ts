import { DEFAULT_HASHING_ALGORITHM, describeBadHash, describeBadRegex, type AccountsSnapshot } from '../auth/index.js';
import { IGNORED_POLICY_KEYS, type PolicyApplyTo } from '../broker/index.js';
import { DEFINITIONS_KEYS, type RawDefinitions } from './schema.js';
import type { Definitions, UserConfig } from './types.js';

/** The vhost that always exists, and the one an entry without a `vhost` field is in. */
const DEFAULT_VHOST = '/';

/**
 * Maps a validated RabbitMQ definitions export to Warren's camelCase definitions. Fields a
 * hand-written file leaves out take the protocol's declare defaults (durable true, autoDelete and
 * internal false, routing key "", destination type "queue", arguments {}; a policy's apply-to "all"
 * and priority 0). A queue's `type` "quorum" (newer exports) becomes its `x-queue-type` argument,
 * which is how a declare says it.
 */
export function toDefinitions(raw: RawDefinitions): Definitions {
  return {
    exchanges: (raw.exchanges ?? []).map((e) => ({
      name: e.name,
      vhost: e.vhost ?? DEFAULT_VHOST,
      type: e.type,
      durable: e.durable ?? true,
      autoDelete: e.auto_delete ?? false,
      internal: e.internal ?? false,
      arguments: table(e.arguments),
    })),
    queues: (raw.queues ?? []).map((q) => {
      const args = table(q.arguments);
      if ((q.type === 'quorum' || q.type === 'stream') && args['x-queue-type'] === undefined) args['x-queue-type'] = q.type;
      return { name: q.name, vhost: q.vhost ?? DEFAULT_VHOST, durable: q.durable ?? true, autoDelete: q.auto_delete ?? false, arguments: args };
    }),
    bindings: (raw.bindings ?? []).map((b) => ({
      source: b.source,
      vhost: b.vhost ?? DEFAULT_VHOST,
      destination: b.destination,
      destinationType: b.destination_type ?? 'queue',
      routingKey: b.routing_key ?? '',
      arguments: table(b.arguments),
    })),
    users: (raw.users ?? []).map((u) => ({
      name: u.name,
      passwordHash: u.password_hash,
      hashingAlgorithm: u.hashing_algorithm ?? DEFAULT_HASHING_ALGORITHM,
      tags: tags(u.tags),
    })),
    permissions: (raw.permissions ?? []).map((p) => ({ user: p.user, vhost: p.vhost ?? DEFAULT_VHOST, configure: p.configure, write: p.write, read: p.read })),
    topicPermissions: (raw.topic_permissions ?? []).map((p) => ({
      user: p.user,
      vhost: p.vhost ?? DEFAULT_VHOST,
      exchange: p.exchange,
      write: p.write,
      read: p.read,
    })),
    policies: (raw.policies ?? []).map((p) => ({
      vhost: p.vhost ?? DEFAULT_VHOST,
      name: p.name,
      pattern: p.pattern,
      applyTo: (p['apply-to'] ?? 'all') as PolicyApplyTo,
      priority: p.priority ?? 0,
      definition: p.definition,
    })),
    vhosts: unique([DEFAULT_VHOST, ...(raw.vhosts ?? []).map((v) => v.name)]),
  };
}

/** Users, permissions and topic permissions in RabbitMQ's definitions format: the inverse of toDefinitions for them. */
export function accountsDocument(snapshot: AccountsSnapshot) {
  return {
    users: snapshot.users.map((user) => ({ name: user.name, password_hash: user.passwordHash, hashing_algorithm: user.hashingAlgorithm, tags: [...user.tags], limits: {} })),
    permissions: snapshot.permissions.map(({ user, vhost, configure, write, read }) => ({ user, vhost, configure, write, read })),
    topic_permissions: snapshot.topicPermissions.map(({ user, vhost, exchange, write, read }) => ({ user, vhost, exchange, write, read })),
  };
}

/** Appends `b`'s entries to `a`'s (vhosts without repeats); `a` is not changed. */
export function concatDefinitions(a: Definitions, b: Definitions | undefined): Definitions {
  if (b === undefined) return a;
  return {
    exchanges: [...a.exchanges, ...b.exchanges],
    queues: [...a.queues, ...b.queues],
    bindings: [...a.bindings, ...b.bindings],
    users: [...a.users, ...b.users],
    permissions: [...a.permissions, ...b.permissions],
    topicPermissions: [...a.topicPermissions, ...b.topicPermissions],
    policies: [...a.policies, ...b.policies],
    vhosts: unique([...a.vhosts, ...b.vhosts]),
  };
}

/** One schema-valid definitions document, and how problems name it. */
export interface DefinitionsSource {
  raw: RawDefinitions;
  /** The file, put before each problem. */
  file: string;
  /** The path of the definitions object followed by a dot (`definitions.`), or "" for a bare export. */
  at: string;
}

export interface DefinitionsCheckOptions {
  /** The config file's plain `users`; a definitions user may not repeat one. */
  plainUsers: readonly UserConfig[];
  /** The config file, to point at its `users`. */
  configFile: string | undefined;
  /** False when a source could not be read or validated: then a user or vhost it may define is not called unknown. */
  complete: boolean;
  /** Users and vhosts that exist already (an import into a running broker): entries may name them. */
  knownUsers?: ReadonlySet<string>;
  knownVhosts?: ReadonlySet<string>;
}

/** Where one entry is: its file and JSON path. */
interface Place {
  file: string;
  path: string;
}

/**
 * What the schema cannot check, over every source together (the config file's definitions, then the
 * definitions file): password hashes that are malformed for their algorithm, permission regexes that
 * do not compile, users defined twice (also against the config's plain `users`), permissions for a
 * user no source defines, entries (exchanges, queues, bindings, permissions, topic permissions) in a
 * vhost other than "/" that no source's `vhosts` lists (RabbitMQ's import refuses both), and a second
 * permission entry for the same (user, vhost) or topic permission for the same (user, vhost,
 * exchange). One sentence each, starting with the file.
 */
export function definitionsProblems(sources: readonly DefinitionsSource[], options: DefinitionsCheckOptions): string[] {
  const { plainUsers, configFile, complete, knownUsers = new Set<string>(), knownVhosts = new Set<string>() } = options;
  const problems: string[] = [];
  const report = (place: Place, sentence: string) => problems.push(`${place.file}: ${place.path}${sentence}`);
  const plain = new Map(plainUsers.map((user, i) => [user.username, i]));

  const users = new Map<string, Place>();
  for (const source of sources) {
    (source.raw.users ?? []).forEach((user, i) => {
      const place = { file: source.file, path: `${source.at}users[${i}]` };
      const algorithm = user.hashing_algorithm ?? DEFAULT_HASHING_ALGORITHM;
      const badHash = describeBadHash(user.password_hash, algorithm);
      if (badHash !== undefined) report(place, `.password_hash: ${badHash}`);
      const earlier = users.get(user.name);
      const plainIndex = plain.get(user.name);
      if (earlier !== undefined) {
        report(place, `.name: user ${JSON.stringify(user.name)} is already defined ${reference(earlier, place)}`);
      } else if (plainIndex !== undefined && configFile !== undefined) {
        report(
          place,
          `.name: user ${JSON.stringify(user.name)} is also in the config's "users" list ${reference({ file: configFile, path: `users[${plainIndex}]` }, place)}; define each user once`,
        );
      }
      if (earlier === undefined) users.set(user.name, place);
    });
  }

  const vhosts = new Set([DEFAULT_VHOST, ...knownVhosts, ...sources.flatMap((source) => (source.raw.vhosts ?? []).map((vhost) => vhost.name))]);
  const checkVhost = (place: Place, vhost: string | undefined) => {
    if (complete && vhost !== undefined && !vhosts.has(vhost)) {
      report(place, `.vhost: vhost ${JSON.stringify(vhost)} is not defined; add {"name": ${JSON.stringify(vhost)}} to the definitions' "vhosts"`);
    }
  };

  const permissions = new Map<string, Place>();
  const topicPermissions = new Map<string, Place>();
  for (const source of sources) {
    (source.raw.permissions ?? []).forEach((permission, i) => {
      const place = { file: source.file, path: `${source.at}permissions[${i}]` };
      const vhost = permission.vhost ?? DEFAULT_VHOST;
      checkRegexes(place, permission, ['configure', 'write', 'read'], report);
      if (complete && !knownUsers.has(permission.user)) checkUser(place, permission.user, users, plain, report);
      checkVhost(place, permission.vhost);
      const key = JSON.stringify([permission.user, vhost]);
      const earlier = permissions.get(key);
      if (earlier === undefined) permissions.set(key, place);
      else report(place, `: user ${JSON.stringify(permission.user)} already has permissions on vhost ${JSON.stringify(vhost)} ${reference(earlier, place)}`);
    });
    (source.raw.topic_permissions ?? []).forEach((permission, i) => {
      const place = { file: source.file, path: `${source.at}topic_permissions[${i}]` };
      const vhost = permission.vhost ?? DEFAULT_VHOST;
      checkRegexes(place, permission, ['write', 'read'], report);
      if (complete && !knownUsers.has(permission.user)) checkUser(place, permission.user, users, plain, report);
      checkVhost(place, permission.vhost);
      const key = JSON.stringify([permission.user, vhost, permission.exchange]);
      const earlier = topicPermissions.get(key);
      if (earlier === undefined) topicPermissions.set(key, place);
      else {
        report(
          place,
          `: user ${JSON.stringify(permission.user)} already has topic permissions for exchange ${JSON.stringify(permission.exchange)} on vhost ${JSON.stringify(vhost)} ${reference(earlier, place)}`,
        );
      }
    });
    for (const section of ['queues', 'exchanges', 'bindings', 'policies'] as const) {
      (source.raw[section] ?? []).forEach((entry, i) => checkVhost({ file: source.file, path: `${source.at}${section}[${i}]` }, entry.vhost));
    }
  }
  return problems;
}

type Report = (place: Place, sentence: string) => void;

function checkRegexes<K extends string>(place: Place, entry: Record<K, string>, fields: readonly K[], report: Report): void {
  for (const field of fields) {
    const problem = describeBadRegex(entry[field]);
    if (problem !== undefined) report(place, `.${field}: ${JSON.stringify(entry[field])} is not a valid regular expression: ${problem}`);
  }
}

function checkUser(place: Place, user: string, users: ReadonlyMap<string, Place>, plain: ReadonlyMap<string, number>, report: Report): void {
  if (users.has(user)) return;
  const why = plain.has(user)
    ? `user ${JSON.stringify(user)} is in the config's plain "users" list, which already has full permissions on vhost "/"; to restrict it, move it to the definitions' "users" with a password_hash`
    : `unknown user ${JSON.stringify(user)}; define it in the definitions' "users" (RabbitMQ's import refuses permissions for a user it does not have)`;
  report(place, `.user: ${why}`);
}

/** `at users[0]` within the same file, `in FILE at users[0]` across files. */
function reference(earlier: Place, from: Place): string {
  return earlier.file === from.file ? `at ${earlier.path}` : `in ${earlier.file} at ${earlier.path}`;
}

/**
 * What a definitions export holds that Warren accepts but does not apply (policies, runtime
 * parameters, unknown top-level keys), one sentence each. `at` is the path of the definitions object
 * followed by a dot (`definitions.`), or "" for a bare export.
 */
export function definitionsWarnings(raw: RawDefinitions, at: string): string[] {
  const warnings: string[] = [];
  const parameters = raw.parameters?.length ?? 0;
  if (parameters > 0) {
    warnings.push(
      `${at}parameters: ${count(parameters, 'runtime parameter', 'runtime parameters')} ignored; Warren has no shovels, federation or other plugins`,
    );
  }
  for (const key of Object.keys(raw)) {
    if (!DEFINITIONS_KEYS.includes(key)) warnings.push(`${at === '' ? '' : `${at.slice(0, -1)}: `}unknown field ${JSON.stringify(key)} ignored`);
  }
  return warnings;
}

/**
 * What a RabbitMQ export holds that Warren accepts and that has no effect (mirroring and storage
 * keys of policies, `x-queue-mode` on queues): one sentence for all of it, or none.
 */
export function definitionsNotices(raw: RawDefinitions, at: string): string[] {
  const keys = new Set<string>();
  let policies = 0;
  for (const policy of raw.policies ?? []) {
    const ignored = Object.keys(policy.definition).filter((key) => IGNORED_POLICY_KEYS.includes(key));
    for (const key of ignored) keys.add(key);
    if (ignored.length > 0) policies++;
  }
  const queues = (raw.queues ?? []).filter((queue) => !Array.isArray(queue.arguments) && queue.arguments?.['x-queue-mode'] !== undefined).length;
  const parts = [
    ...(policies > 0 ? [`policy keys ${[...keys].sort().join(', ')} (in ${count(policies, 'policy', 'policies')})`] : []),
    ...(queues > 0 ? [`queue argument x-queue-mode (on ${count(queues, 'queue', 'queues')})`] : []),
  ];
  if (parts.length === 0) return [];
  return [`${at === '' ? '' : `${at.slice(0, -1)}: `}${parts.join(' and ')} accepted with no effect: Warren has no classic mirroring (replication comes with clustering) and one storage mode`];
}

function table(args: Record<string, unknown> | [] | undefined): Record<string, unknown> {
  return args === undefined || Array.isArray(args) ? {} : { ...args };
}

/** RabbitMQ 3.x exports tags as "administrator,management" (or ""), newer ones as an array. */
function tags(value: string | string[] | undefined): string[] {
  const list = typeof value === 'string' ? value.split(',') : (value ?? []);
  return list.map((tag) => tag.trim()).filter((tag) => tag !== '');
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
