import { hostname } from 'node:os';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { GuardedVhost, type Authenticator, type Identity } from '../auth/index.js';
import {
  BrokerError,
  EXCHANGE_TYPES,
  PERSISTED,
  ROUTED,
  type Broker,
  type Exchange,
  type ExchangeOptions,
  type ExchangeType,
  type Message,
  type Queue,
  type QueueOptions,
  type VhostTotals,
  type VirtualHosts,
} from '../broker/index.js';
import type { ConnectionDetails, Transport } from '../transport/index.js';
import { authenticate, mayView, seesEveryVhost } from './authenticate.js';
import { byVhostAndUser, NO_ACCOUNTS, permissionView, topicPermissionView, topology, userView, type Accounts } from './definitions.js';
import { ApiError, badRequest, internalError, methodNotAllowed, notAuthorised, notFound } from './errors.js';
import { bodyObject, flag, fromBrokerError, inequivalence, messageProperties, payloadJson, propertiesKey, required, shortString, table, text } from './body.js';
import {
  bindingView,
  byBinding,
  byVhostAndName,
  compare,
  connectionName,
  connectionView,
  consumerView,
  defaultBindingView,
  exchangeView,
  messageTotals,
  queueView,
  vhostView,
  type BindingView,
} from './views.js';

/** Where the management API lives on the broker's port (RabbitMQ's path). */
export const API_PREFIX = '/api';

export interface ManagementOptions {
  readonly vhosts: VirtualHosts;
  readonly auth: Authenticator;
  /** The port's server: the API answers its plain HTTP requests under /api, beside the WebSocket endpoint. */
  readonly transport: Transport;
  /** Warren's version. */
  readonly version: string;
  readonly logger: Logger;
  /** This broker's name in the API (RabbitMQ's `rabbit@host`); `warren@<hostname>` by default. */
  readonly node?: string;
  /** The users and permissions, with their hashes and regexes, for /api/users, /api/permissions and /api/definitions; none by default. */
  readonly accounts?: Accounts;
}

/** The management API, serving on the transport's port until closed. */
export interface ManagementApi {
  close(): Promise<void>;
}

/** Every method a path answers or refuses; HEAD comes with GET. */
const ALL_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH'] as const;

type Handler = (request: FastifyRequest, identity: Identity, reply: FastifyReply) => unknown;
type Methods = Partial<Record<'GET' | 'PUT' | 'POST' | 'DELETE', Handler>>;

/**
 * RabbitMQ's management HTTP API (docs/management.md), on fastify, on the same http.Server that
 * WebSocket clients upgrade on. Handlers translate HTTP into reads of the vhosts and their brokers
 * and back; counts come from the totals the model keeps, not from scans. Writes go through a
 * GuardedVhost built from the caller's permissions on the vhost, as a client's operations do.
 */
