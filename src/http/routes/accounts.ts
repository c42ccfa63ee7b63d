import type { FastifyRequest } from 'fastify';
import { AccountError, rabbitPasswordHash, type AccountUser, type HashingAlgorithm } from '../../auth/index.js';
import { bodyObject, required, shortString, text, type Body } from '../body.js';
import { administratorsOnly, throwNotFound, type RouteContext } from '../context.js';
import { permissionList, topicPermissionList, userList } from '../definitions.js';
import { badRequest, notFound } from '../errors.js';

/** Users, permissions and topic permissions, to read and change: administrators only, as in RabbitMQ. */
export function accountRoutes(context: RouteContext): void {
  const { resource, vhosts, accounts, saveAccounts, transport, logger } = context;

  const userNamed = (request: FastifyRequest): AccountUser => {
    const { user } = request.params as { user: string };
    return accounts.user(user) ?? throwNotFound();
  };
  const vhostNamed = (request: FastifyRequest): string => {
    const { vhost } = request.params as { vhost: string };
    if (!vhosts.get(vhost)) throw notFound();
    return vhost;
  };
  /** For a write: the path's vhost and user must exist (RabbitMQ answers 400 for either, not 404). */
  const permissionTarget = (request: FastifyRequest): { vhost: string; user: string } => {
    const { vhost, user } = request.params as { vhost: string; user: string };
    if (!vhosts.get(vhost)) throw badRequest(`vhost ${JSON.stringify(vhost)} does not exist`);
    if (!accounts.user(user)) throw badRequest(`user ${JSON.stringify(user)} does not exist; create it with PUT /api/users/{name} first`);
    return { vhost, user };
  };
  /** A change of the book, kept on disk before the answer; the book's refusals are 400. */
  const change = async (apply: () => boolean, what: Record<string, unknown>, message: string): Promise<boolean> => {
    let result: boolean;
    try {
      result = apply();
    } catch (error) {
      if (error instanceof AccountError) throw badRequest(error.message);
      throw error;
    }
    await saveAccounts();
    logger.info(what, message);
    return result;
  };
  const adminGet = (url: string, answer: (request: FastifyRequest) => unknown) => resource(url, { GET: administratorsOnly((request) => answer(request)) });

  adminGet('/api/users', () => userList(accounts));
  resource('/api/users/:user', {
    GET: administratorsOnly((request) => {
      const { name } = userNamed(request);
      return userList(accounts).find((user) => user.name === name);
    }),
    PUT: administratorsOnly(async (request, identity, reply) => {
      const { user: name } = request.params as { user: string };
      shortString(name, 'the user name');
      if (name === '') throw badRequest('the user name must not be empty');
      const body = bodyObject(request.body);
      const existing = accounts.user(name);
      const user: AccountUser = { name, ...credentialOf(body, existing), tags: tagsOf(body, existing) };
      const created = await change(() => accounts.putUser(user), { user: name, tags: user.tags, by: identity.username ?? 'anonymous' }, existing ? 'user changed' : 'user created');
      return reply.code(created ? 201 : 204).send();
    }),
    DELETE: administratorsOnly(async (request, identity, reply) => {
      const { name } = userNamed(request);
      await change(() => accounts.deleteUser(name), { user: name, by: identity.username ?? 'anonymous' }, 'user deleted');
      // As RabbitMQ: a deleted user's connections are closed.
      for (const details of transport.connections()) if (details.username === name) details.close(`user "${name}" was deleted`);
      return reply.code(204).send();
    }),
  });
  adminGet('/api/users/:user/permissions', (request) => {
    const { name } = userNamed(request);
    return permissionList(accounts, (entry) => entry.user === name);
  });
  adminGet('/api/users/:user/topic-permissions', (request) => {
    const { name } = userNamed(request);
    return topicPermissionList(accounts, (entry) => entry.user === name);
  });
  adminGet('/api/permissions', () => permissionList(accounts));
  resource('/api/permissions/:vhost/:user', {
    GET: administratorsOnly((request) => {
      const vhost = vhostNamed(request);
      const { name } = userNamed(request);
      return permissionList(accounts, (entry) => entry.user === name && entry.vhost === vhost)[0] ?? throwNotFound();
    }),
    PUT: administratorsOnly(async (request, identity, reply) => {
      const { vhost, user } = permissionTarget(request);
      const body = bodyObject(request.body);
      const permission = { user, vhost, configure: regexField(body, 'configure'), write: regexField(body, 'write'), read: regexField(body, 'read') };
      const created = await change(() => accounts.putPermission(permission), { ...permission, by: identity.username ?? 'anonymous' }, 'permissions set');
      return reply.code(created ? 201 : 204).send();
    }),
    DELETE: administratorsOnly(async (request, identity, reply) => {
      const vhost = vhostNamed(request);
      const { name } = userNamed(request);
      if (!accounts.permissionsOf((entry) => entry.user === name && entry.vhost === vhost).length) throw notFound();
      await change(() => accounts.deletePermission(name, vhost), { user: name, vhost, by: identity.username ?? 'anonymous' }, 'permissions cleared');
      return reply.code(204).send();
    }),
  });
  adminGet('/api/topic-permissions', () => topicPermissionList(accounts));
  resource('/api/topic-permissions/:vhost/:user', {
    GET: administratorsOnly((request) => {
      const vhost = vhostNamed(request);
      const { name } = userNamed(request);
      const found = topicPermissionList(accounts, (entry) => entry.user === name && entry.vhost === vhost);
      if (found.length === 0) throw notFound();
      return found;
    }),
    PUT: administratorsOnly(async (request, identity, reply) => {
      const { vhost, user } = permissionTarget(request);
      const body = bodyObject(request.body);
      const exchange = required(text(body, 'exchange'), 'exchange');
      if (exchange === '') throw badRequest('exchange must name a topic exchange');
      const topic = { user, vhost, exchange, write: regexField(body, 'write'), read: regexField(body, 'read') };
      const created = await change(() => accounts.putTopicPermission(topic), { ...topic, by: identity.username ?? 'anonymous' }, 'topic permissions set');
      return reply.code(created ? 201 : 204).send();
    }),
    DELETE: administratorsOnly(async (request, identity, reply) => {
      const vhost = vhostNamed(request);
      const { name } = userNamed(request);
      const exchange = (request.query as Record<string, string | undefined>).exchange;
      const removed = await change(() => accounts.deleteTopicPermissions(name, vhost, exchange), { user: name, vhost, exchange, by: identity.username ?? 'anonymous' }, 'topic permissions cleared');
      if (!removed) throw notFound();
      return reply.code(204).send();
    }),
  });
  adminGet('/api/vhosts/:vhost/permissions', (request) => {
    const vhost = vhostNamed(request);
    return permissionList(accounts, (entry) => entry.vhost === vhost);
  });
  adminGet('/api/vhosts/:vhost/topic-permissions', (request) => {
    const vhost = vhostNamed(request);
    return topicPermissionList(accounts, (entry) => entry.vhost === vhost);
  });
}

