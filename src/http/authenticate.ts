import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { FULL_ACCESS, isLoopback, type Authenticator, type Identity } from '../auth/index.js';
import { LOOPBACK_ORIGINS, originPolicy } from '../transport/index.js';
import { notAuthenticated, notAuthorised } from './errors.js';

/** The tags that let a user use the management API at all (RabbitMQ's `is_mgmt_user`). */
const MANAGEMENT_TAGS = ['management', 'policymaker', 'monitoring', 'administrator'];

/** Anonymous development access: an administrator with every vhost (docs/management.md, "Authentication"). */
const ANONYMOUS: Identity = { username: undefined, tags: new Set(['administrator']), mayUse: () => true, access: () => FULL_ACCESS, expiresAt: undefined };

const loopbackOrigin = originPolicy(LOOPBACK_ORIGINS);

/** A request as far as authentication looks at it. */
export interface Caller {
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
}

/**
 * Who is calling, from HTTP basic credentials or a bearer token, checked by the same
 * Authenticator as a client's login; throws ApiError 401 for missing or wrong credentials
 * (`not_authorized`, with WWW-Authenticate) or for a user without a management tag (`not_authorised`).
 */
export async function authenticate(caller: Caller, auth: Authenticator, logger: Logger): Promise<Identity> {
  if (auth.anonymousAllowed) return anonymous(caller);
  const header = caller.headers.authorization;
  if (header === undefined) throw notAuthenticated('no credentials: send a user name and password (HTTP basic authentication) or Authorization: Bearer <token>');
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  let outcome;
  let username: string | undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw notAuthenticated('malformed basic credentials: expected base64 of "user:password"');
    username = decoded.slice(0, colon);
    outcome = await auth.authenticateUser(username, decoded.slice(colon + 1));
  } else if (scheme === 'bearer') {
    outcome = await auth.authenticateToken(value);
  } else {
    throw notAuthenticated(`unsupported authorization scheme "${scheme}": use Basic or Bearer`);
  }
  if (!outcome.ok) {
    logger.warn({ username, address: caller.remoteAddress, reason: outcome.reason }, 'management API access refused');
    throw notAuthenticated(outcome.message);
  }
  const { identity } = outcome;
  if (!MANAGEMENT_TAGS.some((tag) => identity.tags.has(tag))) {
    logger.warn({ username: identity.username, address: caller.remoteAddress }, 'management API access refused: not a management user');
    throw notAuthorised(`Not management user: the API needs one of the tags ${MANAGEMENT_TAGS.join(', ')}`);
  }
  return identity;
}

/**
 * With no users and no token keys, requests from this machine need no credentials; a request
 * must also name this machine in its Host header and, from a browser, come from a page on it,
 * so that neither another site nor a DNS-rebound name can use the browser's loopback position.
 */
function anonymous(caller: Caller): Identity {
  if (!isLoopback(caller.remoteAddress)) {
    throw notAuthenticated('anonymous access to the management API is allowed from this machine only; configure users or auth.jwt to use it from elsewhere');
  }
  if (!isLocalHost(caller.headers.host) || !loopbackOrigin(caller.headers.origin)) {
    throw notAuthenticated('anonymous access to the management API is for pages and tools on this machine: the Host (and Origin) must be localhost, 127.0.0.1 or [::1]');
  }
  return ANONYMOUS;
}

/** Whether a Host header names this machine: localhost, 127.x.x.x or [::1], with any port. */
function isLocalHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name.toLowerCase() === 'localhost' || name === '[::1]' || (/^127\.\d+\.\d+\.\d+$/.test(name) && isLoopback(name));
}

/** Administrators and monitoring users see every vhost; others those they have permissions on (RabbitMQ's rule). */
export function seesEveryVhost(identity: Identity): boolean {
  return identity.tags.has('administrator') || identity.tags.has('monitoring');
}

export function mayView(identity: Identity, vhost: string): boolean {
  return seesEveryVhost(identity) || identity.mayUse(vhost);
}
