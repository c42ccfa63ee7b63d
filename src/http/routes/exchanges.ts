import { BrokerError, EXCHANGE_TYPES, PERSISTED, ROUTED, type ExchangeOptions, type ExchangeType, type Message } from '../../broker/index.js';
import { bodyObject, flag, inequivalence, messageProperties, payloadJson, required, shortString, table, text } from '../body.js';
import { exchangeOf, flagQuery, guardedOf, nameOf, vhostOf, visible, type RouteContext } from '../context.js';
import { ApiError, badRequest } from '../errors.js';
import { listing } from '../listing.js';
import { byVhostAndName, exchangeView } from '../views.js';
import type { Broker } from '../../broker/index.js';

/** Exchanges: list, get, declare, delete, publish. */
export function exchangeRoutes(context: RouteContext): void {
  const { resource, vhosts, transport } = context;

  const exchangesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allExchanges(), (exchange) => exchangeView(exchange, vhost));
  resource('/api/exchanges', { GET: (request, identity) => listing(request, visible(vhosts, identity).flatMap(exchangesOf).sort(byVhostAndName)) });
  resource('/api/exchanges/:vhost', { GET: (request, identity) => listing(request, exchangesOf(vhostOf(vhosts, request, identity)).sort(byVhostAndName)) });
  resource('/api/exchanges/:vhost/:name', {
    GET: (request, identity) => {
      const [vhost, broker] = vhostOf(vhosts, request, identity);
      return exchangeView(exchangeOf(broker, nameOf(request)), vhost);
    },
    PUT: (request, identity, reply) => {
      const [vhost, guarded] = guardedOf(vhosts, request, identity);
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
      const [, guarded] = guardedOf(vhosts, request, identity);
      const exchange = exchangeOf(guarded.broker, nameOf(request));
      guarded.deleteExchange(exchange.name, flagQuery(request, 'if-unused'));
      return reply.code(204).send();
    },
  });
  resource('/api/exchanges/:vhost/:name/publish', {
    POST: async (request, identity) => {
      const [, guarded] = guardedOf(vhosts, request, identity);
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
}

const exchangeFields = (type: string, options: ExchangeOptions) => ({
  type,
  durable: options.durable,
  auto_delete: options.autoDelete,
  internal: options.internal,
  arguments: options.arguments,
});
