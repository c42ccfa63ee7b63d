import proxyaddr from '@fastify/proxy-addr';
import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import { HASHING_ALGORITHMS, type HashingAlgorithm } from '../auth/index.js';
import { EXCHANGE_TYPES, type ExchangeType } from '../broker/index.js';
import { LOG_LEVELS, type FlowConfig, type LimitsConfig, type LogLevel, type ServerConfig, type StorageConfig, type UserConfig } from './types.js';

/**
 * The schema of a queue's `type` and `arguments["x-queue-type"]`. The error formatter recognises it
 * by identity and names the types Warren has, instead of ajv's "must be equal to one of".
 */
export const QUEUE_TYPE_SCHEMA: SchemaObject = { type: 'string', enum: ['classic', 'quorum', 'stream'] };

/**
 * The schema of `auth.jwt.secret`, recognised by identity: its messages give the length, never the
 * value, so that a refused secret does not end up in a log.
 */
export const SECRET_SCHEMA: SchemaObject = { type: 'string', format: 'jwt-secret' };

/** HS256 keys shorter than the hash output are refused (RFC 7518, section 3.2: at least 256 bits). */
export const MIN_SECRET_BYTES = 32;

/** A queue as RabbitMQ exports it; absent fields take the protocol's declare defaults. */
export interface RawQueue {
  name: string;
  vhost?: string;
  type?: 'classic' | 'quorum' | 'stream';
  durable?: boolean;
  auto_delete?: boolean;
  arguments?: Record<string, unknown> | [];
}

/** An exchange as RabbitMQ exports it (`rabbitmqctl export_definitions` omits `internal`). */
export interface RawExchange {
  name: string;
  vhost?: string;
  type: ExchangeType;
  durable?: boolean;
  auto_delete?: boolean;
  internal?: boolean;
  arguments?: Record<string, unknown> | [];
}

/** A binding as RabbitMQ exports it. */
export interface RawBinding {
  source: string;
  vhost?: string;
  destination: string;
  destination_type?: 'queue' | 'exchange';
  routing_key?: string;
  arguments?: Record<string, unknown> | [];
}

/** A user as RabbitMQ exports it: `tags` is a comma-separated string in 3.x and an array from 3.11/4.x on. */
export interface RawUser {
  name: string;
  password_hash: string;
  hashing_algorithm?: HashingAlgorithm;
  tags?: string | string[];
  [key: string]: unknown;
}

/** A vhost as RabbitMQ exports it (newer versions add `description`, `tags`, `metadata`, `default_queue_type`, `limits`). */
export interface RawVhost {
  name: string;
  [key: string]: unknown;
}

/** Permissions of one (user, vhost) as RabbitMQ exports them. */
export interface RawPermission {
  user: string;
  vhost?: string;
  configure: string;
  write: string;
  read: string;
  [key: string]: unknown;
}

/** Topic permissions of one (user, vhost, exchange) as RabbitMQ exports them. */
export interface RawTopicPermission {
  user: string;
  vhost?: string;
  exchange: string;
  write: string;
  read: string;
  [key: string]: unknown;
}

/** A policy as RabbitMQ exports it; its keys are checked by the broker when it is set. */
export interface RawPolicy {
  vhost?: string;
  name: string;
  pattern: string;
  'apply-to'?: string;
  definition: Record<string, unknown>;
  priority?: number;
}

/** A RabbitMQ definitions export after validation; the sections Warren ignores are kept only to warn about them. */
export interface RawDefinitions {
  users?: RawUser[];
  vhosts?: RawVhost[];
  permissions?: RawPermission[];
  topic_permissions?: RawTopicPermission[];
  policies?: RawPolicy[];
  parameters?: object[];
  queues?: RawQueue[];
  exchanges?: RawExchange[];
  bindings?: RawBinding[];
  [key: string]: unknown;
}

/** `config/broker.json` after validation: every section and field optional. */
export interface RawConfigFile {
  server?: Partial<ServerConfig>;
  storage?: Partial<StorageConfig>;
  log?: { level?: LogLevel };
  limits?: Partial<LimitsConfig>;
  flow?: Partial<FlowConfig>;
  users?: UserConfig[];
  auth?: RawAuth;
  definitions?: RawDefinitions;
  cluster?: { redis: string; node: string; nodeTimeoutMs?: number };
}

/** `auth` of the config file after validation; the key-source rule (at least one) is checked by the loader. */
export interface RawAuth {
  anonymous?: boolean;
  jwt?: {
    secret?: string;
    publicKeys?: string[];
    jwksUrl?: string;
    jwksFile?: string;
    audience?: string;
    issuer?: string;
    scopePrefix?: string;
    clockToleranceSec?: number;
  };
}

