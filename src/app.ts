import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { pino, type Logger } from 'pino';
import { Authenticator, configUser, DEFAULT_VHOST, isLoopback, rabbitPasswordHash, regexAccess, TokenVerifier, type User } from './auth/index.js';
import { BrokerError, systemClock, VirtualHosts, type Broker, type Clock, type VhostStores } from './broker/index.js';
import type { BrokerConfig, Definitions } from './config/index.js';
import { openManagementApi, type Accounts, type ManagementApi } from './http/index.js';
import { VhostJournals } from './store/index.js';
import { LOOPBACK_ORIGINS, Transport, watchAlarms } from './transport/index.js';
import { VERSION } from './version.js';

export { VERSION };

/** A built broker: wired, definitions applied, not yet listening. */
export interface App {
  readonly vhosts: VirtualHosts;
  readonly logger: Logger;
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Graceful shutdown: refuse new sockets, close the open ones (requeueing their deliveries), close the stores. */
  close(): Promise<void>;
}

export interface BuildOptions {
  logger?: Logger;
  /** The vhosts' stores: the journals in the data dir unless given (tests pass MemoryVhostStores). */
  stores?: VhostStores;
  clock?: Clock;
}

/** Thrown when the config's definitions cannot be applied; the message names the definition. */
export class DefinitionsError extends Error {
  override name = 'DefinitionsError';
}

/** Wires stores, vhosts, transport and the management API from a validated config, without listening. */
export async function buildApp(config: BrokerConfig, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? pino({ level: config.log.level });
  const { server, limits } = config;
  const tls = server.tls && readTls(server.tls);
  // An open failure is an Error a person can act on; a failed VirtualHosts.open closes the stores.
  const stores = options.stores ?? (await VhostJournals.open({ dataDir: config.storage.dataDir, sync: config.storage.sync, logger }));
  const vhosts = await VirtualHosts.open(stores, options.clock ?? systemClock, limits);
  let auth: Authenticator;
  try {
    for (const name of config.definitions.vhosts) await vhosts.add(name);
    auth = await openAuthenticator(config, vhosts);
    applyDefinitions(vhosts, config.definitions);
  } catch (error) {
    // Release the data dir's lock: the broker never started.
    await vhosts.close();
    throw error;
  }
  const transport = new Transport(
    {
      vhosts,
      auth,
      highWaterBytes: server.highWaterBytes,
      drainTimeoutMs: server.drainTimeoutMs,
      flow: { alarm: null },
      serverVersion: VERSION,
      logger,
    },
    {
      path: server.path,
      maxMessageBytes: server.maxMessageBytes,
      heartbeatMs: server.heartbeatMs,
      maxConnections: limits.maxConnections,
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
      tls,
      // docs/security.md, "Transport security": anonymous development access is for pages on this machine only.
      allowedOrigins: server.allowedOrigins ?? (auth.anonymousAllowed && config.auth.anonymous !== true ? LOOPBACK_ORIGINS : undefined),
    },
  );
  let management: ManagementApi;
  try {
    management = await openManagementApi({ vhosts, auth, transport, version: VERSION, logger, accounts: accountsOf(config) });
  } catch (error) {
    await vhosts.close();
    throw error;
  }
  const stopAlarms = watchAlarms(config.flow, config.storage.dataDir, logger, (reason) => transport.setAlarm(reason));
  return {
    vhosts,
    logger,
    listen: () =>
      new Promise((resolve, reject) => {
        transport.httpServer.once('error', reject);
        transport.httpServer.listen(config.server.port, config.server.host, () => {
          const { address, port } = transport.httpServer.address() as AddressInfo;
          const host = address.includes(':') ? `[${address}]` : address;
          const url = `${tls ? 'wss' : 'ws'}://${host}:${port}${config.server.path}`;
          logger.info({ host: address, port, url }, 'listening');
          if (auth.anonymousAllowed && !isLoopback(address)) {
            if (config.auth.anonymous === true) logger.warn({ host: address }, 'anonymous access from any address (auth.anonymous is true): anyone who reaches this port can read and write every queue');
            else logger.warn({ host: address }, 'no users or tokens are configured: clients from other machines will be refused; configure users or auth.jwt, or set auth.anonymous');
          }
          resolve({ host: address, port, url });
        });
      }),
    close: async () => {
      stopAlarms();
      await management.close();
      await transport.close();
      vhosts.shutdown();
      await vhosts.close();
    },
  };
}

