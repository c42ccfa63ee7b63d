import { hostname } from 'node:os';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { AccountBook, Authenticator } from '../auth/index.js';
import { BrokerError, type Broker, type IoCounts, type VirtualHosts } from '../broker/index.js';
import type { Transport } from '../transport/index.js';
import { authenticate, seesEveryVhost } from './authenticate.js';
import { DASHBOARD_PREFIX, dashboardHandlers, rootRedirect } from './dashboard.js';
import { fromBrokerError } from './body.js';
import type { Methods, OtherNodes, RouteContext } from './context.js';
import { MessageStats } from './message-stats.js';
import { ApiError, badRequest, internalError, methodNotAllowed, notAuthorised, notFound } from './errors.js';
import { metricsRegistries } from './metrics.js';
import { connectionName } from './views.js';
import { nodeState, NO_OTHER_NODES, OtherNodesView, type NodeState } from './cluster-view.js';
import { accountRoutes } from './routes/accounts.js';
import { bindingRoutes } from './routes/bindings.js';
import { connectionRoutes } from './routes/connections.js';
import { definitionRoutes } from './routes/definitions.js';
import { exchangeRoutes } from './routes/exchanges.js';
import { overviewRoutes } from './routes/overview.js';
import { policyRoutes } from './routes/policies.js';
import { queueRoutes } from './routes/queues.js';

/** Where the management API lives on the broker's port (RabbitMQ's path). */
export const API_PREFIX = '/api';
/** Where Prometheus scrapes (rabbitmq_prometheus's path, on the broker's port). */
export const METRICS_PREFIX = '/metrics';

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
  /** The users and permissions, which the API reads and changes. */
  readonly accounts: AccountBook;
  /** Makes the accounts' current state durable; a change is answered once it resolves. */
  readonly saveAccounts: () => Promise<void>;
  /** The stores' disk writes, for /metrics. */
  readonly io?: IoCounts;
  /** In a cluster: the other nodes' connections (docs/clustering.md). */
  readonly otherNodes?: OtherNodes;
}

/** The management API, serving on the transport's port until closed. */
export interface ManagementApi {
  /** What this node has, as the API shows it: what a cluster's other nodes ask for. */
  nodeState(): NodeState;
  /** Closes this node's connection of that name (asked by another node of a cluster); false when there is none. */
  closeConnection(name: string, reason: string): boolean;
  close(): Promise<void>;
}

/** Every method a path answers or refuses; HEAD comes with GET. */
const ALL_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH'] as const;

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
      transport.serveHttp(METRICS_PREFIX, handler);
      transport.serveHttp(DASHBOARD_PREFIX, handler);
      // The transport gives the prefix '/' the bare '/' (and '//...' paths): a redirect to the dashboard.
      transport.serveHttp('/', rootRedirect);
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
          const identity = await authenticate({ headers: request.headers, remoteAddress: transport.clientAddress(request.raw) }, auth, logger);
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

  const metrics = metricsRegistries({ vhosts, transport, auth, io: options.io });
  const scrape = (registry: Registry) => async (_request: FastifyRequest, reply: FastifyReply) => reply.type(registry.contentType).header('cache-control', 'no-cache').send(await registry.metrics());
  // As rabbitmq_prometheus: the node's totals for anyone who reaches the port (no names in them)...
  app.get(METRICS_PREFIX, scrape(metrics.aggregated));
  // ...and the series per queue, which name the queues, for monitoring users and administrators.
  app.get(`${METRICS_PREFIX}/per-object`, {
    onRequest: async (request) => {
      const identity = await authenticate({ headers: request.headers, remoteAddress: transport.clientAddress(request.raw) }, auth, logger);
      if (!seesEveryVhost(identity)) throw notAuthorised('Not monitor user');
    },
    handler: scrape(metrics.perObject),
  });

  const messageStats = new MessageStats(function* () {
    for (const name of vhosts.names()) {
      const broker = vhosts.get(name) as Broker;
      yield broker;
      yield* broker.allQueues();
    }
  });
  const { otherNodes } = options;
  const others = async () => (otherNodes ? new OtherNodesView(await otherNodes.states()) : NO_OTHER_NODES);
  const context: RouteContext = { vhosts, transport, accounts: options.accounts, saveAccounts: options.saveAccounts, version, node, logger, messageStats, otherNodes, others, resource };
  const dashboard = await dashboardHandlers();
  app.get(DASHBOARD_PREFIX, dashboard.redirect);
  app.get(`${DASHBOARD_PREFIX}/*`, dashboard.asset);
  for (const routes of [overviewRoutes, queueRoutes, exchangeRoutes, bindingRoutes, connectionRoutes, policyRoutes, accountRoutes, definitionRoutes]) routes(context);

  await app.ready();
  return {
    nodeState: () => nodeState(vhosts, transport, node, messageStats),
    closeConnection: (name, reason) => {
      const details = transport.connections().find((one) => connectionName(one) === name);
      details?.close(reason);
      return details !== undefined;
    },
    close: async () => {
      messageStats.close();
      await app.close();
    },
  };
}

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers({ ...error.headers, 'cache-control': 'no-cache' }).send(error.body);
}