/** The command-line overrides, checked with the same field schemas as the file. */
export interface RawOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  logLevel?: LogLevel;
  tlsCert?: string;
  tlsKey?: string;
}

/** The top-level keys of a RabbitMQ definitions export (3.x to 4.x, `rabbitmqctl` and the management API). */
export const DEFINITIONS_KEYS: readonly string[] = [
  'rabbit_version',
  'rabbitmq_version',
  'product_name',
  'product_version',
  'rabbitmq_definition_format',
  'original_cluster_name',
  'explanation',
  'users',
  'vhosts',
  'permissions',
  'topic_permissions',
  'parameters',
  'global_parameters',
  'policies',
  'queues',
  'exchanges',
  'bindings',
];

// Byte limits come from docs/protocol.md, "Requests and replies"; checking them here lets a bad name
// be reported with its JSON path instead of failing later in the broker.
const MAX_NAME_BYTES = 255;
const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

const bool: SchemaObject = { type: 'boolean', description: 'true or false' };
const nonEmpty = (description: string): SchemaObject => ({ type: 'string', minLength: 1, description });
const integer = (minimum: number, description: string, maximum?: number): SchemaObject =>
  maximum === undefined ? { type: 'integer', minimum, description } : { type: 'integer', minimum, maximum, description };
const oneOf = (values: readonly string[]): SchemaObject => ({ type: 'string', enum: values, description: `one of ${values.join(', ')}` });
const closed = (properties: Record<string, SchemaObject>, required: string[] = []): SchemaObject =>
  required.length > 0
    ? { type: 'object', properties, required, additionalProperties: false }
    : { type: 'object', properties, additionalProperties: false };

// Old exports wrote an empty argument table as [] (RabbitMQ's own import accepts it), so an empty array is allowed.
const argumentsTable = (properties?: Record<string, SchemaObject>): SchemaObject => ({
  type: ['object', 'array'],
  maxItems: 0,
  description: 'an object',
  ...(properties ? { properties } : {}),
});

// Sections Warren does not apply: their entries keep whatever keys RabbitMQ gives them.
const ignoredList: SchemaObject = { type: 'array', items: { type: 'object' }, description: 'an array of objects' };
const text: SchemaObject = { type: 'string', description: 'a string' };

const HOST = nonEmpty('a non-empty host name or IP address');
const PORT = integer(0, 'an integer from 0 to 65535', 65535);
const DATA_DIR = nonEmpty('a non-empty directory path');
const LOG_LEVEL = oneOf(LOG_LEVELS);

const SERVER = closed({
  host: HOST,
  port: PORT,
  path: { type: 'string', pattern: '^/', description: 'a path starting with "/"' },
  maxMessageBytes: integer(1024, 'an integer >= 1024 (bytes)'),
  heartbeatMs: integer(0, 'an integer >= 0 (milliseconds; 0 disables pings)'),
  highWaterBytes: integer(1024, 'an integer >= 1024 (bytes)'),
  drainTimeoutMs: integer(100, 'an integer >= 100 (milliseconds)'),
  tls: closed({ cert: nonEmpty('a non-empty path of a PEM certificate file'), key: nonEmpty('a non-empty path of a PEM private key file') }, ['cert', 'key']),
  allowedOrigins: {
    type: 'array',
    items: { type: 'string', format: 'origin', description: 'an origin such as "https://app.example.com" or "https://*.example.com"' },
    description: 'an array of origins',
  },
  trustedProxies: {
    type: 'array',
    items: { type: 'string', format: 'proxy-address', description: 'an IP address or subnet such as "10.0.0.5" or "10.0.0.0/8", or "loopback"' },
    description: 'an array of proxy addresses',
  },
});

const count = integer(1, 'an integer >= 1');
const LIMITS = closed({
  maxConnections: count,
  maxConnectionsPerAddress: count,
  maxQueues: count,
  maxExchanges: count,
  maxBindings: count,
  maxConsumersPerConnection: count,
  maxUnackedPerConnection: count,
  consumerTimeoutMs: integer(0, 'an integer >= 0 (milliseconds; 0 disables the timeout)'),
});

const FLOW = closed({
  memoryHighWatermark: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'a number above 0 and at most 1 (a share of the heap limit)' },
  diskFreeLimitBytes: integer(0, 'an integer >= 0 (bytes)'),
  checkIntervalMs: integer(10, 'an integer >= 10 (milliseconds)'),
});

const STORAGE = closed({ dataDir: DATA_DIR, sync: oneOf(['always', 'none']) });

const LOG = closed({ level: LOG_LEVEL });

