import { BrokerError, type Broker, type QueueOptions } from '../../broker/index.js';
import { bodyObject, flag, inequivalence, shortString, table } from '../body.js';
import { flagQuery, guardedOf, nameOf, queueOf, vhostOf, visible, type RouteContext } from '../context.js';
import { badRequest } from '../errors.js';
import { byVhostAndName, queueView } from '../views.js';

/** Queues: list, get, declare, delete, purge. */
export function queueRoutes(context: RouteContext): void {
  const { resource, vhosts, node } = context;

  const queuesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allQueues(), (queue) => queueView(queue, vhost, node));
  resource('/api/queues', { GET: (_request, identity) => visible(vhosts, identity).flatMap(queuesOf).sort(byVhostAndName) });
  resource('/api/queues/:vhost', { GET: (request, identity) => queuesOf(vhostOf(vhosts, request, identity)).sort(byVhostAndName) });
  resource('/api/queues/:vhost/:name', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(vhosts, request, identity);
      return queueView(queueOf(broker, nameOf(request)), vhost, node);
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
    DELETE: (request, identity, reply) => {
      const [, guarded] = guardedOf(vhosts, request, identity);
      const queue = queueOf(guarded.broker, nameOf(request));
      guarded.deleteQueue(null, queue.name, flagQuery(request, 'if-unused'), flagQuery(request, 'if-empty'));
      return reply.code(204).send();
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

const queueFields = (options: QueueOptions) => ({ durable: options.durable, auto_delete: options.autoDelete, exclusive: options.exclusive, arguments: options.arguments });
