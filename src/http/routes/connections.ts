import type { FastifyRequest } from 'fastify';
import type { Identity } from '../../auth/index.js';
import type { ConnectionDetails } from '../../transport/index.js';
import { mayView, seesEveryVhost } from '../authenticate.js';
import { nameOf, throwNotFound, vhostOf, type RouteContext } from '../context.js';
import { notAuthorised } from '../errors.js';
import { listing } from '../listing.js';
import { compare, connectionView, consumerView, type ConnectionView } from '../views.js';

/** Connections (list, get, close) and consumers. */
export function connectionRoutes(context: RouteContext): void {
  const { resource, vhosts, transport, node, otherNodes, others } = context;

  /** This node's connections and, in a cluster, every other node's, as views. */
  const allConnections = async (): Promise<{ view: ConnectionView; details?: ConnectionDetails }[]> => [
    ...transport.connections().map((details) => ({ view: connectionView(details, node), details })),
    ...(await others()).connections().map((view) => ({ view })),
  ];
  /** The caller's own: by the username of a connection here, by the view's user for another node's (whose "anonymous" is no one's). */
  const ownConnection = (identity: Identity, { view, details }: { view: ConnectionView; details?: ConnectionDetails }) =>
    identity.username !== undefined && (details ? details.username === identity.username : view.user !== 'anonymous' && view.user === identity.username);
  /**
   * The connections the caller may see: administrators and monitoring users see all, other
   * management users only their own (RabbitMQ's rule), in the vhost `vhost` when given.
   */
  const connectionsFor = async (identity: Identity, vhost?: string): Promise<ConnectionView[]> =>
    (await allConnections())
      .filter((found) => (vhost === undefined || found.view.vhost === vhost) && (seesEveryVhost(identity) || ownConnection(identity, found)))
      .map(({ view }) => view)
      .sort((a, b) => compare(a.name, b.name));
  /** The connection named in the path: 404 when there is none; 401 when the caller may not `read` it, or close it. */
  const connectionNamed = async (request: FastifyRequest, identity: Identity, close: boolean) => {
    const found = (await allConnections()).find(({ view }) => view.name === nameOf(request)) ?? throwNotFound();
    const allowed = ownConnection(identity, found) || (close ? identity.tags.has('administrator') : seesEveryVhost(identity));
    // As RabbitMQ: reading another user's connection takes a monitoring user, closing it an administrator.
    if (!allowed) throw notAuthorised('User not authorised to access object');
    return found;
  };

  resource('/api/connections', { GET: async (request, identity) => listing(request, await connectionsFor(identity)) });
  resource('/api/vhosts/:vhost/connections', {
    GET: async (request, identity) => listing(request, await connectionsFor(identity, vhostOf(vhosts, request, identity)[0])),
  });
  resource('/api/connections/:name', {
    GET: async (request, identity) => (await connectionNamed(request, identity, false)).view,
    DELETE: async (request, identity, reply) => {
      const { view, details } = await connectionNamed(request, identity, true);
      const header = request.headers['x-reason'];
      const reason = typeof header === 'string' && header !== '' ? header : 'Closed via management plugin';
      if (details) details.close(reason);
      else await otherNodes?.close(view.name, reason);
      return reply.code(204).send();
    },
  });

  /** The consumers of the visible vhosts' connections, on every node (RabbitMQ filters them by vhost, not by user). */
  const consumersOf = async (identity: Identity, vhost?: string) =>
    [
      ...transport.connections().flatMap((details) => Array.from(details.connection.consumers.values(), (consumer) => consumerView(consumer, details, node))),
      ...(await others()).consumers(),
    ]
      .filter((view) => (vhost === undefined ? mayView(identity, view.queue.vhost) : view.queue.vhost === vhost))
      .sort((a, b) => compare(a.queue.vhost, b.queue.vhost) || compare(a.queue.name, b.queue.name) || compare(a.consumer_tag, b.consumer_tag));
  resource('/api/consumers', { GET: async (_request, identity) => consumersOf(identity) });
  resource('/api/consumers/:vhost', { GET: async (request, identity) => consumersOf(identity, vhostOf(vhosts, request, identity)[0]) });
}
