/** The broker's validated configuration: defaults < config file < command-line flags. */
export interface BrokerConfig {
  server: ServerConfig;
  storage: StorageConfig;
  log: { level: LogLevel };
  /** With no users, anonymous access is allowed (the development default). */
  users: UserConfig[];
  definitions: Definitions;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerConfig {
  host: string;
  port: number;
  /** The WebSocket path, `/ws` by default. */
  path: string;
  /** Largest WebSocket message accepted; a larger one closes the socket with 1009. */
  maxMessageBytes: number;
  /** Ping interval; a socket that has not answered the previous ping is closed. */
  heartbeatMs: number;
  /** Pushes to a socket stop while its send buffer is above this many bytes. */
  highWaterBytes: number;
}

export interface StorageConfig {
  dataDir: string;
  sync: 'always' | 'none';
}

export interface UserConfig {
  username: string;
  password: string;
}

/** Topology to declare at start-up, from RabbitMQ's definitions format (vhost `/` only). */
export interface Definitions {
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
}

export interface ExchangeDefinition {
  name: string;
  type: 'direct' | 'fanout' | 'topic' | 'headers';
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

export interface QueueDefinition {
  name: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export interface BindingDefinition {
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: Record<string, unknown>;
}
