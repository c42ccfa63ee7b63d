import type { FastifyRequest } from 'fastify';
import { administratorsOnly, throwNotFound, type RouteContext } from '../context.js';
import { permissionList, topicPermissionList, userList } from '../definitions.js';
import { notFound } from '../errors.js';

/** Users, permissions and topic permissions: administrators only, as in RabbitMQ. */
export function accountRoutes(context: RouteContext): void {
  const { resource, vhosts, accounts } = context;

  const userOf = (request: FastifyRequest) => {
    const { user } = request.params as { user: string };
    return accounts.users.find((one) => one.name === user) ?? throwNotFound();
  };
  const vhostNamed = (request: FastifyRequest): string => {
    const { vhost } = request.params as { vhost: string };
    if (!vhosts.get(vhost)) throw notFound();
    return vhost;
  };
  const permissions = (keep?: (entry: { user: string; vhost: string }) => boolean) => permissionList(accounts, keep);
  const topicPermissions = (keep?: (entry: { user: string; vhost: string }) => boolean) => topicPermissionList(accounts, keep);
  /** An administrator-only GET. */
  const adminGet = (url: string, answer: (request: FastifyRequest) => unknown) => resource(url, { GET: administratorsOnly((request) => answer(request)) });

  adminGet('/api/users', () => userList(accounts));
  adminGet('/api/users/:user', (request) => {
    const { name } = userOf(request);
    return userList(accounts).find((user) => user.name === name);
  });
  adminGet('/api/users/:user/permissions', (request) => {
    const { name } = userOf(request);
    return permissions((entry) => entry.user === name);
  });
  adminGet('/api/users/:user/topic-permissions', (request) => {
    const { name } = userOf(request);
    return topicPermissions((entry) => entry.user === name);
  });
  adminGet('/api/permissions', () => permissions());
  adminGet('/api/permissions/:vhost/:user', (request) => {
    const vhost = vhostNamed(request);
    const { name } = userOf(request);
    return permissions((entry) => entry.user === name && entry.vhost === vhost)[0] ?? throwNotFound();
  });
  adminGet('/api/topic-permissions', () => topicPermissions());
  adminGet('/api/topic-permissions/:vhost/:user', (request) => {
    const vhost = vhostNamed(request);
    const { name } = userOf(request);
    const found = topicPermissions((entry) => entry.user === name && entry.vhost === vhost);
    if (found.length === 0) throw notFound();
    return found;
  });
  adminGet('/api/vhosts/:vhost/permissions', (request) => {
    const vhost = vhostNamed(request);
    return permissions((entry) => entry.vhost === vhost);
  });
  adminGet('/api/vhosts/:vhost/topic-permissions', (request) => {
    const vhost = vhostNamed(request);
    return topicPermissions((entry) => entry.vhost === vhost);
  });
}