const CLUSTER = closed(
  {
    redis: { type: 'string', format: 'redis-url', description: 'a Redis URL: redis://HOST:PORT[/DB] or redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER' },
    node: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'a node name of 1 to 64 letters, digits, ".", "_" or "-"' },
    nodeTimeoutMs: integer(300, 'an integer >= 300 (milliseconds)'),
  },
  ['redis', 'node'],
);

const USERS: SchemaObject = {
  type: 'array',
  description: 'an array of users',
  items: closed({ username: nonEmpty('a non-empty string'), password: nonEmpty('a non-empty string') }, ['username', 'password']),
};

const JWT = closed({
  secret: SECRET_SCHEMA,
  publicKeys: {
    type: 'array',
    minItems: 1,
    description: 'a non-empty array of PEM public keys or certificates',
    items: { type: 'string', pattern: '^\\s*-----BEGIN [A-Z0-9 ]+-----', description: 'a PEM string starting with "-----BEGIN PUBLIC KEY-----" or "-----BEGIN CERTIFICATE-----"' },
  },
  jwksUrl: { type: 'string', format: 'http-url', description: 'an https: URL (http: only on localhost)' },
  jwksFile: nonEmpty('a non-empty file path'),
  audience: nonEmpty('a non-empty string'),
  issuer: nonEmpty('a non-empty string'),
  scopePrefix: text,
  clockToleranceSec: integer(0, 'an integer from 0 to 3600 (seconds)', 3600),
});

/** The JWT fields that name where the verification keys come from; `auth.jwt` needs at least one. */
export const JWT_KEY_SOURCES: readonly string[] = ['secret', 'publicKeys', 'jwksUrl', 'jwksFile'];

const AUTH = closed({ anonymous: bool, jwt: JWT });

// Definitions entries below are open: newer RabbitMQ versions add fields (limits, metadata, ...), which are ignored.
const open = (properties: Record<string, SchemaObject>, required: string[]): SchemaObject => ({ type: 'object', properties, required });
const listOf = (items: SchemaObject, description: string): SchemaObject => ({ type: 'array', items, description });
const regex: SchemaObject = { type: 'string', description: 'a regular expression string ("" matches nothing)' };

const DEFINITION_USER = open(
  {
    name: nonEmpty('a non-empty string'),
    password_hash: { type: 'string', description: 'a string (base64 hash, or "" for a user who cannot log in with a password)' },
    hashing_algorithm: oneOf(HASHING_ALGORITHMS),
    tags: {
      type: ['string', 'array'],
      items: { type: 'string', description: 'a string' },
      description: 'a comma-separated string or an array of strings',
    },
  },
  ['name', 'password_hash'],
);

// Any vhost name; that each one used is defined in some `vhosts` section is checked by definitionsProblems.
const VHOST_NAME: SchemaObject = { type: 'string', format: 'vhost-name', description: 'a vhost name of 1 to 255 UTF-8 bytes' };

const VHOST = open({ name: VHOST_NAME }, ['name']);

const PERMISSION = open({ user: nonEmpty('a non-empty user name'), vhost: VHOST_NAME, configure: regex, write: regex, read: regex }, [
  'user',
  'configure',
  'write',
  'read',
]);

const TOPIC_PERMISSION = open(
  { user: nonEmpty('a non-empty user name'), vhost: VHOST_NAME, exchange: nonEmpty('a non-empty exchange name'), write: regex, read: regex },
  ['user', 'exchange', 'write', 'read'],
);

const POLICY = open(
  {
    vhost: VHOST_NAME,
    name: nonEmpty('a non-empty policy name'),
    pattern: text,
    'apply-to': text,
    definition: { type: 'object', description: 'an object of policy keys' },
    priority: { type: 'integer', description: 'an integer' },
  },
  ['name', 'pattern', 'definition'],
);

const QUEUE = closed(
  {
    name: { type: 'string', format: 'declarable-name', description: 'a name of 1 to 255 UTF-8 bytes not starting with "amq." (reserved)' },
    vhost: VHOST_NAME,
    type: QUEUE_TYPE_SCHEMA,
    durable: bool,
    auto_delete: bool,
    arguments: argumentsTable({ 'x-queue-type': QUEUE_TYPE_SCHEMA }),
  },
  ['name'],
);

const EXCHANGE = closed(
  {
    name: { type: 'string', format: 'declarable-name', description: 'a name of 1 to 255 UTF-8 bytes not starting with "amq." (reserved)' },
    vhost: VHOST_NAME,
    type: oneOf(EXCHANGE_TYPES),
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: argumentsTable(),
  },
  ['name', 'type'],
);

