/**
 * RabbitMQ's OAuth 2.0 scope form (rabbitmq-auth-backend-oauth2), with Warren's prefix:
 * `<prefix>configure:<vhost>/<name>`, `<prefix>write:<vhost>/<name>[/<routing-key>]`,
 * `<prefix>read:<vhost>/<name>[/<routing-key>]` and `<prefix>tag:<tag>`. Each part is a whole-name
 * pattern where only `*` is special; the rest is percent-decoded (`%2F` is "/", the default vhost).
 */
import type { VhostAccess } from './access.js';

/** What a token's scopes grant: tags, and per vhost a checker (undefined when no scope names the vhost). */
export interface TokenGrants {
  readonly tags: ReadonlySet<string>;
  /**
   * The checker for `vhost`, or undefined when no permission scope's vhost pattern matches it.
   * `variables.username` fills `{username}` and `{sub}` in scopes; without it, scopes using them grant nothing.
   */
  access(vhost: string, variables?: { username: string }): VhostAccess | undefined;
}

/** A scope with Warren's prefix that is not one of the forms; the message names the scope. */
export class ScopeError extends Error {
  override name = 'ScopeError';
}

type Action = 'configure' | 'write' | 'read';
const ACTIONS: ReadonlySet<string> = new Set<Action>(['configure', 'write', 'read']);
type Variable = 'vhost' | 'username';

/** `*` in a scope pattern. */
const STAR = Symbol('*');
type Piece = string | { variable: Variable } | typeof STAR;

/** A pattern part: literal text, variables and stars, in order; compiled once unless it names a variable. */
interface Part {
  readonly pieces: readonly Piece[];
  readonly fixed: Glob | undefined;
}

/**
 * A whole-name pattern where `*` matches any characters. Matched without a regex, in time linear
 * in the name, however many stars a token's scope holds: a backtracking regex made from
 * `a*a*a*...b` could stall the broker for seconds on one check.
 */
class Glob {
  /** The text between the stars; one element when there is no star. */
  constructor(private readonly literals: readonly string[]) {}

  test(name: string): boolean {
    const { literals } = this;
    const first = literals[0];
    if (literals.length === 1) return name === first;
    const last = literals[literals.length - 1];
    const end = name.length - last.length;
    if (end < first.length || !name.startsWith(first) || !name.endsWith(last)) return false;
    // The leftmost place of each middle piece leaves the most room for the next: no backtracking needed.
    let at = first.length;
    for (let index = 1; index < literals.length - 1; index++) {
      const found = name.indexOf(literals[index], at);
      if (found < 0 || found + literals[index].length > end) return false;
      at = found + literals[index].length;
    }
    return true;
  }
}

interface Grant {
  readonly action: Action;
  readonly vhost: Part;
  readonly name: Part;
  /** Present for a topic grant: the routing keys (write) or binding keys (read) it allows. */
  readonly routingKey: Part | undefined;
}

// RabbitMQ's scopes may name any single-valued claim; Warren knows the user (`sub`) and the vhost.
const VARIABLES: Record<string, Variable> = { vhost: 'vhost', username: 'username', sub: 'username' };

function parsePart(text: string, scope: string): Part {
  const pieces: Piece[] = [];
  let hasVariable = false;
  for (const [index, segment] of text.split(/(\{[^{}]*\})/).entries()) {
    if (index % 2 === 1) {
      const variable = VARIABLES[segment.slice(1, -1)];
      if (variable === undefined) {
        throw new ScopeError(`the scope ${JSON.stringify(scope)} uses ${segment}, but only {vhost}, {username} and {sub} are expanded`);
      }
      pieces.push({ variable });
      hasVariable = true;
      continue;
    }
    // Split on `*` before decoding, as RabbitMQ does, so that `%2A` stays a literal star.
    segment.split('*').forEach((literal, at) => {
      if (at > 0) pieces.push(STAR);
      try {
        pieces.push(decodeURIComponent(literal));
      } catch {
        throw new ScopeError(`the scope ${JSON.stringify(scope)} has a malformed percent-encoding in ${JSON.stringify(literal)}`);
      }
    });
  }
  return { pieces, fixed: hasVariable ? undefined : compile(pieces, {}) };
}

/** The part's pattern with `variables` filled in, or undefined when it needs a variable that is missing. */
function compilePart(part: Part, variables: Partial<Record<Variable, string>>): Glob | undefined {
  return part.fixed ?? compile(part.pieces, variables);
}

function compile(pieces: readonly Piece[], variables: Partial<Record<Variable, string>>): Glob | undefined {
  const literals: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (piece === STAR) {
      literals.push(current);
      current = '';
    } else if (typeof piece === 'string') {
      current += piece;
    } else {
      const value = variables[piece.variable];
      if (value === undefined) return undefined;
      current += value;
    }
  }
  literals.push(current);
  return new Glob(literals);
}

