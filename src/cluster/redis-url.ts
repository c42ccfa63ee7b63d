import type { RedisOptions } from 'ioredis';
import { hideRedisPassword } from '../config/index.js';

/**
 * ioredis options for `cluster.redis` (docs/clustering.md): `redis://[user:password@]HOST:PORT[/DB]`
 * (also `rediss://` for TLS), or `redis+sentinel://[user:password@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]`,
 * where the nodes follow whichever server the Sentinels name as MASTER's primary.
 * Throws an Error that names what is wrong with the URL.
 */
export function redisOptions(url: string): RedisOptions {
  const match = /^(redis|rediss|redis\+sentinel):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)(?:\/([^/]*))?(?:\/([^/]*))?$/.exec(url);
  if (!match) throw new Error(`cluster.redis "${hideRedisPassword(url)}" is not a Redis URL: give redis://HOST:PORT[/DB] or redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER`);
  const [, scheme, user, password, hosts, first, second] = match;
  const credentials = { ...(user ? { username: decodeURIComponent(user) } : {}), ...(password ? { password: decodeURIComponent(password) } : {}) };
  const addresses = hosts.split(',').map((address) => hostAndPort(address, scheme === 'redis+sentinel' ? 26379 : 6379, url));
  if (scheme === 'redis+sentinel') {
    if (!first) throw new Error(`cluster.redis "${hideRedisPassword(url)}" names no master: give redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER, MASTER as in the Sentinels' "sentinel monitor"`);
    return { sentinels: addresses, name: decodeURIComponent(first), db: database(second, url), ...credentials, ...(password ? { sentinelPassword: decodeURIComponent(password) } : {}) };
  }
  if (addresses.length !== 1 || second !== undefined) throw new Error(`cluster.redis "${hideRedisPassword(url)}" must name one server and at most a database number: redis://HOST:PORT[/DB]; for several servers use redis+sentinel://`);
  return { ...addresses[0], db: database(first, url), ...credentials, ...(scheme === 'rediss' ? { tls: {} } : {}) };
}

function hostAndPort(address: string, defaultPort: number, url: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(address);
  const port = match?.[2] === undefined ? defaultPort : Number(match[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`cluster.redis "${hideRedisPassword(url)}": "${address}" is not HOST or HOST:PORT with a port from 1 to 65535`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

function database(text: string | undefined, url: string): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text)) throw new Error(`cluster.redis "${hideRedisPassword(url)}": the database "${text}" is not a number (0, 1, ...)`);
  return Number(text);
}