const HASHING_ALGORITHM_FIELD = 'hashing_algorithm';

/**
 * The user's hash: `password` hashed as RabbitMQ does by default (salted SHA-256, so that an
 * export loads into RabbitMQ), or `password_hash` with its `hashing_algorithm` as given; with
 * neither, the user's current one, or "" (cannot log in with a password) for a new user.
 */
function credentialOf(body: Body, existing: AccountUser | undefined): Pick<AccountUser, 'passwordHash' | 'hashingAlgorithm'> {
  const password = text(body, 'password');
  const hash = text(body, 'password_hash');
  if (password !== undefined && hash !== undefined) throw badRequest('give password or password_hash, not both');
  if (password !== undefined) {
    if (password === '') throw badRequest('password must not be empty; give password_hash "" for a user that cannot log in with a password');
    return { passwordHash: rabbitPasswordHash(password, 'rabbit_password_hashing_sha256'), hashingAlgorithm: 'rabbit_password_hashing_sha256' };
  }
  const algorithm = (text(body, HASHING_ALGORITHM_FIELD) ?? 'rabbit_password_hashing_sha256') as HashingAlgorithm;
  if (hash !== undefined) return { passwordHash: hash, hashingAlgorithm: algorithm };
  return existing ? { passwordHash: existing.passwordHash, hashingAlgorithm: existing.hashingAlgorithm } : { passwordHash: '', hashingAlgorithm: algorithm };
}

/** RabbitMQ 3.x sends tags as "a,b", newer ones as an array; absent keeps the user's. */
function tagsOf(body: Body, existing: AccountUser | undefined): string[] {
  const tags = body.tags;
  if (tags === undefined) return existing?.tags ?? [];
  const list = typeof tags === 'string' ? tags.split(',') : Array.isArray(tags) && tags.every((tag) => typeof tag === 'string') ? (tags as string[]) : undefined;
  if (list === undefined) throw badRequest(`tags must be a comma-separated string or an array of strings (got ${JSON.stringify(tags)})`);
  return list.map((tag) => tag.trim()).filter((tag) => tag !== '');
}

/** A permission's regex field, required as RabbitMQ requires it; compiled by the book. */
const regexField = (body: Body, field: string): string => required(text(body, field), field);