export async function openManagementApi(options: ManagementOptions): Promise<ManagementApi> {
  const { vhosts, auth, transport, version } = options;
  const node = options.node ?? `warren@${hostname()}`;
  const logger = options.logger.child({ component: 'management' });
  const app = Fastify({
    loggerInstance: logger,
    // A line per request would drown the broker's log; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => {
      transport.serveHttp(API_PREFIX, handler);
      return transport.httpServer;
    },
    // A URL fastify cannot decode (a malformed %-escape) is the client's mistake.
    frameworkErrors: (error, _request, reply) => send(reply, badRequest(error.message)),
  });

  // Every body is JSON, whatever its Content-Type says (curl -d sends a form type); none is {}.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string) as unknown);
    } catch (error) {
      done(badRequest(`the request body is not JSON: ${(error as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) return send(reply, error);
    if (error instanceof BrokerError) {
      const mapped = fromBrokerError(error);
      if (mapped) return send(reply, mapped);
    }
    const status = (error as { statusCode?: number }).statusCode;
    // fastify's own refusals (a body too large, ...) are the client's.
    if (status !== undefined && status >= 400 && status < 500) return send(reply, new ApiError(status, 'bad_request', (error as Error).message));
    request.log.error({ err: error, method: request.method, url: request.url }, 'management API request failed');
    return send(reply, internalError());
  });
  app.setNotFoundHandler((_request, reply) => send(reply, notFound()));

  /** A resource and the methods it answers, each for a management user; any other method is 405, before authentication, as RabbitMQ's. */
  const resource = (url: string, methods: Methods): void => {
    const allowed = ALL_METHODS.filter((method) => (method === 'HEAD' ? methods.GET : methods[method as keyof Methods]) !== undefined);
    for (const [method, handler] of Object.entries(methods)) {
      app.route({
        method,
        url,
        handler: async (request, reply) => {
          const identity = await authenticate({ headers: request.headers, remoteAddress: request.socket.remoteAddress }, auth, logger);
          reply.header('cache-control', 'no-cache');
          return handler(request, identity, reply);
        },
      });
    }
    app.route({
      method: ALL_METHODS.filter((method) => !allowed.includes(method)),
      url,
      // Before the body is read: a wrong method is 405 whatever it carries.
      onRequest: async (request) => {
        throw methodNotAllowed(request.method, allowed);
      },
      handler: async () => undefined,
    });
  };

  /** The vhosts the caller may see, by name. */
  const visible = (identity: Identity): [string, Broker][] =>
    vhosts
      .names()
      .filter((name) => mayView(identity, name))
      .sort(compare)
      .map((name) => [name, vhosts.get(name) as Broker]);

  /** The vhost named in the path: 404 when there is none, 401 when the caller may not see it. */
  const vhostOf = (request: FastifyRequest, identity: Identity): [string, Broker] => {
    const { vhost } = request.params as { vhost: string };
    const broker = vhosts.get(vhost);
    if (!broker) throw notFound();
    if (!mayView(identity, vhost)) throw notAuthorised('User not authorised to access virtual host');
    return [vhost, broker];
  };

  const nameOf = (request: FastifyRequest): string => (request.params as { name: string }).name;

  const listeners = () => {
    const address = transport.address();
    if (!address) return [];
    const scheme = transport.secure ? 'https' : 'http';
    // One port serves them all: this API, Warren's JSON protocol and STOMP over WebSocket.
    return [scheme, `${scheme}/warren`, `${scheme}/web-stomp`].map((protocol) => ({ node, protocol, ip_address: address.address, port: address.port }));
  };

  resource('/api/overview', {
    GET: (_request, identity) => {
    const brokers = visible(identity).map(([, broker]) => broker);
    const sum = (count: (broker: Broker) => number) => brokers.reduce((total, broker) => total + count(broker), 0);
    const totals: VhostTotals = {
      messagesReady: sum((broker) => broker.totals.messagesReady),
      messagesUnacknowledged: sum((broker) => broker.totals.messagesUnacknowledged),
      consumers: sum((broker) => broker.totals.consumers),
      connections: sum((broker) => broker.totals.connections),
    };
    const overview = {
      management_version: version,
      product_name: 'Warren',
      product_version: version,
      object_totals: {
        connections: totals.connections,
        // Warren has no channels: a connection is its own single channel.
        channels: 0,
        exchanges: sum((broker) => broker.exchangeCount),
        queues: sum((broker) => broker.queueCount),
        consumers: totals.consumers,
      },
      queue_totals: messageTotals(totals),
      // Rates are not kept yet.
      message_stats: {},
    };
    // As RabbitMQ: the node and its listeners are for monitoring users and administrators.
    return seesEveryVhost(identity) ? { ...overview, node, listeners: listeners() } : overview;
    },
  });

  resource('/api/whoami', { GET: (_request, identity) => ({ name: identity.username ?? 'anonymous', tags: [...identity.tags] }) });

  resource('/api/vhosts', { GET: (_request, identity) => visible(identity).map(([name, broker]) => vhostView(name, broker.totals)) });
  resource('/api/vhosts/:vhost', {
    GET: (request, identity) => {
      const [name, broker] = vhostOf(request, identity);
      return vhostView(name, broker.totals);
    },
  });

  /**
   * The vhost named in the path, to change: 404 when there is none; 401 when the caller has no
   * permissions on it (whatever its tags, administrators too, as RabbitMQ); then every operation
   * is checked by the GuardedVhost, against the same permissions as a client's.
   */
  const guardedOf = (request: FastifyRequest, identity: Identity): [string, GuardedVhost] => {
    const { vhost } = request.params as { vhost: string };
    const broker = vhosts.get(vhost);
    if (!broker) throw notFound();
    const access = identity.access(vhost);
    if (!access) throw notAuthorised('User not authorised to access virtual host');
    return [vhost, new GuardedVhost(broker, access, identity.username, vhost)];
  };

  const queueOf = (broker: Broker, name: string): Queue => broker.getQueue(name) ?? throwNotFound();
  /** RabbitMQ's name for the default exchange "" in a path is amq.default. */
  const exchangeOf = (broker: Broker, name: string): Exchange => broker.getExchange(name === 'amq.default' ? '' : name) ?? throwNotFound();
  const flagQuery = (request: FastifyRequest, name: string): boolean => (request.query as Record<string, unknown>)[name] === 'true';

  const queuesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allQueues(), (queue) => queueView(queue, vhost, node));
  resource('/api/queues', { GET: (_request, identity) => visible(identity).flatMap(queuesOf).sort(byVhostAndName) });
  resource('/api/queues/:vhost', { GET: (request, identity) => queuesOf(vhostOf(request, identity)).sort(byVhostAndName) });
  resource('/api/queues/:vhost/:name', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(request, identity);
      return queueView(queueOf(broker, nameOf(request)), vhost, node);
    },
    PUT: (request, identity, reply) => {
      const [vhost, guarded] = guardedOf(request, identity);
      const name = shortString(nameOf(request), 'the queue name');
      const body = bodyObject(request.body);
      const options: QueueOptions = { durable: flag(body, 'durable', true), exclusive: false, autoDelete: flag(body, 'auto_delete', false), arguments: table(body, 'arguments') };
      const existing = guarded.broker.getQueue(name);
      try {
        guarded.declareQueue(null, name, options, false);
      } catch (error) {
        if (existing && error instanceof BrokerError && error.code === 'PRECONDITION_FAILED') {
          throw badRequest(inequivalence('queue', name, vhost, queueFields(existing.options), queueFields(options)) ?? error.message);
        }
        throw error;
      }
      return reply.code(existing ? 204 : 201).send();
    },
    DELETE: (request, identity, reply) => {
      const [, guarded] = guardedOf(request, identity);
      const queue = queueOf(guarded.broker, nameOf(request));
      guarded.deleteQueue(null, queue.name, flagQuery(request, 'if-unused'), flagQuery(request, 'if-empty'));
      return reply.code(204).send();
    },
  });
  resource('/api/queues/:vhost/:name/contents', {
    DELETE: (request, identity, reply) => {
      const [, guarded] = guardedOf(request, identity);
      guarded.purgeQueue(null, queueOf(guarded.broker, nameOf(request)).name);
      return reply.code(204).send();
    },
  });
  resource('/api/queues/:vhost/:name/bindings', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(request, identity);
      const queue = queueOf(broker, nameOf(request));
      return [defaultBindingView(queue, vhost), ...Array.from(broker.bindingsOf(queue), (binding) => bindingView(binding, vhost))].sort(byBinding);
    },
  });

  const exchangesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allExchanges(), (exchange) => exchangeView(exchange, vhost));
  resource('/api/exchanges', { GET: (_request, identity) => visible(identity).flatMap(exchangesOf).sort(byVhostAndName) });
  resource('/api/exchanges/:vhost', { GET: (request, identity) => exchangesOf(vhostOf(request, identity)).sort(byVhostAndName) });
  resource('/api/exchanges/:vhost/:name', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(request, identity);
      return exchangeView(exchangeOf(broker, nameOf(request)), vhost);
    },
    PUT: (request, identity, reply) => {
      const [vhost, guarded] = guardedOf(request, identity);
      const name = shortString(nameOf(request), 'the exchange name');
      const body = bodyObject(request.body);
      const type = required(text(body, 'type'), 'type');
      if (!(EXCHANGE_TYPES as readonly string[]).includes(type)) throw badRequest(`invalid type '${type}' for exchange '${name}' in vhost '${vhost}': use one of ${EXCHANGE_TYPES.join(', ')}`);
      const options: ExchangeOptions = {
        durable: flag(body, 'durable', true),
        autoDelete: flag(body, 'auto_delete', false),
        internal: flag(body, 'internal', false),
        arguments: table(body, 'arguments'),
      };
      const existing = guarded.broker.getExchange(name);
      try {
        guarded.declareExchange(name, type as ExchangeType, options, false);
      } catch (error) {
        if (existing && error instanceof BrokerError && error.code === 'PRECONDITION_FAILED') {
          throw badRequest(inequivalence('exchange', name, vhost, exchangeFields(existing.type, existing.options), exchangeFields(type, options)) ?? error.message);
        }
        throw error;
      }
      return reply.code(existing ? 204 : 201).send();
    },
    DELETE: (request, identity, reply) => {
      const [, guarded] = guardedOf(request, identity);
      const exchange = exchangeOf(guarded.broker, nameOf(request));
      guarded.deleteExchange(exchange.name, flagQuery(request, 'if-unused'));
      return reply.code(204).send();
    },
  });
  resource('/api/exchanges/:vhost/:name/publish', {
    POST: async (request, identity) => {
      const [, guarded] = guardedOf(request, identity);
      const exchange = exchangeOf(guarded.broker, nameOf(request));
      // An alarm blocks publishers (docs/configuration.md): the API's too.
      if (transport.alarm !== null) throw new ApiError(503, 'service_unavailable', `publishing is blocked while an alarm is in force: ${transport.alarm}`);
      const body = bodyObject(request.body);
      const routingKey = shortString(required(text(body, 'routing_key'), 'routing_key'), 'routing_key');
      const payload = payloadJson(required(text(body, 'payload'), 'payload'), required(text(body, 'payload_encoding'), 'payload_encoding'));
      const { properties, headers } = messageProperties(bodyObject(required(body.properties, 'properties')));
      const message: Message = { exchange: exchange.name, routingKey, payload, size: Buffer.byteLength(payload, 'utf8'), headers, properties };
      const outcome = guarded.publish(message);
      // As a confirm: the answer waits until a persistent message is on disk.
      if (outcome & PERSISTED) await guarded.broker.store.sync();
      return { routed: (outcome & ROUTED) !== 0 };
    },
  });
  const exchangeBindings = (which: 'source' | 'destination'): Handler => (request, identity) => {
    const [vhost, broker] = vhostOf(request, identity);
    const exchange = exchangeOf(broker, nameOf(request));
    if (exchange.name === '') return which === 'source' ? Array.from(broker.allQueues(), (queue) => defaultBindingView(queue, vhost)).sort(byBinding) : [];
    const bindings = which === 'source' ? exchange.bindings : broker.bindingsOf(exchange);
    return Array.from(bindings, (binding) => bindingView(binding, vhost)).sort(byBinding);
  };
  resource('/api/exchanges/:vhost/:name/bindings/source', { GET: exchangeBindings('source') });
  resource('/api/exchanges/:vhost/:name/bindings/destination', { GET: exchangeBindings('destination') });

  const bindingsIn = ([vhost, broker]: [string, Broker]): BindingView[] => {
    const views = Array.from(broker.allQueues(), (queue) => defaultBindingView(queue, vhost));
    for (const exchange of broker.allExchanges()) for (const binding of exchange.bindings) views.push(bindingView(binding, vhost));
    return views;
  };
  resource('/api/bindings', { GET: (_request, identity) => visible(identity).flatMap(bindingsIn).sort(byBinding) });
  resource('/api/bindings/:vhost', { GET: (request, identity) => bindingsIn(vhostOf(request, identity)).sort(byBinding) });

  for (const kind of ['q', 'e'] as const) {
    /** The bindings from the path's source exchange to its destination; 404 when either is missing. */
    const between = (vhost: string, broker: Broker, request: FastifyRequest) => {
      const { source: sourceName, destination: destinationName } = request.params as { source: string; destination: string };
      const source = exchangeOf(broker, sourceName);
      const destination = kind === 'q' ? queueOf(broker, destinationName) : exchangeOf(broker, destinationName);
      const views =
        source.name === '' && destination.kind === 'queue'
          ? [defaultBindingView(destination, vhost)]
          : Array.from(broker.bindingsOf(destination), (binding) => binding).filter((binding) => binding.source === source).map((binding) => bindingView(binding, vhost));
      return { source, destination, views: views.sort(byBinding) };
    };
    const unbindOrBind = (guarded: GuardedVhost, source: string, destination: string, routingKey: string, args: Record<string, unknown>, unbind: boolean) => {
      if (kind === 'q') guarded.bindQueue(null, destination, source, routingKey, args, unbind);
      else guarded.bindExchange(destination, source, routingKey, args, unbind);
    };
    /** The binding a properties_key names: as listed, or as the routing key itself when a client sent it unencoded. */
    const named = (views: BindingView[], request: FastifyRequest): BindingView => {
      const { props } = request.params as { props: string };
      return views.find((view) => view.properties_key === props) ?? views.find((view) => decodeKey(view.properties_key) === props) ?? throwNotFound();
    };
    const url = `/api/bindings/:vhost/e/:source/${kind}/:destination`;
    resource(url, {
      GET: (request, identity) => {
        const [vhost, broker] = vhostOf(request, identity);
        return between(vhost, broker, request).views;
      },
      POST: (request, identity, reply) => {
        const [vhost, guarded] = guardedOf(request, identity);
        const { source, destination } = between(vhost, guarded.broker, request);
        const body = bodyObject(request.body);
        const routingKey = shortString(text(body, 'routing_key') ?? '', 'routing_key');
        const args = table(body, 'arguments');
        unbindOrBind(guarded, source.name, destination.name, routingKey, args, false);
        const path = [vhost, source.name === '' ? 'amq.default' : source.name, kind, destination.name, propertiesKey(routingKey, args)].map(encodeURIComponent);
        // RabbitMQ's answer: 201, and where the new binding is.
        return reply
          .code(201)
          .header('location', `/api/bindings/${path[0]}/e/${path.slice(1).join('/')}`)
          .send();
      },
    });
    resource(`${url}/:props`, {
      GET: (request, identity) => {
        const [vhost, broker] = vhostOf(request, identity);
        return named(between(vhost, broker, request).views, request);
      },
      DELETE: (request, identity, reply) => {
        const [vhost, guarded] = guardedOf(request, identity);
        const { source, destination, views } = between(vhost, guarded.broker, request);
        const binding = named(views, request);
        unbindOrBind(guarded, source.name, destination.name, binding.routing_key, binding.arguments, true);
        return reply.code(204).send();
      },
    });
  }

  const ownConnection = (identity: Identity, details: ConnectionDetails) => identity.username !== undefined && details.username === identity.username;
  /**
   * The connections the caller may see: administrators and monitoring users see all, other
   * management users only their own (RabbitMQ's rule), in the vhost `vhost` when given.
   */
  const connectionsFor = (identity: Identity, vhost?: string): ConnectionDetails[] =>
    transport
      .connections()
      .filter((details) => (vhost === undefined || details.vhost === vhost) && (seesEveryVhost(identity) || ownConnection(identity, details)))
      .map((details) => ({ details, name: connectionName(details) }))
      .sort((a, b) => compare(a.name, b.name))
      .map(({ details }) => details);
  /** The connection named in the path: 404 when there is none; 401 when the caller may not `read` it, or close it. */
  const connectionNamed = (request: FastifyRequest, identity: Identity, close: boolean): ConnectionDetails => {
    const details = transport.connections().find((one) => connectionName(one) === nameOf(request)) ?? throwNotFound();
    const allowed = ownConnection(identity, details) || (close ? identity.tags.has('administrator') : seesEveryVhost(identity));
    // As RabbitMQ: reading another user's connection takes a monitoring user, closing it an administrator.
    if (!allowed) throw notAuthorised('User not authorised to access object');
    return details;
  };

  resource('/api/connections', { GET: (_request, identity) => connectionsFor(identity).map((details) => connectionView(details, node)) });
  resource('/api/vhosts/:vhost/connections', {
    GET: (request, identity) => connectionsFor(identity, vhostOf(request, identity)[0]).map((details) => connectionView(details, node)),
  });
  resource('/api/connections/:name', {
    GET: (request, identity) => connectionView(connectionNamed(request, identity, false), node),
    DELETE: (request, identity, reply) => {
      const details = connectionNamed(request, identity, true);
      const reason = request.headers['x-reason'];
      details.close(typeof reason === 'string' && reason !== '' ? reason : 'Closed via management plugin');
      return reply.code(204).send();
    },
  });

  /** The consumers of the visible vhosts' connections (RabbitMQ filters them by vhost, not by user). */
  const consumersOf = (identity: Identity, vhost?: string) =>
    transport
      .connections()
      .filter((details) => (vhost === undefined ? mayView(identity, details.vhost) : details.vhost === vhost))
      .flatMap((details) => Array.from(details.connection.consumers.values(), (consumer) => consumerView(consumer, details, node)))
      .sort((a, b) => compare(a.queue.vhost, b.queue.vhost) || compare(a.queue.name, b.queue.name) || compare(a.consumer_tag, b.consumer_tag));
  resource('/api/consumers', { GET: (_request, identity) => consumersOf(identity) });
  resource('/api/consumers/:vhost', { GET: (request, identity) => consumersOf(identity, vhostOf(request, identity)[0]) });

  // Users, permissions and definitions: administrators only, as in RabbitMQ.
  const accounts = options.accounts ?? NO_ACCOUNTS;
  const administrator = (identity: Identity): void => {
    if (!identity.tags.has('administrator')) throw notAuthorised('Not administrator user');
  };
  const userOf = (request: FastifyRequest) => {
    const { user } = request.params as { user: string };
    return accounts.users.find((one) => one.name === user) ?? throwNotFound();
  };
  const vhostNamed = (request: FastifyRequest): string => {
    const { vhost } = request.params as { vhost: string };
    if (!vhosts.get(vhost)) throw notFound();
    return vhost;
  };
  const permissions = (keep: (entry: { user: string; vhost: string }) => boolean) => accounts.permissions.filter(keep).map(permissionView).sort(byVhostAndUser);
  const topicPermissions = (keep: (entry: { user: string; vhost: string }) => boolean) =>
    accounts.topicPermissions.filter(keep).map(topicPermissionView).sort(byVhostAndUser);
  const users = () => accounts.users.map(userView).sort((a, b) => compare(a.name, b.name));
  /** An administrator-only GET. */
  const adminGet = (url: string, answer: (request: FastifyRequest) => unknown) =>
    resource(url, {
      GET: (request, identity) => {
        administrator(identity);
        return answer(request);
      },
    });

  adminGet('/api/users', () => users());
  adminGet('/api/users/:user', (request) => userView(userOf(request)));
  adminGet('/api/users/:user/permissions', (request) => {
    const { name } = userOf(request);
    return permissions((entry) => entry.user === name);
  });
  adminGet('/api/users/:user/topic-permissions', (request) => {
    const { name } = userOf(request);
    return topicPermissions((entry) => entry.user === name);
  });
  adminGet('/api/permissions', () => permissions(() => true));
  adminGet('/api/permissions/:vhost/:user', (request) => {
    const vhost = vhostNamed(request);
    const { name } = userOf(request);
    return permissions((entry) => entry.user === name && entry.vhost === vhost)[0] ?? throwNotFound();
  });
  adminGet('/api/topic-permissions', () => topicPermissions(() => true));
  adminGet('/api/topic-permissions/:vhost/:user', (request) => {
    const vhost = vhostNamed(request);
    const { name } = userOf(request);
    const found = topicPermissions((entry) => entry.user === name && entry.vhost === vhost);
    if (found.length === 0) throw notFound();
    return found;
  });
  adminGet('/api/vhosts/:vhost/permissions', (request) => {
    const vhost = vhostNamed(request);
    return permissions((entry) => entry.vhost === vhost);
  });
  adminGet('/api/vhosts/:vhost/topic-permissions', (request) => {
    const vhost = vhostNamed(request);
    return topicPermissions((entry) => entry.vhost === vhost);
  });

  /** The header of a definitions export: whose and which version. */
  const exportHeader = () => ({ rabbit_version: version, rabbitmq_version: version, product_name: 'Warren', product_version: version });
  adminGet('/api/definitions', () => {
    const names = vhosts.names().sort(compare);
    const parts = names.map((name) => topology(vhosts.get(name) as Broker, name, true));
    return {
      ...exportHeader(),
      users: users(),
      vhosts: names.map((name) => ({ name, limits: [], metadata: { description: '', tags: [] } })),
      permissions: permissions(() => true),
      topic_permissions: topicPermissions(() => true),
      parameters: [],
      global_parameters: [],
      policies: [],
      queues: parts.flatMap((part) => part.queues),
      exchanges: parts.flatMap((part) => part.exchanges),
      bindings: parts.flatMap((part) => part.bindings),
    };
  });
  adminGet('/api/definitions/:vhost', (request) => {
    const vhost = vhostNamed(request);
    const { queues, exchanges, bindings } = topology(vhosts.get(vhost) as Broker, vhost, false);
    return { ...exportHeader(), parameters: [], policies: [], queues, exchanges, bindings };
  });

  resource('/api/health/checks/alarms', {
    GET: (_request, _identity, reply) => {
      const alarm = transport.alarm;
      if (alarm === null) return { status: 'ok' };
      reply.code(503);
      return { status: 'failed', reason: `There are alarms in effect: ${alarm}` };
    },
  });

  await app.ready();
  return { close: () => app.close() };
}

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers({ ...error.headers, 'cache-control': 'no-cache' }).send(error.body);
}

function throwNotFound(): never {
  throw notFound();
}

/** A properties_key with its percent-encoding undone; itself when it is not valid encoding. */
function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

const queueFields = (options: QueueOptions) => ({ durable: options.durable, auto_delete: options.autoDelete, exclusive: options.exclusive, arguments: options.arguments });
const exchangeFields = (type: string, options: ExchangeOptions) => ({
  type,
  durable: options.durable,
  auto_delete: options.autoDelete,
  internal: options.internal,
  arguments: options.arguments,
});
