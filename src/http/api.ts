import { hostname } from 'node:os';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator, Identity } from '../auth/index.js';
import type { Broker, VhostTotals, VirtualHosts } from '../broker/index.js';
import type { Transport } from '../transport/index.js';
import { authenticate, mayView, seesEveryVhost } from './authenticate.js';
import { ApiError, badRequest, internalError, methodNotAllowed, notAuthorised, notFound } from './errors.js';
import { byVhostAndName, compare, exchangeView, messageTotals, queueView, vhostView } from './views.js';

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
}

/** The management API, serving on the transport's port until closed. */
export interface ManagementApi {
  close(): Promise<void>;
}

const READ_METHODS = ['GET', 'HEAD'];
const OTHER_METHODS = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

type Read = (request: FastifyRequest, identity: Identity, reply: FastifyReply) => unknown;

/**
 * RabbitMQ's management HTTP API, read-only so far (docs/management.md), on fastify, on the same
 * http.Server that WebSocket clients upgrade on. Handlers translate HTTP into reads of the vhosts
 * and their brokers and back; counts come from the totals the model keeps, not from scans.
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

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) return send(reply, error);
    const status = (error as { statusCode?: number }).statusCode;
    // fastify's own refusals (a body that is not JSON, too large, of another type) are the client's.
    if (status !== undefined && status >= 400 && status < 500) return send(reply, new ApiError(status, 'bad_request', (error as Error).message));
    request.log.error({ err: error, method: request.method, url: request.url }, 'management API request failed');
    return send(reply, internalError());
  });
  app.setNotFoundHandler((_request, reply) => send(reply, notFound()));

  /** A read-only resource: GET (and HEAD) for a management user; any other method is 405, before authentication, as RabbitMQ's. */
  const resource = (url: string, read: Read): void => {
    app.get(url, async (request, reply) => {
      const identity = await authenticate({ headers: request.headers, remoteAddress: request.socket.remoteAddress }, auth, logger);
      reply.header('cache-control', 'no-cache');
      return read(request, identity, reply);
    });
    app.route({
      method: [...OTHER_METHODS],
      url,
      // Before the body is read: a wrong method is 405 whatever it carries.
      onRequest: async (request) => {
        throw methodNotAllowed(request.method, READ_METHODS);
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

  resource('/api/overview', (_request, identity) => {
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
  });

  resource('/api/whoami', (_request, identity) => ({ name: identity.username ?? 'anonymous', tags: [...identity.tags] }));

  resource('/api/vhosts', (_request, identity) => visible(identity).map(([name, broker]) => vhostView(name, broker.totals)));
  resource('/api/vhosts/:vhost', (request, identity) => {
    const [name, broker] = vhostOf(request, identity);
    return vhostView(name, broker.totals);
  });

  const queuesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allQueues(), (queue) => queueView(queue, vhost, node));
  resource('/api/queues', (_request, identity) => visible(identity).flatMap(queuesOf).sort(byVhostAndName));
  resource('/api/queues/:vhost', (request, identity) => queuesOf(vhostOf(request, identity)).sort(byVhostAndName));
  resource('/api/queues/:vhost/:name', (request, identity) => {
    const [vhost, broker] = vhostOf(request, identity);
    const queue = broker.getQueue(nameOf(request));
    if (!queue) throw notFound();
    return queueView(queue, vhost, node);
  });

  const exchangesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allExchanges(), (exchange) => exchangeView(exchange, vhost));
  resource('/api/exchanges', (_request, identity) => visible(identity).flatMap(exchangesOf).sort(byVhostAndName));
  resource('/api/exchanges/:vhost', (request, identity) => exchangesOf(vhostOf(request, identity)).sort(byVhostAndName));
  resource('/api/exchanges/:vhost/:name', (request, identity) => {
    const [vhost, broker] = vhostOf(request, identity);
    const name = nameOf(request);
    // RabbitMQ's name for the default exchange "" in a path.
    const exchange = broker.getExchange(name === 'amq.default' ? '' : name);
    if (!exchange) throw notFound();
    return exchangeView(exchange, vhost);
  });

  resource('/api/health/checks/alarms', (_request, _identity, reply) => {
    const alarm = transport.alarm;
    if (alarm === null) return { status: 'ok' };
    reply.code(503);
    return { status: 'failed', reason: `There are alarms in effect: ${alarm}` };
  });

  await app.ready();
  return { close: () => app.close() };
}

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers({ ...error.headers, 'cache-control': 'no-cache' }).send(error.body);
}