const BINDING = closed(
  {
    source: { type: 'string', format: 'bound-name', description: 'an exchange name of 1 to 255 UTF-8 bytes (the default exchange "" cannot be bound)' },
    vhost: VHOST_NAME,
    destination: { type: 'string', format: 'bound-name', description: 'a name of 1 to 255 UTF-8 bytes' },
    destination_type: oneOf(['queue', 'exchange']),
    routing_key: { type: 'string', format: 'routing-key', description: 'a string of at most 255 UTF-8 bytes' },
    arguments: argumentsTable(),
  },
  ['source', 'destination'],
);

// Open at the top level: newer RabbitMQ versions add metadata keys, so unknown ones are warned about, not refused.
const DEFINITIONS: SchemaObject = {
  type: 'object',
  description: 'an object in RabbitMQ definitions format',
  properties: {
    rabbit_version: text,
    rabbitmq_version: text,
    product_name: text,
    product_version: text,
    rabbitmq_definition_format: text,
    original_cluster_name: text,
    explanation: text,
    users: listOf(DEFINITION_USER, 'an array of users'),
    vhosts: listOf(VHOST, 'an array of vhosts'),
    permissions: listOf(PERMISSION, 'an array of permissions'),
    topic_permissions: listOf(TOPIC_PERMISSION, 'an array of topic permissions'),
    parameters: ignoredList,
    global_parameters: ignoredList,
    policies: listOf(POLICY, 'an array of policies'),
    queues: { type: 'array', items: QUEUE, description: 'an array of queues' },
    exchanges: { type: 'array', items: EXCHANGE, description: 'an array of exchanges' },
    bindings: { type: 'array', items: BINDING, description: 'an array of bindings' },
  },
};

const CONFIG_FILE = closed({ server: SERVER, storage: STORAGE, log: LOG, limits: LIMITS, flow: FLOW, users: USERS, auth: AUTH, definitions: DEFINITIONS, cluster: CLUSTER });

const OVERRIDES = closed({
  host: HOST,
  port: PORT,
  dataDir: DATA_DIR,
  logLevel: LOG_LEVEL,
  tlsCert: nonEmpty('a non-empty path of a PEM certificate file'),
  tlsKey: nonEmpty('a non-empty path of a PEM private key file'),
});

// One Ajv instance, every validator compiled once at start-up (verbose: errors carry data and schema for the messages).
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
ajv.addFormat('declarable-name', {
  type: 'string',
  validate: (s: string) => s.length > 0 && byteLength(s) <= MAX_NAME_BYTES && !s.startsWith('amq.'),
});
// scheme://host[:port], `*` allowed in the host; no path, as browsers send an Origin.
ajv.addFormat('origin', { type: 'string', validate: (s: string) => /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i.test(s) });
const isShortName = (s: string): boolean => s.length > 0 && byteLength(s) <= MAX_NAME_BYTES;
ajv.addFormat('bound-name', { type: 'string', validate: isShortName });
ajv.addFormat('vhost-name', { type: 'string', validate: isShortName });
ajv.addFormat('jwt-secret', { type: 'string', validate: (s: string) => byteLength(s) >= MIN_SECRET_BYTES });
ajv.addFormat('http-url', { type: 'string', validate: isHttpUrl });
ajv.addFormat('proxy-address', { type: 'string', validate: isProxyAddress });
/** A Redis URL with its password hidden: from "://" to the last "@", all but the user name. */
export const hideRedisPassword = (url: string): string => url.replace(/^([a-z+]*:\/\/)([^:@]*)(:[^]*)?@/i, (_, scheme: string, user: string) => `${scheme}${user}:***@`);
ajv.addFormat('redis-url', { type: 'string', validate: (s: string) => /^(redis|rediss|redis\+sentinel):\/\/[^/\s]+(\/[^/\s]*){0,2}$/.test(s) });
ajv.addFormat('routing-key', { type: 'string', validate: (s: string) => byteLength(s) <= MAX_NAME_BYTES });

/** https:, or http: on this machine only: signing keys fetched over plain http could be swapped on the way. */
function isHttpUrl(s: string): boolean {
  try {
    const url = new URL(s);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}

/** Validates a parsed `config/broker.json`. */
export const validateConfigFile: ValidateFunction<RawConfigFile> = ajv.compile<RawConfigFile>(CONFIG_FILE);
/** Validates a parsed bare RabbitMQ definitions export. */
export const validateDefinitionsFile: ValidateFunction<RawDefinitions> = ajv.compile<RawDefinitions>(DEFINITIONS);
/** Validates the command-line overrides. */
export const validateOverrides: ValidateFunction<RawOverrides> = ajv.compile<RawOverrides>(OVERRIDES);

/** What proxy-addr takes for a trusted proxy: an address, a subnet, or one of its names ("loopback", ...). */
function isProxyAddress(text: string): boolean {
  try {
    proxyaddr.compile(text);
    return true;
  } catch {
    return false;
  }
}
