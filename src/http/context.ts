import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { GuardedVhost, type AccountBook, type Identity } from '../auth/index.js';
import type { Broker, DeliverySink, Exchange, Queue, VirtualHosts } from '../broker/index.js';
import type { Transport } from '../transport/index.js';
import { mayView } from './authenticate.js';
import type { NodeState, OtherNodesView } from './cluster-view.js';
import type { MessageStats } from './message-stats.js';
import { notAuthorised, notFound } from './errors.js';
import { compare } from './views.js';

export type Handler = (request: FastifyRequest, identity: Identity, reply: FastifyReply) => unknown;
export type Methods = Partial<Record<'GET' | 'PUT' | 'POST' | 'DELETE', Handler>>;

/** What every route file gets: the broker's parts, and `resource` to answer a path with. */
export interface RouteContext {
  readonly vhosts: VirtualHosts;
  readonly transport: Transport;
  readonly accounts: AccountBook;
  readonly saveAccounts: () => Promise<void>;
  readonly version: string;
  readonly node: string;
  readonly logger: Logger;
  readonly messageStats: MessageStats;
  /** In a cluster: the other nodes (docs/clustering.md). */
  readonly otherNodes?: OtherNodes;
  /** What the other nodes of a cluster have now (asked of them); nothing on a single broker. */
  others(): Promise<OtherNodesView>;
  /** A resource and the methods it answers, each for an authenticated management user; any other method is 405. */
  resource(url: string, methods: Methods): void;
}

/** A cluster's other nodes, as the management API shows them and closes their connections. */
export interface OtherNodes {
  /** What every other live node has, as `nodeState` makes it there. */
  states(): Promise<NodeState[]>;
  /** Asks the node that has the connection of this name to close it. */
  close(name: string, reason: string): Promise<void>;
}

/** The sink of a connection a request makes for a `get` of its own: it never consumes, so nothing is pushed. */
export const NO_PUSHES: DeliverySink = { deliver: () => {}, cancelled: () => {} };

export function throwNotFound(): never {
  throw notFound();
}

export const nameOf = (request: FastifyRequest): string => (request.params as { name: string }).name;

export const flagQuery = (request: FastifyRequest, name: string): boolean => (request.query as Record<string, unknown>)[name] === 'true';

/** The vhosts the caller may see, by name. */
export const visible = (vhosts: VirtualHosts, identity: Identity): [string, Broker][] =>
  vhosts
    .names()
    .filter((name) => mayView(identity, name))
    .sort(compare)
    .map((name) => [name, vhosts.get(name) as Broker]);

/** The vhost named in the path: 404 when there is none, 401 when the caller may not see it. */
export function vhostOf(vhosts: VirtualHosts, request: FastifyRequest, identity: Identity): [string, Broker] {
  const { vhost } = request.params as { vhost: string };
  const broker = vhosts.get(vhost);
  if (!broker) throw notFound();
  if (!mayView(identity, vhost)) throw notAuthorised('User not authorised to access virtual host');
  return [vhost, broker];
}

/**
 * The vhost named in the path, to change: 404 when there is none; 401 when the caller has no
 * permissions on it (whatever its tags, administrators too, as RabbitMQ); then every operation
 * is checked by the GuardedVhost, against the same permissions as a client's.
 */
export function guardedOf(vhosts: VirtualHosts, request: FastifyRequest, identity: Identity): [string, GuardedVhost] {
  const { vhost } = request.params as { vhost: string };
  const broker = vhosts.get(vhost);
  if (!broker) throw notFound();
  const access = identity.access(vhost);
  if (!access) throw notAuthorised('User not authorised to access virtual host');
  return [vhost, new GuardedVhost(broker, access, identity.username, vhost)];
}

export const queueOf = (broker: Broker, name: string): Queue => broker.getQueue(name) ?? throwNotFound();

/** RabbitMQ's name for the default exchange "" in a path is amq.default. */
export const exchangeOf = (broker: Broker, name: string): Exchange => broker.getExchange(name === 'amq.default' ? '' : name) ?? throwNotFound();

/** A handler for administrators only (users, permissions, definitions, as in RabbitMQ). */
export const administratorsOnly =
  (handler: Handler): Handler =>
  (request, identity, reply) => {
    if (!identity.tags.has('administrator')) throw notAuthorised('Not administrator user');
    return handler(request, identity, reply);
  };