function parseScope(scope: string, rest: string, grants: Grant[], tags: Set<string>): void {
  const colon = rest.indexOf(':');
  const action = colon < 0 ? rest : rest.slice(0, colon);
  const resource = colon < 0 ? undefined : rest.slice(colon + 1);
  if (action === 'tag') {
    if (!resource) throw new ScopeError(`the scope ${JSON.stringify(scope)} names no tag`);
    tags.add(resource);
    return;
  }
  if (!ACTIONS.has(action) || resource === undefined) {
    throw new ScopeError(
      `the scope ${JSON.stringify(scope)} is not one of configure:<vhost>/<name>, write:<vhost>/<name>[/<routing-key>], read:<vhost>/<name>[/<routing-key>] or tag:<tag>`,
    );
  }
  const parts = resource.split('/');
  const maxParts = action === 'configure' ? 2 : 3;
  if (parts.length < 2 || parts.length > maxParts) {
    const form = action === 'configure' ? '<vhost>/<name>' : '<vhost>/<name>[/<routing-key>]';
    throw new ScopeError(`the scope ${JSON.stringify(scope)} must be ${action}:${form} (write "/" inside a name as %2F)`);
  }
  const [vhost, name, routingKey] = parts;
  if (vhost === '') throw new ScopeError(`the scope ${JSON.stringify(scope)} has an empty vhost (the default vhost "/" is written %2F)`);
  if (name === '') throw new ScopeError(`the scope ${JSON.stringify(scope)} has an empty name (use * for any name)`);
  grants.push({
    action: action as Action,
    vhost: parsePart(vhost, scope),
    name: parsePart(name, scope),
    routingKey: routingKey === undefined ? undefined : parsePart(routingKey, scope),
  });
}

function scopeList(scope: unknown): readonly string[] {
  if (scope === undefined || scope === null) return [];
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s !== '');
  if (Array.isArray(scope) && scope.every((s): s is string => typeof s === 'string')) return scope;
  throw new ScopeError('the scope claim must be a space-separated string or an array of strings');
}

/**
 * Parses the `scope` claim (space-separated string or array of strings); scopes without the prefix
 * are ignored; a malformed Warren scope throws ScopeError naming it.
 */
export function parseScopes(scope: unknown, prefix: string): TokenGrants {
  const grants: Grant[] = [];
  const tags = new Set<string>();
  for (const item of scopeList(scope)) {
    if (item.startsWith(prefix)) parseScope(item, item.slice(prefix.length), grants, tags);
  }
  return {
    tags,
    access(vhost, variables) {
      const values = { vhost, username: variables?.username };
      const matched: CompiledGrant[] = [];
      for (const grant of grants) {
        const vhostPattern = compilePart(grant.vhost, values);
        if (vhostPattern === undefined || !vhostPattern.test(vhost)) continue;
        const name = compilePart(grant.name, values);
        const routingKey = grant.routingKey === undefined ? null : compilePart(grant.routingKey, values);
        if (name === undefined || routingKey === undefined) continue;
        matched.push({ action: grant.action, name, routingKey });
      }
      return matched.length === 0 ? undefined : new ScopeAccess(matched);
    },
  };
}

interface CompiledGrant {
  readonly action: Action;
  readonly name: Glob;
  /** null: no routing-key part, so no topic restriction from this grant. */
  readonly routingKey: Glob | null;
}


class ScopeAccess implements VhostAccess {
  private readonly configures: readonly CompiledGrant[];
  private readonly writes: readonly CompiledGrant[];
  private readonly reads: readonly CompiledGrant[];
  readonly restrictsTopics: boolean;

  constructor(grants: readonly CompiledGrant[]) {
    this.configures = grants.filter((g) => g.action === 'configure');
    this.writes = grants.filter((g) => g.action === 'write');
    this.reads = grants.filter((g) => g.action === 'read');
    this.restrictsTopics = grants.some((g) => g.routingKey !== null);
  }

  configure(resource: string): boolean {
    return anyName(this.configures, resource);
  }

  write(resource: string): boolean {
    return anyName(this.writes, resource);
  }

  read(resource: string): boolean {
    return anyName(this.reads, resource);
  }

  writeTopic(exchange: string, routingKey: string): boolean {
    return topicAllowed(this.writes, exchange, routingKey);
  }

  readTopic(exchange: string, routingKey: string): boolean {
    return topicAllowed(this.reads, exchange, routingKey);
  }
}

function anyName(grants: readonly CompiledGrant[], resource: string): boolean {
  for (const grant of grants) if (grant.name.test(resource)) return true;
  return false;
}

/**
 * The grants of one kind that cover `exchange` decide: any without a routing-key part, or whose
 * routing-key part matches, allows. With none covering it the resource check alone decides, as with
 * RabbitMQ's topic permissions; Warren's contract departs here from the OAuth 2 plugin, which refuses
 * a topic exchange to a token without routing-key scopes.
 */
function topicAllowed(grants: readonly CompiledGrant[], exchange: string, routingKey: string): boolean {
  let covered = false;
  for (const grant of grants) {
    if (!grant.name.test(exchange)) continue;
    if (grant.routingKey === null || grant.routingKey.test(routingKey)) return true;
    covered = true;
  }
  return !covered;
}
