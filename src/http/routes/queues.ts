import { BrokerError, Connection, type Broker, type QueueOptions } from '../../broker/index.js';
import { bodyObject, flag, inequivalence, payloadView, propertiesView, required, shortString, table, text, type Body } from '../body.js';
import type { OtherNodesView } from '../cluster-view.js';
import { flagQuery, guardedOf, nameOf, NO_PUSHES, queueOf, throwNotFound, vhostOf, visible, type RouteContext } from '../context.js';
import { badRequest } from '../errors.js';
import { listing } from '../listing.js';
import { byVhostAndName, queueView } from '../views.js';

/** Queues: list, get, declare, delete, purge. */
export function queueRoutes(context: RouteContext): void {
  const { resource, vhosts, node, logger, messageStats, others } = context;

  /** A vhost's queues on every node: the shared ones with what other nodes hold, and other nodes' exclusive ones. */
  const queuesOf = ([vhost, broker]: [string, Broker], elsewhere: OtherNodesView) => [
    ...Array.from(broker.allQueues(), (queue) => elsewhere.withOthers(queueView(queue, vhost, node, messageStats.ofQueue(queue)))),
    ...elsewhere.exclusiveQueues(vhost),
  ];
  resource('/api/queues', {
    GET: async (request, identity) => {
      const elsewhere = await others();
      return listing(request, visible(vhosts, identity).flatMap((vhost) => queuesOf(vhost, elsewhere)).sort(byVhostAndName));
    },
  });
  resource('/api/queues/:vhost', { GET: async (request, identity) => listing(request, queuesOf(vhostOf(vhosts, request, identity), await others()).sort(byVhostAndName)) });
  resource('/api/queues/:vhost/:name', {
    GET: async (request, identity) => {
      const [vhost, broker] = vhostOf(vhosts, request, identity);
      const queue = broker.getQueue(nameOf(request));
      const elsewhere = await others();
      if (!queue) return elsewhere.exclusiveQueues(vhost).find((view) => view.name === nameOf(request)) ?? throwNotFound();
      return elsewhere.withOthers(queueView(queue, vhost, node, messageStats.ofQueue(queue)));
    },
    PUT: (request, identity, reply) => {
      const [vhost, guarded] = guardedOf(vhosts, request, identity);
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
    DELETE: async (request, identity, reply) => {
      const [vhost, guarded] = guardedOf(vhosts, request, identity);
      const local = guarded.broker.getQueue(nameOf(request));
      // Another node's exclusive queue is refused as this node's own are (its connection owns it), not unknown.
      if (!local && (await others()).exclusiveQueues(vhost).some((view) => view.name === nameOf(request))) {
        throw new BrokerError('RESOURCE_LOCKED', `queue "${nameOf(request)}" is exclusive to a connection on another node`);
      }
      const queue = local ?? throwNotFound();
      guarded.deleteQueue(null, queue.name, flagQuery(request, 'if-unused'), flagQuery(request, 'if-empty'));
      return reply.code(204).send();
    },
  });
  let gets = 0;
  resource('/api/queues/:vhost/:name/get', {
    /**
     * RabbitMQ's: takes up to `count` messages as deliveries of a connection of the request's own,
     * then settles them all as `ackmode` says (so a requeue gives back the same messages, in order,
     * redelivered), and closes that connection.
     */
    POST: (request, identity) => {
      const [, guarded] = guardedOf(vhosts, request, identity);
      const queue = queueOf(guarded.broker, nameOf(request));
      const body = bodyObject(request.body);
      const count = positiveInteger(body, 'count', true) as number;
      const ackmode = required(text(body, 'ackmode'), 'ackmode');
      if (!ACKMODES.includes(ackmode)) throw badRequest(`ackmode must be one of ${ACKMODES.join(', ')} (got ${JSON.stringify(ackmode)})`);
      const encoding = required(text(body, 'encoding'), 'encoding');
      if (encoding !== 'auto' && encoding !== 'base64') throw badRequest(`encoding must be "auto" or "base64" (got ${JSON.stringify(encoding)})`);
      const truncate = positiveInteger(body, 'truncate', false);
      const connection = new Connection(`management-get-${++gets}`, guarded.broker, NO_PUSHES);
      try {
        const taken = [];
        let lastTag = 0;
        for (let i = 0; i < count; i++) {
          const { delivery, messageCount } = guarded.get(connection, queue.name, false);
          if (!delivery) break;
          lastTag = delivery.deliveryTag;
          const { message, returns } = delivery.entry;
          taken.push({
            ...payloadView(message.payload, encoding, truncate),
            redelivered: returns > 0,
            exchange: message.exchange,
            routing_key: message.routingKey,
            message_count: messageCount,
            properties: propertiesView(message.properties, message.headers),
          });
        }
        if (lastTag > 0) {
          if (ackmode === 'ack_requeue_false') connection.ack(lastTag, true);
          else connection.nack(lastTag, true, ackmode.endsWith('requeue_true'));
        }
        return taken;
      } finally {
        connection.close();
      }
    },
  });
  resource('/api/queues/:vhost/:name/move', {
    /** Warren's own (docs/management.md, "Reading and moving messages"): RabbitMQ moves messages with a shovel. */
    POST: (request, identity) => {
      const [vhost, guarded] = guardedOf(vhosts, request, identity);
      const queue = queueOf(guarded.broker, nameOf(request));
      const body = bodyObject(request.body);
      const destination = queueOf(guarded.broker, required(text(body, 'destination'), 'destination'));
      const count = positiveInteger(body, 'count', false);
      const moved = guarded.moveMessages(queue.name, destination.name, count);
      logger.info({ vhost, queue: queue.name, destination: destination.name, moved, by: identity.username ?? 'anonymous' }, 'messages moved');
      return { moved };
    },
  });
  resource('/api/queues/:vhost/:name/contents', {
    DELETE: (request, identity, reply) => {
      const [, guarded] = guardedOf(vhosts, request, identity);
      guarded.purgeQueue(null, queueOf(guarded.broker, nameOf(request)).name);
      return reply.code(204).send();
    },
  });
}

const ACKMODES = ['ack_requeue_true', 'reject_requeue_true', 'ack_requeue_false', 'reject_requeue_false'];

/** An integer >= 1, or its digits as a string (rabbitmqadmin sends `count` so). */
function positiveInteger(body: Body, field: string, isRequired: boolean): number | undefined {
  const value = body[field];
  if (value === undefined) {
    if (isRequired) throw badRequest(`key_missing: ${field} is required`);
    return undefined;
  }
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) throw badRequest(`${field} must be an integer >= 1 (got ${JSON.stringify(value)})`);
  return number;
}

const queueFields = (options: QueueOptions) => ({ durable: options.durable, auto_delete: options.autoDelete, exclusive: options.exclusive, arguments: options.arguments });
