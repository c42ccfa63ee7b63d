import type { FastifyRequest } from 'fastify';
import type { GuardedVhost } from '../../auth/index.js';
import { RelayQueue, type Binding, type Broker } from '../../broker/index.js';
import { bodyObject, propertiesKey, shortString, table, text } from '../body.js';
import { exchangeOf, guardedOf, nameOf, queueOf, throwNotFound, vhostOf, visible, type Handler, type RouteContext } from '../context.js';
import { bindingView, byBinding, defaultBindingView, type BindingView } from '../views.js';

/** Not a relay to another node's exclusive queues (docs/clustering.md): those are not this node's to list. */
const listed = (binding: Binding): boolean => !(binding.destination instanceof RelayQueue);

/** Bindings in their four path shapes, and the binding lists of queues and exchanges. */
export function bindingRoutes(context: RouteContext): void {
  const { resource, vhosts } = context;

  resource('/api/queues/:vhost/:name/bindings', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(vhosts, request, identity);
      const queue = queueOf(broker, nameOf(request));
      return [defaultBindingView(queue, vhost), ...Array.from(broker.bindingsOf(queue), (binding) => bindingView(binding, vhost))].sort(byBinding);
    },
  });

  const exchangeBindings =
    (which: 'source' | 'destination'): Handler =>
    (request, identity) => {
      const [vhost, broker] = vhostOf(vhosts, request, identity);
      const exchange = exchangeOf(broker, nameOf(request));
      if (exchange.name === '') return which === 'source' ? Array.from(broker.allQueues(), (queue) => defaultBindingView(queue, vhost)).sort(byBinding) : [];
      const bindings = which === 'source' ? exchange.bindings : broker.bindingsOf(exchange);
      return Array.from(bindings).filter(listed).map((binding) => bindingView(binding, vhost)).sort(byBinding);
    };
  resource('/api/exchanges/:vhost/:name/bindings/source', { GET: exchangeBindings('source') });
  resource('/api/exchanges/:vhost/:name/bindings/destination', { GET: exchangeBindings('destination') });

  const bindingsIn = ([vhost, broker]: [string, Broker]): BindingView[] => {
    const views = Array.from(broker.allQueues(), (queue) => defaultBindingView(queue, vhost));
    for (const exchange of broker.allExchanges()) for (const binding of exchange.bindings) if (listed(binding)) views.push(bindingView(binding, vhost));
    return views;
  };
  resource('/api/bindings', { GET: (_request, identity) => visible(vhosts, identity).flatMap(bindingsIn).sort(byBinding) });
  resource('/api/bindings/:vhost', { GET: (request, identity) => bindingsIn(vhostOf(vhosts, request, identity)).sort(byBinding) });

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
        const [vhost, broker] = vhostOf(vhosts, request, identity);
        return between(vhost, broker, request).views;
      },
      POST: (request, identity, reply) => {
        const [vhost, guarded] = guardedOf(vhosts, request, identity);
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
        const [vhost, broker] = vhostOf(vhosts, request, identity);
        return named(between(vhost, broker, request).views, request);
      },
      DELETE: (request, identity, reply) => {
        const [vhost, guarded] = guardedOf(vhosts, request, identity);
        const { source, destination, views } = between(vhost, guarded.broker, request);
        const binding = named(views, request);
        unbindOrBind(guarded, source.name, destination.name, binding.routing_key, binding.arguments, true);
        return reply.code(204).send();
      },
    });
  }
}

/** A properties_key with its percent-encoding undone; itself when it is not valid encoding. */
function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}
