import type { FastifyRequest } from 'fastify';
import type { Broker } from '../../broker/index.js';
import { administratorsOnly, type RouteContext } from '../context.js';
import { permissionList, topicPermissionList, topology, userList } from '../definitions.js';
import { notFound } from '../errors.js';
import { compare } from '../views.js';

/** Definitions: the export, whole or per vhost (administrators only). */
export function definitionRoutes(context: RouteContext): void {
  const { resource, vhosts, accounts, version } = context;

  /** The header of a definitions export: whose and which version. */
  const exportHeader = () => ({ rabbit_version: version, rabbitmq_version: version, product_name: 'Warren', product_version: version });
  const vhostNamed = (request: FastifyRequest): [string, Broker] => {
    const { vhost } = request.params as { vhost: string };
    const broker = vhosts.get(vhost) ?? null;
    if (!broker) throw notFound();
    return [vhost, broker];
  };

  resource('/api/definitions', {
    GET: administratorsOnly(() => {
      const names = vhosts.names().sort(compare);
      const parts = names.map((name) => topology(vhosts.get(name) as Broker, name, true));
      return {
        ...exportHeader(),
        users: userList(accounts),
        vhosts: names.map((name) => ({ name, limits: [], metadata: { description: '', tags: [] } })),
        permissions: permissionList(accounts),
        topic_permissions: topicPermissionList(accounts),
        parameters: [],
        global_parameters: [],
        policies: parts.flatMap((part) => part.policies),
        queues: parts.flatMap((part) => part.queues),
        exchanges: parts.flatMap((part) => part.exchanges),
        bindings: parts.flatMap((part) => part.bindings),
      };
    }),
  });
  resource('/api/definitions/:vhost', {
    GET: administratorsOnly((request) => {
      const [vhost, broker] = vhostNamed(request);
      const { policies, queues, exchanges, bindings } = topology(broker, vhost, false);
      return { ...exportHeader(), parameters: [], policies, queues, exchanges, bindings };
    }),
  });
}
