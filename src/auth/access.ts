/**
 * What one principal may do in one vhost, with RabbitMQ's semantics: per (user, vhost) one permission
 * entry of three regular expressions (configure, write, read) and any number of topic permissions,
 * one per topic exchange. Every pattern is compiled once, when the access object is built; the checks
 * run on the publish path and neither compile nor allocate.
 */

/** What a principal may do in one vhost (docs: RabbitMQ's permission table); each method answers for one resource name. */
export interface VhostAccess {
  configure(resource: string): boolean;
  write(resource: string): boolean;
  read(resource: string): boolean;
  /** Topic permission: `routingKey` of a publish to topic exchange `exchange`. True when no topic permission covers the exchange (RabbitMQ: no topic permission means no restriction). */
  writeTopic(exchange: string, routingKey: string): boolean;
  /** Topic permission: binding key of a queue.bind from topic exchange `exchange`. */
  readTopic(exchange: string, routingKey: string): boolean;
  /** False when no topic permission exists at all: then the topic checks need not even look up the exchange's type. */
  readonly restrictsTopics: boolean;
}

const allow = (): boolean => true;

/** Everything allowed: the config's `users` list and anonymous development mode. */
export const FULL_ACCESS: VhostAccess = Object.freeze({
  configure: allow,
  write: allow,
  read: allow,
  writeTopic: allow,
  readTopic: allow,
  restrictsTopics: false,
});

/** RabbitMQ permission entry of one (user, vhost), regexes as strings. */
export interface PermissionRegexes {
  configure: string;
  write: string;
  read: string;
}

/** RabbitMQ topic permission entry of one (user, vhost, exchange), regexes as strings. */
export interface TopicPermissionRegexes {
  exchange: string;
  write: string;
  read: string;
}

/** A permission pattern that does not compile; the message names the pattern and why. */
export class RegexError extends Error {
  override name = 'RegexError';
}

// PCRE (Erlang's `re`) reads these escapes as anchors or classes; JavaScript without the `u` flag
// reads them as the bare letter, so `\Aamq` would silently match "Aamq" anywhere. Refusing them is
// better than granting something other than what the administrator wrote.
const PCRE_ONLY_ESCAPES: Record<string, string> = {
  A: 'start of subject',
  Z: 'end of subject',
  z: 'end of subject',
  G: 'first match position',
  Q: 'quote start',
  E: 'quote end',
  K: 'match reset',
  R: 'newline sequence',
  X: 'extended grapheme',
  h: 'horizontal space',
  H: 'non-horizontal space',
};

/**
 * Why `pattern` is not usable as a permission regex, or undefined when it is: for validating
 * definitions at load time, with the same rules `regexAccess` applies.
 */
export function describeBadRegex(pattern: string): string | undefined {
  try {
    // No `u` flag: PCRE accepts `\-`, a lone `]` and `{` as literals, and so does JavaScript without it.
    new RegExp(pattern);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // V8 says "Invalid regular expression: /<pattern>/: <reason>"; the caller names the pattern itself.
    const reason = message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
    return reason.charAt(0).toLowerCase() + reason.slice(1);
  }
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '\\') continue;
    const escaped = pattern[i + 1];
    if (escaped !== undefined && escaped in PCRE_ONLY_ESCAPES) {
      return `\\${escaped} (PCRE's ${PCRE_ONLY_ESCAPES[escaped]}) has no JavaScript equivalent; use ^ or $ for anchors`;
    }
    i++;
  }
  return undefined;
}

/** Escapes `text` so that a regex matches it literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

const NOTHING = /(?!)/;
const EMPTY_ONLY = /^$/;

function compile(pattern: string, what: string): RegExp {
  const problem = describeBadRegex(pattern);
  if (problem !== undefined) {
    throw new RegexError(`the ${what} pattern ${JSON.stringify(pattern)} is not a usable regular expression: ${problem}`);
  }
  return new RegExp(pattern);
}

/**
 * RabbitMQ expands `{username}` and `{vhost}` in topic permissions only. It splices the raw values in;
 * they are escaped here so that a user called `a.b` or `x|.*` gets no more than their own name.
 */
function expandTopicPattern(pattern: string, variables: { username: string; vhost: string }): string {
  return pattern.replace(/\{(username|vhost)\}/g, (_match, name: 'username' | 'vhost') => escapeRegex(variables[name]));
}

interface TopicRegexes {
  write: RegExp;
  read: RegExp;
}

class RegexAccess implements VhostAccess {
  readonly restrictsTopics: boolean;

  constructor(
    private readonly configureRegex: RegExp,
    private readonly writeRegex: RegExp,
    private readonly readRegex: RegExp,
    private readonly topics: ReadonlyMap<string, TopicRegexes>,
  ) {
    this.restrictsTopics = topics.size > 0;
  }

  configure(resource: string): boolean {
    return this.configureRegex.test(resource);
  }

  write(resource: string): boolean {
    return this.writeRegex.test(resource);
  }

  read(resource: string): boolean {
    return this.readRegex.test(resource);
  }

  writeTopic(exchange: string, routingKey: string): boolean {
    const topic = this.topics.get(exchange);
    return topic === undefined || topic.write.test(routingKey);
  }

  readTopic(exchange: string, routingKey: string): boolean {
    const topic = this.topics.get(exchange);
    return topic === undefined || topic.read.test(routingKey);
  }
}

/**
 * Builds the checker of one (user, vhost) from RabbitMQ's permission and topic permission entries.
 * Patterns are searched unanchored, as Erlang's `re:run` does (users write `^amq\.gen` or `.*`).
 * Without a permission entry nothing is allowed; a `""` permission denies everything. Topic
 * permissions apply to the exchange they name, exactly; a topic `""` becomes `^$` as in RabbitMQ,
 * which lets only the empty routing key through. Throws RegexError for a pattern that does not compile.
 */
export function regexAccess(
  permission: PermissionRegexes | undefined,
  topics: readonly TopicPermissionRegexes[],
  variables: { username: string; vhost: string },
): VhostAccess {
  // `.*` matches every name: such a user skips the checks altogether (GuardedVhost's fast path).
  if (permission && topics.length === 0 && permission.configure === '.*' && permission.write === '.*' && permission.read === '.*') return FULL_ACCESS;
  // RabbitMQ turns "" into ^$, which matches only the empty name; Warren never checks an empty name
  // (the default exchange is checked as amq.default, queues always have names), so it denies outright.
  const resource = (pattern: string | undefined, what: string): RegExp =>
    pattern === undefined || pattern === '' ? NOTHING : compile(pattern, `${what} permission`);
  const topicRegexes = new Map<string, TopicRegexes>();
  for (const topic of topics) {
    const what = (kind: string): string => `topic permission's ${kind} (exchange ${JSON.stringify(topic.exchange)})`;
    const topicRegex = (pattern: string, kind: string): RegExp => {
      if (pattern === '') return EMPTY_ONLY;
      compile(pattern, what(kind));
      return compile(expandTopicPattern(pattern, variables), `${what(kind)} after {username}/{vhost} expansion`);
    };
    // RabbitMQ keeps one topic permission per exchange; a later entry replaces an earlier one.
    topicRegexes.set(topic.exchange, { write: topicRegex(topic.write, 'write'), read: topicRegex(topic.read, 'read') });
  }
  return new RegexAccess(
    resource(permission?.configure, 'configure'),
    resource(permission?.write, 'write'),
    resource(permission?.read, 'read'),
    topicRegexes,
  );
}
