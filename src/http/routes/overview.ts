import type { Identity } from '../../auth/index.js';
import { Connection, EXCHANGE_TYPES, type Broker, type ExchangeType, type VhostTotals } from '../../broker/index.js';
import { seesEveryVhost } from '../authenticate.js';
import { DEFAULT_VHOST } from '../../auth/index.js';
import { bodyObject, shortString } from '../body.js';
import { administratorsOnly, guardedOf, nameOf, NO_PUSHES, throwNotFound, vhostOf, visible, type RouteContext } from '../context.js';
import { badRequest, notAuthorised, notFound } from '../errors.js';
import { listing } from '../listing.js';
import { messageTotals, nodeView, vhostView } from '../views.js';

/** RabbitMQ's descriptions of its exchange types. */
const EXCHANGE_DESCRIPTIONS: Record<ExchangeType, string> = {
  direct: 'AMQP direct exchange',
  fanout: 'AMQP fanout exchange',
  topic: 'AMQP topic exchange',
  headers: 'AMQP headers exchange',
};

/** The queue RabbitMQ's aliveness test uses. */
const ALIVENESS_QUEUE = 'aliveness-test';

/** The overview, whoami, vhosts, nodes and the health checks. */
export function overviewRoutes(context: RouteContext): void {
  const { resource, vhosts, transport, node, version, messageStats, accounts, saveAccounts, logger, others } = context;

  const listeners = () => {
    const address = transport.address();
    if (!address) return [];
    const scheme = transport.secure ? 'https' : 'http';
    // One port serves them all: this API, Warren's JSON protocol and STOMP over WebSocket.
    return [scheme, `${scheme}/warren`, `${scheme}/web-stomp`].map((protocol) => ({ node, protocol, ip_address: address.address, port: address.port }));
  };

  resource('/api/overview', {
    GET: async (_request, identity: Identity) => {
      const elsewhere = await others();
      const shown = visible(vhosts, identity);
      const brokers = shown.map(([, broker]) => broker);
      const sum = (count: (broker: Broker) => number) => brokers.reduce((total, broker) => total + count(broker), 0);
      const vhostTotals = shown.map(([name, broker]) => elsewhere.totals(name, broker));
      const total = (field: keyof VhostTotals) => vhostTotals.reduce((count, totals) => count + totals[field], 0);
      const totals: VhostTotals = { messagesReady: total('messagesReady'), messagesUnacknowledged: total('messagesUnacknowledged'), consumers: total('consumers'), connections: total('connections') };
      const overview = {
        management_version: version,
        product_name: 'Warren',
        product_version: version,
        object_totals: {
          connections: totals.connections,
          // Warren has no channels: a connection is its own single channel.
          channels: 0,
          exchanges: sum((broker) => broker.exchangeCount),
          queues: sum((broker) => broker.queueCount) + shown.reduce((count, [name]) => count + elsewhere.exclusiveQueues(name).length, 0),
          consumers: totals.consumers,
        },
        queue_totals: messageTotals(totals),
        message_stats: elsewhere.withOthersStats(messageStats.of(brokers), shown.map(([name]) => name)),
        exchange_types: EXCHANGE_TYPES.map((name) => ({ name, description: EXCHANGE_DESCRIPTIONS[name], enabled: true })),
      };
      // As RabbitMQ: the node and its listeners are for monitoring users and administrators.
      return seesEveryVhost(identity) ? { ...overview, node, listeners: listeners() } : overview;
    },
  });

  resource('/api/whoami', { GET: (_request, identity) => ({ name: identity.username ?? 'anonymous', tags: [...identity.tags] }) });

  resource('/api/vhosts', {
    GET: async (request, identity) => {
      const elsewhere = await others();
      return listing(request, visible(vhosts, identity).map(([name, broker]) => vhostView(name, elsewhere.totals(name, broker))));
    },
  });
  resource('/api/vhosts/:vhost', {
    GET: async (request, identity) => {
      const [name, broker] = vhostOf(vhosts, request, identity);
      return vhostView(name, (await others()).totals(name, broker));
    },
    /** Administrators only, as in RabbitMQ; the body (description, tags, ...) is accepted and not kept. */
    PUT: administratorsOnly(async (request, identity, reply) => {
      const { vhost } = request.params as { vhost: string };
      if (vhost === '') throw badRequest('the vhost name must not be empty');
      shortString(vhost, 'the vhost name');
      bodyObject(request.body);
      if (vhosts.has(vhost)) return reply.code(204).send();
      await vhosts.add(vhost);
      logger.info({ vhost, by: identity.username ?? 'anonymous' }, 'vhost created');
      return reply.code(201).send();
    }),
    /**
     * Deletes the vhost with everything in it (its journal too) and the permissions on it; its
     * connections are closed first, as in RabbitMQ.
     */
    DELETE: administratorsOnly(async (request, identity, reply) => {
      const { vhost } = request.params as { vhost: string };
      if (!vhosts.has(vhost)) throw notFound();
      if (vhost === DEFAULT_VHOST) throw badRequest('the default vhost "/" cannot be deleted: clients that name no vhost use it');
      for (const details of transport.connections()) if (details.vhost === vhost) details.close(`vhost "${vhost}" was deleted`);
      await vhosts.delete(vhost);
      accounts.deleteVhost(vhost);
      await saveAccounts();
      logger.info({ vhost, by: identity.username ?? 'anonymous' }, 'vhost deleted');
      return reply.code(204).send();
    }),
  });

  /** This node and, in a cluster, every other node that answers. */
  const nodeViews = async () => [nodeView(node, transport), ...(await others()).states.map((state) => state.node)];
  /** As RabbitMQ: nodes are for monitoring users and administrators. */
  const monitor = (identity: Identity) => {
    if (!seesEveryVhost(identity)) throw notAuthorised('Not monitor user');
  };
  resource('/api/nodes', {
    GET: async (_request, identity) => {
      monitor(identity);
      return nodeViews();
    },
  });
  resource('/api/nodes/:name', {
    GET: async (request, identity) => {
      monitor(identity);
      return (await nodeViews()).find((view) => view.name === nameOf(request)) ?? throwNotFound();
    },
  });

  let alivenessChecks = 0;
  resource('/api/aliveness-test/:vhost', {
    /**
     * RabbitMQ's: declares the queue `aliveness-test` in the vhost (and leaves it), publishes a
     * message to it and gets it back, as the caller (so it takes permissions on the vhost).
     */
    GET: (request, identity, reply) => {
      const [, guarded] = guardedOf(vhosts, request, identity);
      guarded.declareQueue(null, ALIVENESS_QUEUE, { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false);
      const payload = JSON.stringify(`aliveness-${++alivenessChecks}`);
      guarded.publish({ exchange: '', routingKey: ALIVENESS_QUEUE, payload, size: Buffer.byteLength(payload), headers: {}, properties: {} });
      const connection = new Connection(`management-aliveness-${alivenessChecks}`, guarded.broker, NO_PUSHES);
      try {
        const { delivery } = guarded.get(connection, ALIVENESS_QUEUE, true);
        if (delivery?.entry.message.payload === payload) return { status: 'ok' };
      } finally {
        connection.close();
      }
      reply.code(503);
      return { status: 'failed', reason: `the message published to queue "${ALIVENESS_QUEUE}" did not come back` };
    },
  });

  resource('/api/health/checks/alarms', {
    GET: (_request, _identity, reply) => {
      const alarm = transport.alarm;
      if (alarm === null) return { status: 'ok' };
      reply.code(503);
      return { status: 'failed', reason: `There are alarms in effect: ${alarm}` };
    },
  });
}
