import type { FastifyRequest } from 'fastify';
import type { Identity } from '../../auth/index.js';
import type { Broker, Policy, PolicyApplyTo } from '../../broker/index.js';
import { mayView } from '../authenticate.js';
import { bodyObject, required, shortString, table, text, type Body } from '../body.js';
import { nameOf, throwNotFound, vhostOf, visible, type RouteContext } from '../context.js';
import { badRequest, notAuthorised, notFound } from '../errors.js';
import { compare } from '../views.js';

/**
 * Policies (docs/management.md, "Policies"), with RabbitMQ's rules: any management user lists the
 * policies of the vhosts it sees; reading one, setting and clearing take the `policymaker` or
 * `administrator` tag, and setting and clearing also permissions on the vhost.
 */
export function policyRoutes(context: RouteContext): void {
  const { resource, vhosts, logger } = context;

  const policiesOf = ([vhost, broker]: [string, Broker]) => Array.from(broker.allPolicies(), (policy) => policyView(policy, vhost));
  const byVhostAndName = (a: { vhost: string; name: string }, b: { vhost: string; name: string }) => compare(a.vhost, b.vhost) || compare(a.name, b.name);

  /** The vhost named in the path, for a policymaker: 404 when there is none, 401 when the caller may not. */
  const policyVhost = (request: FastifyRequest, identity: Identity, write: boolean): [string, Broker] => {
    const { vhost } = request.params as { vhost: string };
    const broker = vhosts.get(vhost);
    if (!broker) throw notFound();
    const policymaker = identity.tags.has('policymaker') || identity.tags.has('administrator');
    const reaches = write ? identity.mayUse(vhost) : mayView(identity, vhost);
    if (!policymaker || !reaches) throw notAuthorised('User not authorised to access object');
    return [vhost, broker];
  };

  resource('/api/policies', { GET: (_request, identity) => visible(vhosts, identity).flatMap(policiesOf).sort(byVhostAndName) });
  resource('/api/policies/:vhost', { GET: (request, identity) => policiesOf(vhostOf(vhosts, request, identity)).sort(byVhostAndName) });
  resource('/api/policies/:vhost/:name', {
    GET: (request, identity) => {
      const [vhost, broker] = policyVhost(request, identity, false);
      return policyView(broker.getPolicy(nameOf(request)) ?? throwNotFound(), vhost);
    },
    PUT: (request, identity, reply) => {
      const [vhost, broker] = policyVhost(request, identity, true);
      const name = shortString(nameOf(request), 'the policy name');
      const body = bodyObject(request.body);
      const replaced = broker.setPolicy({
        name,
        pattern: required(text(body, 'pattern'), 'pattern'),
        applyTo: (text(body, 'apply-to') ?? 'all') as PolicyApplyTo,
        priority: priorityOf(body),
        definition: table(body, 'definition'),
      });
      logger.info({ vhost, policy: name, user: identity.username ?? 'anonymous', definition: body.definition }, replaced ? 'policy changed' : 'policy set');
      return reply.code(replaced ? 204 : 201).send();
    },
    DELETE: (request, identity, reply) => {
      const [vhost, broker] = policyVhost(request, identity, true);
      if (!broker.deletePolicy(nameOf(request))) throw notFound();
      logger.info({ vhost, policy: nameOf(request), user: identity.username ?? 'anonymous' }, 'policy cleared');
      return reply.code(204).send();
    },
  });
}

/** RabbitMQ's JSON for a policy. */
export function policyView(policy: Policy, vhost: string) {
  const { name, pattern, applyTo, definition, priority } = policy.definition;
  return { vhost, name, pattern, 'apply-to': applyTo, definition, priority };
}

/** An integer, 0 when absent; a string of digits too, as a form would send it. */
function priorityOf(body: Body): number {
  const value = body.priority;
  if (value === undefined) return 0;
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) throw badRequest(`priority must be an integer (got ${JSON.stringify(value)})`);
  return number;
}
