import type { AccountPermission, AccountTopicPermission, AccountUser, JwtConfig } from '../auth/index.js';
import type { ExchangeOptions, ExchangeType, PolicyDefinition } from '../broker/index.js';

/** The broker's validated configuration: defaults < config file < command-line flags. */
export interface BrokerConfig {
  server: ServerConfig;
  storage: StorageConfig;
  log: { level: LogLevel };
  limits: LimitsConfig;
  flow: FlowConfig;
  /** Plain users with full permissions on vhost "/". With no users at all and no token key, anonymous access is allowed (the development default). */
  users: UserConfig[];
  auth: AuthConfig;
  definitions: Definitions;
  /** Several nodes sharing one Redis (docs/clustering.md); undefined: one node on its data dir. */
  cluster: ClusterConfig | undefined;
}

/** `cluster` of the config (docs/clustering.md). */
export interface ClusterConfig {
  /** `redis://HOST:PORT[/DB]` or `redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER`. */
  redis: string;
  /** This node's name, unique among the nodes on the same Redis. */
  node: string;
  /** A node that has not renewed its liveness in Redis for this long (10000 by default) is dead. */
  nodeTimeoutMs: number;
}

/** `auth` of the config: who may connect besides the users (docs/security.md). */
export interface AuthConfig {
  /** true: anonymous clients from anywhere; false: never; undefined (the default): from loopback only, while no user or token key exists. */
  anonymous: boolean | undefined;
  /** Token (JWT) login; undefined when not configured. Has at least one key source. */
  jwt: JwtConfig | undefined;
}

/** The log levels `log.level` and `--log-level` accept, quietest last. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object per line, for machines; `pretty`: readable lines for a person (the default on a terminal). */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

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
  /** A socket that stays above `highWaterBytes` this long (60000 by default) is closed and its deliveries requeued. */
  drainTimeoutMs: number;
  /** PEM files: with them the port serves only wss:// and https:// (docs/security.md, "Transport security"). */
  tls?: { cert: string; key: string };
  /** Origins a browser's WebSocket may come from (`*` in the host matches any part of it); unset: every origin. */
  allowedOrigins?: string[];
  /**
   * Proxies (addresses, subnets) whose X-Forwarded-For is believed: behind them a client's address
   * (for per-address limits and the loopback-only anonymous default) is the last one not of a trusted proxy.
   */
  trustedProxies?: string[];
}

/** Resource limits; each refusal is RESOURCE_ERROR naming the limit (or, for connections, a close). */
export interface LimitsConfig {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxQueues: number;
  maxExchanges: number;
  maxBindings: number;
  maxConsumersPerConnection: number;
  /** Pushes to a connection pause at this many unacknowledged deliveries; a `get` past it is refused. */
  maxUnackedPerConnection: number;
  /** RabbitMQ's consumer_timeout: a delivery unacknowledged this long cancels its consumer (30 min by default; 0 disables). */
  consumerTimeoutMs: number;
}

/** Memory and disk alarms: above either, publishers are blocked (docs/protocol.md, "Flow control and limits"). */
export interface FlowConfig {
  /** Share of V8's heap limit above which publishers are blocked (0.4 by default). */
  memoryHighWatermark: number;
  /** Free bytes on the data dir's disk below which publishers are blocked (50 MB by default). */
  diskFreeLimitBytes: number;
  /** How often memory and disk are checked (1000 ms by default). */
  checkIntervalMs: number;
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

/**
 * Topology, users and permissions to set up at start-up, from RabbitMQ's definitions format. Every
 * entry names its vhost, which is in `vhosts`.
 */
export interface Definitions {
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
  users: DefinitionUser[];
  permissions: PermissionDefinition[];
  topicPermissions: TopicPermissionDefinition[];
  /** Set before the queues and exchanges they match are declared; checked by the broker when set. */
  policies: (PolicyDefinition & { vhost: string })[];
  /** Vhost names from every `vhosts` section, without repeats; "/" is always there, and first. */
  vhosts: string[];
}

/** A RabbitMQ definitions user; its hash was checked to be well-formed for its algorithm. */
export type DefinitionUser = AccountUser;

/** RabbitMQ permissions of one (user, vhost): three regexes, each checked to compile. */
export type PermissionDefinition = AccountPermission;

/** RabbitMQ topic permissions of one (user, vhost, exchange). */
export type TopicPermissionDefinition = AccountTopicPermission;

export interface ExchangeDefinition extends ExchangeOptions {
  name: string;
  /** "/" when the definitions leave it out. */
  vhost: string;
  type: ExchangeType;
}

export interface QueueDefinition {
  name: string;
  /** "/" when the definitions leave it out. */
  vhost: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export interface BindingDefinition {
  source: string;
  /** "/" when the definitions leave it out; source and destination are both in it. */
  vhost: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: Record<string, unknown>;
}
