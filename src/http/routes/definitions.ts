import type { FastifyRequest } from 'fastify';
import type { Broker } from '../../broker/index.js';
import { applyDefinitions, ConfigError, DefinitionsError, parseDefinitions } from '../../config/index.js';
import { bodyObject } from '../body.js';
import { administratorsOnly, type RouteContext } from '../context.js';
import { permissionList, topicPermissionList, topology, userList } from '../definitions.js';
import { badRequest, notFound } from '../errors.js';
import { compare } from '../views.js';

/** The sections of a definitions document that belong to one vhost: what a per-vhost import takes. */
const VHOST_SECTIONS = ['policies', 'queues', 'exchanges', 'bindings'];

/** Definitions: the export, whole or per vhost, and the import that merges (administrators only). */
export function definitionRoutes(context: RouteContext): void {
  const { resource, vhosts, accounts, saveAccounts, version, logger } = context;

  /** The header of a definitions export: whose and which version. */
  const exportHeader = () => ({ rabbit_version: version, rabbitmq_version: version, product_name: 'Warren', product_version: version });
  const vhostNamed = (request: FastifyRequest): [string, Broker] => {
    const { vhost } = request.params as { vhost: string };
    const broker = vhosts.get(vhost) ?? null;
    if (!broker) throw notFound();
    return [vhost, broker];
  };

  /**
   * Validates the document as a definitions file is validated, checks every entry against what
   * exists, then applies it all or nothing of it (docs/management.md, "Importing definitions").
   */
  const importDefinitions = async (document: Record<string, unknown>, by: string | undefined): Promise<void> => {
    const label = 'the request body';
    try {
      const known = { knownUsers: new Set(accounts.snapshot().users.map((user) => user.name)), knownVhosts: new Set(vhosts.names()) };
      const { definitions, warnings, notices } = parseDefinitions(document, { label, ...known });
      await applyDefinitions({ vhosts, accounts }, definitions, `${label}: `);
      for (const warning of warnings) logger.warn(warning);
      for (const notice of notices) logger.info(notice);
      const counts = Object.fromEntries(Object.entries(definitions).map(([section, entries]) => [section, (entries as unknown[]).length]));
      logger.info({ ...counts, by: by ?? 'anonymous' }, 'definitions imported');
    } catch (error) {
      if (error instanceof ConfigError || error instanceof DefinitionsError) throw badRequest(error.problems.join('\n'));
      throw error;
    }
    await saveAccounts();
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
    POST: administratorsOnly(async (request, identity, reply) => {
      await importDefinitions(bodyObject(request.body), identity.username);
      return reply.code(204).send();
    }),
  });
  resource('/api/definitions/:vhost', {
    GET: administratorsOnly((request) => {
      const [vhost, broker] = vhostNamed(request);
      const { policies, queues, exchanges, bindings } = topology(broker, vhost, false);
      return { ...exportHeader(), parameters: [], policies, queues, exchanges, bindings };
    }),
    /** As RabbitMQ: every entry goes into the path's vhost, whatever its own `vhost` says; users, vhosts and permissions are not taken. */
    POST: administratorsOnly(async (request, identity, reply) => {
      const [vhost] = vhostNamed(request);
      const body = bodyObject(request.body);
      const document: Record<string, unknown> = {};
      for (const section of VHOST_SECTIONS) {
        const entries = body[section];
        if (entries === undefined) continue;
        document[section] = Array.isArray(entries) ? entries.map((entry: unknown) => (entry !== null && typeof entry === 'object' ? { ...entry, vhost } : entry)) : entries;
      }
      await importDefinitions(document, identity.username);
      return reply.code(204).send();
    }),
  });
}
