import type { FastifyRequest } from 'fastify';
import type { Identity } from '../../auth/index.js';
import type { ConnectionDetails } from '../../transport/index.js';
import { mayView, seesEveryVhost } from '../authenticate.js';
import { nameOf, throwNotFound, vhostOf, type RouteContext } from '../context.js';
import { notAuthorised } from '../errors.js';
import { listing } from '../listing.js';
import { compare, connectionName, connectionView, consumerView } from '../views.js';

/** Connections (list, get, close) and consumers. */
export function connectionRoutes(context: RouteContext): void {
  const { resource, vhosts, transport, node } = context;

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

  resource('/api/connections', { GET: (request, identity) => listing(request, connectionsFor(identity).map((details) => connectionView(details, node))) });
  resource('/api/vhosts/:vhost/connections', {
    GET: (request, identity) => listing(request, connectionsFor(identity, vhostOf(vhosts, request, identity)[0]).map((details) => connectionView(details, node))),
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
  resource('/api/consumers/:vhost', { GET: (request, identity) => consumersOf(identity, vhostOf(vhosts, request, identity)[0]) });
}