/** The certificate and key files, checked to work together now rather than at the first client. */
function readTls(paths: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string, key: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} "${path}" (${key}): ${(error as Error).message}`, { cause: error });
    }
  };
  const tls = { cert: read(paths.cert, 'certificate', 'server.tls.cert or --tls-cert'), key: read(paths.key, 'private key', 'server.tls.key or --tls-key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new Error(
      `the TLS certificate "${paths.cert}" and key "${paths.key}" cannot be used: ${(error as Error).message}; give a PEM certificate and the PEM private key that belongs to it`,
      { cause: error },
    );
  }
  return tls;
}

/**
 * Who may connect: the config's `users` (full access to "/"), the definitions' users with their
 * permissions (each regex compiled once, here), and tokens when `auth.jwt` is set.
 */
export async function openAuthenticator(config: BrokerConfig, vhosts: { has(name: string): boolean }): Promise<Authenticator> {
  const { definitions } = config;
  const definitionUsers = definitions.users.map(
    (user): User => ({
      name: user.name,
      tags: user.tags,
      credential: { kind: 'hash', hash: user.passwordHash, algorithm: user.hashingAlgorithm },
      vhosts: new Map(
        definitions.permissions
          .filter((permission) => permission.user === user.name)
          .map((permission) => {
            const topics = definitions.topicPermissions.filter((topic) => topic.user === user.name && topic.vhost === permission.vhost);
            return [permission.vhost, regexAccess(permission, topics, { username: user.name, vhost: permission.vhost })];
          }),
      ),
    }),
  );
  const users = [...config.users.map((user) => configUser(user.username, user.password)), ...definitionUsers];
  const tokens = config.auth.jwt === undefined ? undefined : await TokenVerifier.create(config.auth.jwt);
  return new Authenticator({ users, vhosts, tokens, anonymous: config.auth.anonymous });
}

/**
 * The users and permissions as plain data for the management API's exports: the definitions'
 * entries as given, and each of the config's plain `users` as a RabbitMQ SHA-256 hash made now
 * (never its password), an administrator with full permissions on "/".
 */
export function accountsOf(config: BrokerConfig): Accounts {
  const { definitions } = config;
  return {
    users: [
      ...config.users.map((user) => ({
        name: user.username,
        passwordHash: rabbitPasswordHash(user.password, 'rabbit_password_hashing_sha256'),
        hashingAlgorithm: 'rabbit_password_hashing_sha256' as const,
        tags: ['administrator'],
      })),
      ...definitions.users,
    ],
    permissions: [...config.users.map((user) => ({ user: user.username, vhost: DEFAULT_VHOST, configure: '.*', write: '.*', read: '.*' })), ...definitions.permissions],
    topicPermissions: definitions.topicPermissions,
  };
}

/** Sets the definitions' policies, then declares their exchanges, queues and bindings, each in its vhost, as RabbitMQ imports them. */
export function applyDefinitions(vhosts: VirtualHosts, definitions: Definitions): void {
  const attempt = (path: string, vhost: string, declare: (broker: Broker) => void) => {
    const broker = vhosts.get(vhost);
    if (!broker) throw new DefinitionsError(`${path}: vhost ${JSON.stringify(vhost)} does not exist`);
    try {
      declare(broker);
    } catch (error) {
      if (error instanceof BrokerError) throw new DefinitionsError(`${path}: ${error.message}`);
      throw error;
    }
  };
  definitions.policies.forEach(({ vhost, ...policy }, index) =>
    attempt(`definitions.policies[${index}] (${policy.name})`, vhost, (broker) => broker.setPolicy(policy)),
  );
  definitions.exchanges.forEach((exchange, index) =>
    attempt(`definitions.exchanges[${index}] (${exchange.name})`, exchange.vhost, (broker) =>
      broker.declareExchange(
        exchange.name,
        exchange.type,
        { durable: exchange.durable, autoDelete: exchange.autoDelete, internal: exchange.internal, arguments: exchange.arguments },
        false,
      ),
    ),
  );
  definitions.queues.forEach((queue, index) =>
    attempt(`definitions.queues[${index}] (${queue.name})`, queue.vhost, (broker) =>
      broker.declareQueue(null, queue.name, { durable: queue.durable, exclusive: false, autoDelete: queue.autoDelete, arguments: queue.arguments }, false),
    ),
  );
  definitions.bindings.forEach((binding, index) =>
    attempt(`definitions.bindings[${index}] (${binding.source} -> ${binding.destination})`, binding.vhost, (broker) => {
      if (binding.destinationType === 'queue') broker.bindQueue(null, binding.destination, binding.source, binding.routingKey, binding.arguments);
      else broker.bindExchange(binding.destination, binding.source, binding.routingKey, binding.arguments);
    }),
  );
}
