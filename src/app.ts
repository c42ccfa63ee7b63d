import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
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
  try {
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
      users: config.users,
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
          const url = `ws://${host}:${port}${config.server.path}`;
          logger.info({ host: address, port, url }, 'listening');
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
