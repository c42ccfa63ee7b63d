import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { pino, type Logger } from 'pino';
import { Authenticator, configUser, isLoopback, regexAccess, TokenVerifier, type User } from './auth/index.js';
import { Broker, BrokerError, systemClock, type Clock, type MessageStore } from './broker/index.js';
import type { BrokerConfig, Definitions } from './config/index.js';
import { JournalStore } from './store/index.js';
import { Transport, watchAlarms } from './transport/index.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A built broker: wired, definitions applied, not yet listening. */
export interface App {
  readonly broker: Broker;
  readonly logger: Logger;
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Graceful shutdown: refuse new sockets, close the open ones (requeueing their deliveries), close the store. */
  close(): Promise<void>;
}

export interface BuildOptions {
  logger?: Logger;
  store?: MessageStore;
  clock?: Clock;
}

/** Thrown when the config's definitions cannot be applied; the message names the definition. */
export class DefinitionsError extends Error {
  override name = 'DefinitionsError';
}

/** Wires store, broker and transport from a validated config, without listening. */
export async function buildApp(config: BrokerConfig, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? pino({ level: config.log.level });
  // The journal on disk; tests pass a MemoryStore. An open failure is an Error a person can act on.
  const store = options.store ?? (await JournalStore.open({ dataDir: config.storage.dataDir, sync: config.storage.sync, logger }));
  const { server, limits } = config;
  let broker: Broker;
  let auth: Authenticator;
  let tls: { cert: Buffer; key: Buffer } | undefined;
  try {
    tls = server.tls && readTls(server.tls);
    auth = await openAuthenticator(config);
    broker = await Broker.open(store, options.clock ?? systemClock, limits);
    applyDefinitions(broker, config.definitions);
  } catch (error) {
    // Release the data dir's lock: the broker never started.
    await store.close();
    throw error;
  }
  const transport = new Transport(
    {
      broker,
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
      allowedOrigins: server.allowedOrigins,
    },
  );
  const stopAlarms = watchAlarms(config.flow, config.storage.dataDir, logger, (reason) => transport.setAlarm(reason));
  return {
    broker,
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
      await transport.close();
      broker.shutdown();
      await store.close();
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
export async function openAuthenticator(config: BrokerConfig): Promise<Authenticator> {
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
  return new Authenticator({ users, vhosts: new Set(definitions.vhosts), tokens, anonymous: config.auth.anonymous });
}

/** Declares the definitions' exchanges, then queues, then bindings, as RabbitMQ imports them. */
export function applyDefinitions(broker: Broker, definitions: Definitions): void {
  const attempt = (path: string, declare: () => void) => {
    try {
      declare();
    } catch (error) {
      if (error instanceof BrokerError) throw new DefinitionsError(`${path}: ${error.message}`);
      throw error;
    }
  };
  definitions.exchanges.forEach((exchange, index) =>
    attempt(`definitions.exchanges[${index}] (${exchange.name})`, () =>
      broker.declareExchange(
        exchange.name,
        exchange.type,
        { durable: exchange.durable, autoDelete: exchange.autoDelete, internal: exchange.internal, arguments: exchange.arguments },
        false,
      ),
    ),
  );
  definitions.queues.forEach((queue, index) =>
    attempt(`definitions.queues[${index}] (${queue.name})`, () =>
      broker.declareQueue(null, queue.name, { durable: queue.durable, exclusive: false, autoDelete: queue.autoDelete, arguments: queue.arguments }, false),
    ),
  );
  definitions.bindings.forEach((binding, index) =>
    attempt(`definitions.bindings[${index}] (${binding.source} -> ${binding.destination})`, () => {
      if (binding.destinationType === 'queue') broker.bindQueue(null, binding.destination, binding.source, binding.routingKey, binding.arguments);
      else broker.bindExchange(binding.destination, binding.source, binding.routingKey, binding.arguments);
    }),
  );
}
