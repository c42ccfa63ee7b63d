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
  /** Interface to listen on, `127.0.0.1` by default. */
  host: string;
  /** 0..65535, `5680` by default; 0 lets the OS pick a free port. */
  port: number;
  /** The WebSocket path, `/ws` by default. */
  path: string;
  /** Largest WebSocket message accepted (>= 1024, 1 MiB by default); a larger one closes the socket with 1009. */
  maxMessageBytes: number;
  /** Ping interval (30000 by default; 0 disables pings); a socket that has not answered the previous ping is closed. */
  heartbeatMs: number;
  /** Pushes to a socket stop while its send buffer is above this many bytes (>= 1024, 1 MiB by default). */
  highWaterBytes: number;
}

export interface StorageConfig {
  /** Where the journal lives, `./data` by default; kept as written, not resolved against the config file's folder. */
  dataDir: string;
  /** `always` (the default) syncs before a publish is confirmed; `none` gives up that guarantee for speed. */
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
