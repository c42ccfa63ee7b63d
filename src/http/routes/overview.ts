import type { Identity } from '../../auth/index.js';
import type { Broker, VhostTotals } from '../../broker/index.js';
import { seesEveryVhost } from '../authenticate.js';
import { vhostOf, visible, type RouteContext } from '../context.js';
import { messageTotals, vhostView } from '../views.js';

/** The overview, whoami, vhosts and the health check. */
export function overviewRoutes(context: RouteContext): void {
  const { resource, vhosts, transport, node, version } = context;

  const listeners = () => {
    const address = transport.address();
    if (!address) return [];
    const scheme = transport.secure ? 'https' : 'http';
    // One port serves them all: this API, Warren's JSON protocol and STOMP over WebSocket.
    return [scheme, `${scheme}/warren`, `${scheme}/web-stomp`].map((protocol) => ({ node, protocol, ip_address: address.address, port: address.port }));
  };

  resource('/api/overview', {
    GET: (_request, identity: Identity) => {
      const brokers = visible(vhosts, identity).map(([, broker]) => broker);
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

  resource('/api/vhosts', { GET: (_request, identity) => visible(vhosts, identity).map(([name, broker]) => vhostView(name, broker.totals)) });
  resource('/api/vhosts/:vhost', {
    GET: (request, identity) => {
      const [name, broker] = vhostOf(vhosts, request, identity);
      return vhostView(name, broker.totals);
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
