import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { ConfigError, loadConfig, type LoadConfigOptions } from '../../src/config/index.js';

const SHIPPED = fileURLToPath(new URL('../../config/broker.json', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` (JSON-encoded unless a string) into the temp dir and returns its path. */
function write(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

function configError(options: LoadConfigOptions): ConfigError {
  try {
    loadConfig(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

/** A full `rabbitmqctl export_definitions` / management API export, as RabbitMQ 3.13 writes it. */
const RABBITMQ_EXPORT = {
  rabbit_version: '3.13.7',
  rabbitmq_version: '3.13.7',
  product_name: 'RabbitMQ',
  product_version: '3.13.7',
  rabbitmq_definition_format: 'cluster',
  original_cluster_name: 'rabbit@mq-1',
  explanation: "Definitions of cluster 'rabbit@mq-1'",
  users: [
    {
      name: 'guest',
      password_hash: 'fIkEZt6PCkcBXHIEpaG4GEeW/WDN9iHQJKS23eCX6v8vrvnQ',
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: ['administrator'],
      limits: {},
    },
  ],
  vhosts: [{ name: '/', description: 'Default virtual host', tags: [], metadata: { description: 'Default virtual host', tags: [] }, default_queue_type: 'classic' }],
  permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
  topic_permissions: [{ user: 'guest', vhost: '/', exchange: 'orders', write: '.*', read: '.*' }],
  parameters: [{ vhost: '/', component: 'shovel', name: 'move', value: { 'src-queue': 'a', 'dest-queue': 'b' } }],
  global_parameters: [{ name: 'cluster_name', value: 'rabbit@mq-1' }],
  policies: [{ vhost: '/', name: 'ttl', pattern: '^orders', 'apply-to': 'queues', definition: { 'message-ttl': 60000 }, priority: 0 }],
  queues: [
    { name: 'orders.created', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic', 'x-max-length': 1000 } },
    { name: 'orders.audit', vhost: '/', type: 'classic', durable: false, auto_delete: true, arguments: {} },
  ],
  exchanges: [
    { name: 'orders', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: { 'alternate-exchange': 'orders.unrouted' } },
    // rabbitmqctl's export has no `internal` key.
    { name: 'orders.unrouted', vhost: '/', type: 'fanout', durable: true, auto_delete: false, arguments: {} },
  ],
  bindings: [
    { source: 'orders', vhost: '/', destination: 'orders.created', destination_type: 'queue', routing_key: 'order.created.#', arguments: {} },
    { source: 'orders', vhost: '/', destination: 'orders.audit', destination_type: 'queue', routing_key: '#', arguments: [] },
  ],
};

test('config - defaults apply when no file is given', () => {
  const { config, warnings } = loadConfig({});
  expect(config).toEqual({
    server: { host: '127.0.0.1', port: 5680, path: '/ws', maxMessageBytes: 1048576, heartbeatMs: 30000, highWaterBytes: 262144, drainTimeoutMs: 60000 },
    storage: { dataDir: './data', sync: 'always' },
    log: { level: 'info' },
    limits: {
      maxConnections: 65536,
      maxConnectionsPerAddress: 16384,
      maxQueues: 100000,
      maxExchanges: 10000,
      maxBindings: 1000000,
      maxConsumersPerConnection: 1000,
      maxUnackedPerConnection: 100000,
      consumerTimeoutMs: 1800000,
    },
    flow: { memoryHighWatermark: 0.4, diskFreeLimitBytes: 50000000, checkIntervalMs: 1000 },
    users: [],
    auth: { anonymous: undefined, jwt: undefined },
    definitions: { exchanges: [], queues: [], bindings: [], users: [], permissions: [], topicPermissions: [], policies: [], vhosts: ['/'] },
  });
  expect(warnings).toEqual([]);
});

test('config - each load returns its own objects', () => {
  const first = loadConfig({}).config;
  first.users.push({ username: 'x', password: 'y' });
  first.server.port = 1;
  expect(loadConfig({}).config.users).toEqual([]);
  expect(loadConfig({}).config.server.port).toBe(5680);
});

test('config - the file overrides the defaults field by field', () => {
  const file = write('broker.json', {
    server: { port: 6000, heartbeatMs: 0 },
    storage: { sync: 'none' },
    log: { level: 'debug' },
    users: [{ username: 'alice', password: 'secret' }],
  });
  const { config } = loadConfig({ configFile: file });
  expect(config.server).toEqual({ host: '127.0.0.1', port: 6000, path: '/ws', maxMessageBytes: 1048576, heartbeatMs: 0, highWaterBytes: 262144, drainTimeoutMs: 60000 });
  expect(config.storage).toEqual({ dataDir: './data', sync: 'none' });
  expect(config.log.level).toBe('debug');
  expect(config.users).toEqual([{ username: 'alice', password: 'secret' }]);
});

test('config - an empty object is a valid file', () => {
  expect(loadConfig({ configFile: write('broker.json', {}) }).config).toEqual(loadConfig({}).config);
});

test('config - overrides beat the file, and undefined overrides change nothing', () => {
  const file = write('broker.json', { server: { host: '0.0.0.0', port: 6000 }, storage: { dataDir: '/var/lib/warren' }, log: { level: 'warn' } });
  const { config } = loadConfig({ configFile: file, overrides: { port: 0, logLevel: 'silent', host: undefined } });
  expect(config.server.host).toBe('0.0.0.0');
  expect(config.server.port).toBe(0);
  expect(config.storage.dataDir).toBe('/var/lib/warren');
  expect(config.log.level).toBe('silent');

  const flags = loadConfig({ configFile: file, overrides: { host: '::1', dataDir: '/tmp/w' } }).config;
  expect(flags.server.host).toBe('::1');
  expect(flags.storage.dataDir).toBe('/tmp/w');
  expect(flags.server.port).toBe(6000);
});

test('config - the shipped config/broker.json loads with the notification topology', () => {
  const { config, warnings } = loadConfig({ configFile: SHIPPED });
  expect(warnings).toEqual([]);
  expect(config.server).toMatchObject({ host: '127.0.0.1', port: 5680 });
  expect(config.storage.dataDir).toBe('./data');
  expect(config.log.level).toBe('info');
  const { exchanges, queues, bindings } = config.definitions;
  expect(exchanges).toEqual([
    { name: 'notifications', vhost: '/', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: {} },
    { name: 'notifications.dlx', vhost: '/', type: 'fanout', durable: true, autoDelete: false, internal: false, arguments: {} },
  ]);
  expect(queues.map((q) => q.name)).toEqual(['email', 'sms', 'push', 'notifications.dead']);
  for (const name of ['email', 'sms', 'push']) {
    const queue = queues.find((q) => q.name === name);
    expect(queue).toEqual({ name, vhost: '/', durable: true, autoDelete: false, arguments: { 'x-dead-letter-exchange': 'notifications.dlx' } });
  }
  expect(bindings.map((b) => [b.source, b.routingKey, b.destination, b.destinationType])).toEqual([
    ['notifications', '*.*.email', 'email', 'queue'],
    ['notifications', '*.*.sms', 'sms', 'queue'],
    ['notifications', '*.*.push', 'push', 'queue'],
    ['notifications.dlx', '', 'notifications.dead', 'queue'],
  ]);
});

test('config - a real RabbitMQ export loads as a definitions file, users, permissions and policies included, with warnings for what is ignored', () => {
  const file = write('definitions.json', RABBITMQ_EXPORT);
  const { config, warnings } = loadConfig({ definitionsFile: file });
  expect(config.definitions.queues).toEqual([
    // Kept as given, so that the export round-trips.
    { name: 'orders.created', vhost: '/', durable: true, autoDelete: false, arguments: { 'x-queue-type': 'classic', 'x-max-length': 1000 } },
    { name: 'orders.audit', vhost: '/', durable: false, autoDelete: true, arguments: {} },
  ]);
  expect(config.definitions.exchanges).toEqual([
    { name: 'orders', vhost: '/', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: { 'alternate-exchange': 'orders.unrouted' } },
    { name: 'orders.unrouted', vhost: '/', type: 'fanout', durable: true, autoDelete: false, internal: false, arguments: {} },
  ]);
  expect(config.definitions.bindings).toEqual([
    { source: 'orders', vhost: '/', destination: 'orders.created', destinationType: 'queue', routingKey: 'order.created.#', arguments: {} },
    { source: 'orders', vhost: '/', destination: 'orders.audit', destinationType: 'queue', routingKey: '#', arguments: {} },
  ]);
  expect(config.definitions.users).toEqual([
    { name: 'guest', passwordHash: RABBITMQ_EXPORT.users[0].password_hash, hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] },
  ]);
  expect(config.definitions.permissions).toEqual([{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }]);
  expect(config.definitions.topicPermissions).toEqual([{ user: 'guest', vhost: '/', exchange: 'orders', write: '.*', read: '.*' }]);
  expect(config.definitions.vhosts).toEqual(['/']);
  expect(config.definitions.policies).toEqual([{ vhost: '/', name: 'ttl', pattern: '^orders', applyTo: 'queues', definition: { 'message-ttl': 60000 }, priority: 0 }]);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(new RegExp(`^${escape(file)}: parameters: 1 runtime parameter ignored`));
});

test('config - the same export loads unchanged inside the config file', () => {
  const file = write('broker.json', { definitions: RABBITMQ_EXPORT });
  const { config, warnings } = loadConfig({ configFile: file });
  expect(config.definitions.queues.map((q) => q.name)).toEqual(['orders.created', 'orders.audit']);
  expect(config.definitions.users.map((u) => u.name)).toEqual(['guest']);
  expect(config.definitions.policies.map((p) => p.name)).toEqual(['ttl']);
  expect(warnings).toEqual([`${file}: definitions.parameters: 1 runtime parameter ignored; Warren has no shovels, federation or other plugins`]);
});

test('config - a per-vhost management export without vhost fields means vhost "/"', () => {
  const file = write('vhost.json', {
    rabbit_version: '3.8.9',
    parameters: [],
    policies: [],
    queues: [{ name: 'q', durable: true, auto_delete: false, arguments: {} }],
    exchanges: [{ name: 'x', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} }],
    bindings: [{ source: 'x', destination: 'q', destination_type: 'queue', routing_key: 'k', arguments: {} }],
  });
  const { config, warnings } = loadConfig({ definitionsFile: file });
  expect(warnings).toEqual([]);
  expect(config.definitions.queues.map((q) => q.vhost)).toEqual(['/']);
  expect(config.definitions.exchanges.map((e) => e.vhost)).toEqual(['/']);
  expect(config.definitions.bindings).toEqual([{ source: 'x', vhost: '/', destination: 'q', destinationType: 'queue', routingKey: 'k', arguments: {} }]);
});

test('config - hand-written definitions take the protocol defaults', () => {
  const file = write('broker.json', {
    definitions: { exchanges: [{ name: 'x', type: 'headers' }], queues: [{ name: 'q' }], bindings: [{ source: 'x', destination: 'q' }] },
  });
  expect(loadConfig({ configFile: file }).config.definitions).toEqual({
    exchanges: [{ name: 'x', vhost: '/', type: 'headers', durable: true, autoDelete: false, internal: false, arguments: {} }],
    queues: [{ name: 'q', vhost: '/', durable: true, autoDelete: false, arguments: {} }],
    bindings: [{ source: 'x', vhost: '/', destination: 'q', destinationType: 'queue', routingKey: '', arguments: {} }],
    users: [],
    permissions: [],
    topicPermissions: [],
    policies: [],
    vhosts: ['/'],
  });
});

test('config - definitions from the config file come first, then the definitions file', () => {
  const configFile = write('broker.json', {
    definitions: { exchanges: [{ name: 'a', type: 'fanout' }], queues: [{ name: 'qa' }], bindings: [{ source: 'a', destination: 'qa' }] },
  });
  const definitionsFile = write('definitions.json', {
    exchanges: [{ name: 'b', type: 'direct' }],
    queues: [{ name: 'qb' }],
    bindings: [{ source: 'b', destination: 'qb', routing_key: 'k' }],
  });
  const { definitions } = loadConfig({ configFile, definitionsFile }).config;
  expect(definitions.exchanges.map((e) => e.name)).toEqual(['a', 'b']);
  expect(definitions.queues.map((q) => q.name)).toEqual(['qa', 'qb']);
  expect(definitions.bindings.map((b) => b.source)).toEqual(['a', 'b']);
});

test('config - an unknown top-level key in definitions is a warning, not an error', () => {
  const file = write('definitions.json', { queues: [], exchange: [] });
  expect(loadConfig({ definitionsFile: file }).warnings).toEqual([`${file}: unknown field "exchange" ignored`]);
});

test('config - a missing file is a ConfigError naming it', () => {
  const file = join(dir, 'nope.json');
  const error = configError({ configFile: file });
  expect(error.name).toBe('ConfigError');
  expect(error.message).toBe(`${file}: cannot read the file: no such file (looked for ${file})`);
  expect(configError({ definitionsFile: dir }).message).toBe(`${dir}: cannot read the file: it is a directory, not a file`);
});

test('config - bad JSON is a ConfigError with the position', () => {
  const file = write('broker.json', '{\n  "server": {\n    "port": 5680,\n  }\n}\n');
  const error = configError({ configFile: file });
  expect(error.message).toMatch(new RegExp(`^${escape(file)}: invalid JSON: .*position 36`));
  expect(error.message).toMatch(/line 4,? column 3/);
  expect(configError({ configFile: write('empty.json', '  \n') }).message).toMatch(/empty\.json: the file is empty/);
});

test('config - a wrong type names the JSON path and the value', () => {
  const file = write('broker.json', { server: { port: 'abc' } });
  expect(configError({ configFile: file }).message).toBe(`${file}: server.port must be an integer from 0 to 65535 (got "abc")`);
  const range = write('range.json', { server: { port: 70000, maxMessageBytes: 10, path: 'ws' }, storage: { sync: 'sometimes' } });
  expect(configError({ configFile: range }).problems).toEqual([
    `${range}: server.port must be an integer from 0 to 65535 (got 70000)`,
    `${range}: server.path must be a path starting with "/" (got "ws")`,
    `${range}: server.maxMessageBytes must be an integer >= 1024 (bytes) (got 10)`,
    `${range}: storage.sync must be one of always, none (got "sometimes")`,
  ]);
  expect(configError({ configFile: write('array.json', []) }).message).toMatch(/array\.json: the top level must be an object \(got an empty array\)$/);
});

test('config - an unknown field names its section and the known fields', () => {
  const file = write('broker.json', { server: { prot: 1 }, colour: 'blue' });
  expect(configError({ configFile: file }).problems).toEqual([
    `${file}: unknown field "colour" (known fields: server, storage, log, limits, flow, users, auth, definitions, cluster)`,
    `${file}: server: unknown field "prot" (known fields: host, port, path, maxMessageBytes, heartbeatMs, highWaterBytes, drainTimeoutMs, tls, allowedOrigins, trustedProxies)`,
  ]);
});

test('config - an entry in a vhost no "vhosts" section defines is refused with its path', () => {
  const file = write('broker.json', {
    definitions: {
      vhosts: [{ name: 'staging' }],
      queues: [{ name: 'a', vhost: '/' }, { name: 'b', vhost: 'staging' }, { name: 'c', vhost: 'prod' }],
      exchanges: [{ name: 'x', type: 'direct' }],
      bindings: [{ source: 'x', destination: 'a', vhost: 'prod' }],
    },
  });
  expect(configError({ configFile: file }).problems).toEqual([
    `${file}: definitions.queues[2].vhost: vhost "prod" is not defined; add {"name": "prod"} to the definitions' "vhosts"`,
    `${file}: definitions.bindings[0].vhost: vhost "prod" is not defined; add {"name": "prod"} to the definitions' "vhosts"`,
  ]);
});

test('config - a vhost defined in either file may be used in the other', () => {
  const configFile = write('broker.json', { definitions: { vhosts: [{ name: 'a' }], queues: [{ name: 'q', vhost: 'b' }] } });
  const definitionsFile = write('definitions.json', { vhosts: [{ name: 'b' }, { name: 'a' }], exchanges: [{ name: 'x', vhost: 'a', type: 'fanout' }] });
  const { definitions } = loadConfig({ configFile, definitionsFile }).config;
  expect(definitions.vhosts).toEqual(['/', 'a', 'b']);
  expect(definitions.queues.map((q) => [q.vhost, q.name])).toEqual([['b', 'q']]);
  expect(definitions.exchanges.map((e) => [e.vhost, e.name])).toEqual([['a', 'x']]);
});

test('config - when one file is invalid, entries in vhosts it may define are not called undefined', () => {
  const configFile = write('broker.json', { server: { port: -1 }, definitions: { vhosts: [{ name: 'prod' }] } });
  const definitionsFile = write('definitions.json', { queues: [{ name: 'q', vhost: 'prod' }] });
  expect(configError({ configFile, definitionsFile }).problems).toEqual([`${configFile}: server.port must be an integer from 0 to 65535 (got -1)`]);
});

test('config - a vhost name must be 1 to 255 UTF-8 bytes', () => {
  const long = 'é'.repeat(128);
  const file = write('definitions.json', { vhosts: [{ name: '' }, { name: long }], queues: [{ name: 'q', vhost: '' }] });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: vhosts[0].name must be a vhost name of 1 to 255 UTF-8 bytes (got "")`,
    `${file}: vhosts[1].name must be a vhost name of 1 to 255 UTF-8 bytes (got "${'é'.repeat(57)}...")`,
    `${file}: queues[0].vhost must be a vhost name of 1 to 255 UTF-8 bytes (got "")`,
  ]);
});

test('config - quorum and stream queues load, by type or by x-queue-type; another type is refused, naming those there are', () => {
  const typed = write('typed.json', {
    queues: [
      { name: 'q1', vhost: '/', type: 'quorum', durable: true, auto_delete: false, arguments: {} },
      { name: 'q2', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } },
      { name: 's1', vhost: '/', type: 'stream', durable: true, auto_delete: false, arguments: { 'x-max-age': '7D' } },
      { name: 's2', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'stream' } },
    ],
  });
  expect(loadConfig({ definitionsFile: typed }).config.definitions.queues.map((q) => q.arguments)).toEqual([
    { 'x-queue-type': 'quorum' },
    { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 },
    { 'x-max-age': '7D', 'x-queue-type': 'stream' },
    { 'x-queue-type': 'stream' },
  ]);
  const file = write('definitions.json', { queues: [{ name: 'x1', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'lazy' } }] });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: queues[0].arguments["x-queue-type"]: queue type "lazy" is not supported: Warren has classic, quorum and stream queues`,
  ]);
});

test('config - mirroring keys of policies and x-queue-mode are accepted with one notice', () => {
  const file = write('definitions.json', {
    policies: [
      { vhost: '/', name: 'ha', pattern: '.*', 'apply-to': 'all', definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' }, priority: 0 },
      { vhost: '/', name: 'lazy', pattern: '^lazy', definition: { 'queue-mode': 'lazy', 'max-length': 5 } },
    ],
    queues: [{ name: 'lazy.q', arguments: { 'x-queue-mode': 'lazy' } }],
  });
  const { warnings, notices, config } = loadConfig({ definitionsFile: file });
  expect(warnings).toEqual([]);
  expect(notices).toEqual([
    `${file}: policy keys ha-mode, ha-sync-mode, queue-mode (in 2 policies) and queue argument x-queue-mode (on 1 queue) accepted with no effect: Warren has no classic mirroring (replication comes with clustering) and one storage mode`,
  ]);
  expect(config.definitions.policies.map((p) => [p.name, p.applyTo, p.priority])).toEqual([
    ['ha', 'all', 0],
    ['lazy', 'all', 0],
  ]);
});

test('config - an exchange type Warren lacks is refused with the ones it has', () => {
  const file = write('broker.json', { definitions: { exchanges: [{ name: 'delayed', vhost: '/', type: 'x-delayed-message', durable: true }] } });
  expect(configError({ configFile: file }).message).toBe(
    `${file}: definitions.exchanges[0].type must be one of direct, fanout, topic, headers (got "x-delayed-message")`,
  );
});

test('config - reserved, empty and missing names are refused', () => {
  const file = write('broker.json', {
    definitions: {
      exchanges: [{ name: 'amq.mine', type: 'direct' }, { type: 'topic' }],
      queues: [{ name: '' }],
      bindings: [{ source: '', destination: 'q', destination_type: 'topic' }],
    },
  });
  expect(configError({ configFile: file }).problems).toEqual([
    `${file}: definitions.queues[0].name must be a name of 1 to 255 UTF-8 bytes not starting with "amq." (reserved) (got "")`,
    `${file}: definitions.exchanges[0].name must be a name of 1 to 255 UTF-8 bytes not starting with "amq." (reserved) (got "amq.mine")`,
    `${file}: definitions.exchanges[1]: missing required field "name"`,
    `${file}: definitions.bindings[0].source must be an exchange name of 1 to 255 UTF-8 bytes (the default exchange "" cannot be bound) (got "")`,
    `${file}: definitions.bindings[0].destination_type must be one of queue, exchange (got "topic")`,
  ]);
});

test('config - users must be complete and unique', () => {
  const file = write('broker.json', { users: [{ username: 'alice', password: 'a' }, { username: 'alice', password: 'b' }] });
  expect(configError({ configFile: file }).message).toBe(`${file}: users[1].username: user "alice" is already defined at users[0]`);
  const missing = write('missing.json', { users: [{ username: 'bob' }] });
  expect(configError({ configFile: missing }).message).toBe(`${missing}: users[0]: missing required field "password"`);
});

test('config - bad overrides are refused by flag name', () => {
  expect(configError({ overrides: { port: 70000, logLevel: 'loud' as never, host: '' } }).problems).toEqual([
    '--host must be a non-empty host name or IP address (got "")',
    '--port must be an integer from 0 to 65535 (got 70000)',
    '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
  ]);
  expect(configError({ overrides: { port: Number.NaN } }).message).toBe('--port must be an integer from 0 to 65535 (got NaN)');
});

test('config - every problem in every source is reported at once, one per line', () => {
  const configFile = write('broker.json', { server: { port: -1, host: 7 }, log: { level: 'verbose' } });
  const definitionsFile = join(dir, 'missing.json');
  const error = configError({ configFile, definitionsFile, overrides: { port: 1.5 } });
  expect(error.message.split('\n')).toEqual([
    `${configFile}: server.host must be a non-empty host name or IP address (got 7)`,
    `${configFile}: server.port must be an integer from 0 to 65535 (got -1)`,
    `${configFile}: log.level must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")`,
    `${definitionsFile}: cannot read the file: no such file (looked for ${definitionsFile})`,
    '--port must be an integer from 0 to 65535 (got 1.5)',
  ]);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('config - limits and flow override the defaults field by field, and bad values name their path', () => {
  const file = write('broker.json', { limits: { maxQueues: 5 }, flow: { memoryHighWatermark: 0.9 } });
  const { config } = loadConfig({ configFile: file });
  expect(config.limits.maxQueues).toBe(5);
  expect(config.limits.maxBindings).toBe(1000000);
  expect(config.flow).toEqual({ memoryHighWatermark: 0.9, diskFreeLimitBytes: 50000000, checkIntervalMs: 1000 });
  const bad = write('broker.json', { limits: { maxQueues: 0 }, flow: { memoryHighWatermark: 2 } });
  const problems = configError({ configFile: bad }).problems.join('\n');
  expect(problems).toMatch(/limits\.maxQueues/);
  expect(problems).toMatch(/flow\.memoryHighWatermark/);
});

/** A RabbitMQ 3.10 `rabbitmqctl export_definitions`: tags as a comma-separated string, users with and without a hash. */
const RABBITMQ_310_EXPORT = {
  rabbit_version: '3.10.7',
  rabbitmq_version: '3.10.7',
  product_name: 'RabbitMQ',
  product_version: '3.10.7',
  users: [
    { name: 'admin', password_hash: rabbitPasswordHash('s3cret', 'rabbit_password_hashing_sha256'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'administrator', limits: {} },
    { name: 'ops', password_hash: rabbitPasswordHash('pw', 'rabbit_password_hashing_sha512'), hashing_algorithm: 'rabbit_password_hashing_sha512', tags: 'monitoring, management' },
    // No password: can only log in by other means. No hashing_algorithm: RabbitMQ's default.
    { name: 'app', password_hash: '', tags: '' },
    // A newer export's array of tags.
    { name: 'legacy', password_hash: rabbitPasswordHash('old', 'rabbit_password_hashing_md5'), hashing_algorithm: 'rabbit_password_hashing_md5', tags: ['policymaker', ''] },
  ],
  vhosts: [{ name: '/', limits: [], metadata: { description: '', tags: [] } }],
  permissions: [
    { user: 'admin', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    { user: 'app', vhost: '/', configure: '^app\\.', write: '^(app\\.|amq\\.default$)', read: '' },
  ],
  topic_permissions: [
    { user: 'app', vhost: '/', exchange: 'events', write: '^app\\.', read: '.*' },
    { user: 'app', vhost: '/', exchange: 'audit', write: '', read: '^app\\.' },
  ],
  parameters: [],
  global_parameters: [{ name: 'cluster_name', value: 'rabbit@mq-1' }],
  policies: [],
  queues: [],
  exchanges: [{ name: 'events', vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
  bindings: [],
};

test('config - a RabbitMQ 3.10 export applies its users, permissions and topic permissions', () => {
  const file = write('definitions.json', RABBITMQ_310_EXPORT);
  const { config, warnings } = loadConfig({ definitionsFile: file });
  expect(warnings).toEqual([]);
  const [admin, ops, , legacy] = RABBITMQ_310_EXPORT.users;
  expect(config.definitions.users).toEqual([
    { name: 'admin', passwordHash: admin.password_hash, hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] },
    { name: 'ops', passwordHash: ops.password_hash, hashingAlgorithm: 'rabbit_password_hashing_sha512', tags: ['monitoring', 'management'] },
    { name: 'app', passwordHash: '', hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: [] },
    { name: 'legacy', passwordHash: legacy.password_hash, hashingAlgorithm: 'rabbit_password_hashing_md5', tags: ['policymaker'] },
  ]);
  expect(config.definitions.permissions).toEqual([
    { user: 'admin', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    { user: 'app', vhost: '/', configure: '^app\\.', write: '^(app\\.|amq\\.default$)', read: '' },
  ]);
  expect(config.definitions.topicPermissions).toEqual([
    { user: 'app', vhost: '/', exchange: 'events', write: '^app\\.', read: '.*' },
    { user: 'app', vhost: '/', exchange: 'audit', write: '', read: '^app\\.' },
  ]);
  expect(config.definitions.vhosts).toEqual(['/']);
  expect(config.auth).toEqual({ anonymous: undefined, jwt: undefined });
});

test('config - users and permissions from the config file and the definitions file are combined', () => {
  const configFile = write('broker.json', {
    definitions: { users: [{ name: 'a', password_hash: rabbitPasswordHash('x', 'rabbit_password_hashing_sha256'), tags: [] }] },
  });
  // A permission in one file may name a user of the other.
  const definitionsFile = write('definitions.json', {
    users: [{ name: 'b', password_hash: '', tags: 'management' }],
    permissions: [{ user: 'a', vhost: '/', configure: '', write: '.*', read: '.*' }],
  });
  const { definitions } = loadConfig({ configFile, definitionsFile }).config;
  expect(definitions.users.map((u) => u.name)).toEqual(['a', 'b']);
  expect(definitions.permissions).toEqual([{ user: 'a', vhost: '/', configure: '', write: '.*', read: '.*' }]);
});

test('config - an unknown hashing algorithm is refused with the known ones', () => {
  const file = write('broker.json', { definitions: { users: [{ name: 'u', password_hash: '', hashing_algorithm: 'rabbit_password_hashing_sha1' }] } });
  expect(configError({ configFile: file }).problems).toEqual([
    `${file}: definitions.users[0].hashing_algorithm must be one of rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, rabbit_password_hashing_md5, warren_password_hashing_scrypt, warren_password_hashing_argon2id (got "rabbit_password_hashing_sha1")`,
  ]);
});

test('config - a password hash that is not base64 is refused with its path', () => {
  const file = write('definitions.json', { users: [{ name: 'u', password_hash: 'not base64!', hashing_algorithm: 'rabbit_password_hashing_sha256' }] });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: users[0].password_hash: the hash is not base64 (A-Z, a-z, 0-9, + and /, with "=" only as padding at the end)`,
  ]);
});

test('config - a permission regex that does not compile is refused with its field', () => {
  const file = write('definitions.json', {
    users: [{ name: 'u', password_hash: '' }],
    permissions: [{ user: 'u', vhost: '/', configure: '.*', write: '(', read: '.*' }],
  });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: permissions[0].write: "(" is not a valid regular expression: unterminated group`,
  ]);
});

test('config - a permission for a user the definitions do not have is refused, as RabbitMQ does', () => {
  const file = write('definitions.json', {
    users: [{ name: 'u', password_hash: '' }],
    permissions: [{ user: 'nobody', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
  });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: permissions[0].user: unknown user "nobody"; define it in the definitions' "users" (RabbitMQ's import refuses permissions for a user it does not have)`,
  ]);
});

test('config - a user defined twice is refused, across files and against the plain users list', () => {
  const configFile = write('broker.json', {
    users: [{ username: 'alice', password: 'pw' }],
    definitions: { users: [{ name: 'bob', password_hash: '' }] },
  });
  const definitionsFile = write('definitions.json', { users: [{ name: 'bob', password_hash: '' }] });
  expect(configError({ configFile, definitionsFile }).problems).toEqual([`${definitionsFile}: users[0].name: user "bob" is already defined in ${configFile} at definitions.users[0]`]);

  const plain = write('plain.json', { users: [{ username: 'alice', password: 'pw' }], definitions: { users: [{ name: 'alice', password_hash: '' }] } });
  expect(configError({ configFile: plain }).problems).toEqual([
    `${plain}: definitions.users[0].name: user "alice" is also in the config's "users" list at users[0]; define each user once`,
  ]);
});

test('config - a second permission entry for the same user and vhost is refused', () => {
  const file = write('definitions.json', {
    users: [{ name: 'u', password_hash: '' }],
    permissions: [
      { user: 'u', vhost: '/', configure: '.*', write: '.*', read: '.*' },
      { user: 'u', vhost: '/', configure: '', write: '', read: '' },
    ],
    topic_permissions: [
      { user: 'u', vhost: '/', exchange: 'e', write: '.*', read: '.*' },
      { user: 'u', vhost: '/', exchange: 'f', write: '.*', read: '.*' },
      { user: 'u', vhost: '/', exchange: 'e', write: '', read: '' },
    ],
  });
  expect(configError({ definitionsFile: file }).problems).toEqual([
    `${file}: permissions[1]: user "u" already has permissions on vhost "/" at permissions[0]`,
    `${file}: topic_permissions[2]: user "u" already has topic permissions for exchange "e" on vhost "/" at topic_permissions[0]`,
  ]);
});

test('config - permissions and topic permissions on a vhost no "vhosts" section defines are refused', () => {
  const file = write('broker.json', {
    definitions: {
      users: [{ name: 'u', password_hash: '' }],
      vhosts: [{ name: '/' }, { name: 'prod', tags: ['x'], default_queue_type: 'classic' }],
      permissions: [
        { user: 'u', vhost: 'prod', configure: '.*', write: '.*', read: '.*' },
        { user: 'u', vhost: 'staging', configure: '.*', write: '.*', read: '.*' },
      ],
      topic_permissions: [
        { user: 'u', vhost: 'prod', exchange: 'e', write: '.*', read: '.*' },
        { user: 'u', vhost: 'staging', exchange: 'e', write: '.*', read: '.*' },
      ],
    },
  });
  expect(configError({ configFile: file }).problems).toEqual([
    `${file}: definitions.permissions[1].vhost: vhost "staging" is not defined; add {"name": "staging"} to the definitions' "vhosts"`,
    `${file}: definitions.topic_permissions[1].vhost: vhost "staging" is not defined; add {"name": "staging"} to the definitions' "vhosts"`,
  ]);
});

/** A RabbitMQ 3.13 export of two vhosts, with the same exchange name in each. */
const TWO_VHOST_EXPORT = {
  rabbit_version: '3.13.7',
  rabbitmq_version: '3.13.7',
  users: [
    { name: 'admin', password_hash: '', tags: ['administrator'], limits: {} },
    { name: 'app', password_hash: '', tags: [] },
  ],
  vhosts: [
    { name: '/', description: 'Default virtual host', tags: [], metadata: { description: 'Default virtual host', tags: [] }, default_queue_type: 'classic' },
    { name: 'prod', description: 'Production', tags: ['production'], limits: [], metadata: { description: 'Production', tags: ['production'] }, default_queue_type: 'classic' },
  ],
  permissions: [
    { user: 'admin', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    { user: 'admin', vhost: 'prod', configure: '.*', write: '.*', read: '.*' },
    { user: 'app', vhost: 'prod', configure: '^app\\.', write: '.*', read: '.*' },
  ],
  topic_permissions: [{ user: 'app', vhost: 'prod', exchange: 'events', write: '^app\\.', read: '.*' }],
  parameters: [],
  global_parameters: [],
  policies: [],
  queues: [
    { name: 'jobs', vhost: '/', durable: true, auto_delete: false, arguments: {} },
    { name: 'jobs', vhost: 'prod', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } },
    { name: 'audit', vhost: 'prod', durable: false, auto_delete: true, arguments: {} },
  ],
  exchanges: [
    { name: 'events', vhost: '/', type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} },
    { name: 'events', vhost: 'prod', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
  ],
  bindings: [
    { source: 'events', vhost: '/', destination: 'jobs', destination_type: 'queue', routing_key: '', arguments: {} },
    { source: 'events', vhost: 'prod', destination: 'jobs', destination_type: 'queue', routing_key: 'job.#', arguments: {} },
    { source: 'events', vhost: 'prod', destination: 'audit', destination_type: 'queue', routing_key: '#', arguments: {} },
  ],
};

test('config - an export of two vhosts loads with the vhost of every entry', () => {
  const file = write('definitions.json', TWO_VHOST_EXPORT);
  const { config, warnings } = loadConfig({ definitionsFile: file });
  expect(warnings).toEqual([]);
  const { definitions } = config;
  expect(definitions.vhosts).toEqual(['/', 'prod']);
  expect(definitions.queues).toEqual([
    { name: 'jobs', vhost: '/', durable: true, autoDelete: false, arguments: {} },
    { name: 'jobs', vhost: 'prod', durable: true, autoDelete: false, arguments: { 'x-queue-type': 'classic' } },
    { name: 'audit', vhost: 'prod', durable: false, autoDelete: true, arguments: {} },
  ]);
  expect(definitions.exchanges).toEqual([
    { name: 'events', vhost: '/', type: 'fanout', durable: true, autoDelete: false, internal: false, arguments: {} },
    { name: 'events', vhost: 'prod', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: {} },
  ]);
  expect(definitions.bindings).toEqual([
    { source: 'events', vhost: '/', destination: 'jobs', destinationType: 'queue', routingKey: '', arguments: {} },
    { source: 'events', vhost: 'prod', destination: 'jobs', destinationType: 'queue', routingKey: 'job.#', arguments: {} },
    { source: 'events', vhost: 'prod', destination: 'audit', destinationType: 'queue', routingKey: '#', arguments: {} },
  ]);
  expect(definitions.permissions.map((p) => [p.user, p.vhost, p.configure])).toEqual([
    ['admin', '/', '.*'],
    ['admin', 'prod', '.*'],
    ['app', 'prod', '^app\\.'],
  ]);
  expect(definitions.topicPermissions).toEqual([{ user: 'app', vhost: 'prod', exchange: 'events', write: '^app\\.', read: '.*' }]);

  // The same export inside the config file, with its vhosts listed again by the definitions file: no repeats, "/" first.
  const configFile = write('broker.json', { definitions: TWO_VHOST_EXPORT });
  const again = write('again.json', { vhosts: [{ name: 'prod' }, { name: '/' }, { name: 'dev' }] });
  expect(loadConfig({ configFile, definitionsFile: again }).config.definitions.vhosts).toEqual(['/', 'prod', 'dev']);
});

test('config - auth.jwt takes its defaults and needs a key source', () => {
  const secret = 'a'.repeat(32);
  const file = write('broker.json', { auth: { anonymous: false, jwt: { secret, issuer: 'https://idp.example.com' } } });
  expect(loadConfig({ configFile: file }).config.auth).toEqual({
    anonymous: false,
    jwt: { secret, issuer: 'https://idp.example.com', audience: 'warren', scopePrefix: 'warren.', clockToleranceSec: 0 },
  });
  const jwks = write('jwks.json', { auth: { jwt: { jwksUrl: 'https://idp.example.com/jwks', audience: 'mq', scopePrefix: '', clockToleranceSec: 30 } } });
  expect(loadConfig({ configFile: jwks }).config.auth.jwt).toEqual({ jwksUrl: 'https://idp.example.com/jwks', audience: 'mq', scopePrefix: '', clockToleranceSec: 30 });

  const keyless = write('keyless.json', { auth: { jwt: { audience: 'warren' } } });
  expect(configError({ configFile: keyless }).problems).toEqual([
    `${keyless}: auth.jwt: no key to verify tokens with; set at least one of secret, publicKeys, jwksUrl, jwksFile`,
  ]);
});

test('config - a JWT secret shorter than 32 bytes is refused without being shown', () => {
  const file = write('broker.json', { auth: { jwt: { secret: 'hunter2' } } });
  const error = configError({ configFile: file });
  expect(error.problems).toEqual([
    `${file}: auth.jwt.secret must be a string of at least 32 bytes: HS256 needs a key of at least 256 bits (got 7 bytes)`,
  ]);
  expect(error.message).not.toContain('hunter2');
});

test('config - jwksUrl must be an https URL, or http on localhost', () => {
  const file = write('broker.json', { auth: { jwt: { jwksUrl: 'ftp://idp.example.com/jwks' } } });
  expect(configError({ configFile: file }).problems).toEqual([`${file}: auth.jwt.jwksUrl must be an https: URL (http: only on localhost) (got "ftp://idp.example.com/jwks")`]);
  const plain = write('plain.json', { auth: { jwt: { jwksUrl: 'http://idp.example.com/jwks' } } });
  expect(configError({ configFile: plain }).problems).toHaveLength(1);
  expect(loadConfig({ configFile: write('local.json', { auth: { jwt: { jwksUrl: 'http://127.0.0.1:8080/jwks' } } }) }).config.auth.jwt?.jwksUrl).toBe('http://127.0.0.1:8080/jwks');
  const bad = write('bad.json', { auth: { jwt: { publicKeys: ['not a key'], clockToleranceSec: 7200 } } });
  expect(configError({ configFile: bad }).problems).toEqual([
    `${bad}: auth.jwt.publicKeys[0] must be a PEM string starting with "-----BEGIN PUBLIC KEY-----" or "-----BEGIN CERTIFICATE-----" (got "not a key")`,
    `${bad}: auth.jwt.clockToleranceSec must be an integer from 0 to 3600 (seconds) (got 7200)`,
  ]);
});

test('config - when one file is invalid, permissions for users it may define are not called unknown', () => {
  const configFile = write('broker.json', { server: { port: -1 }, definitions: { users: [{ name: 'a', password_hash: '' }] } });
  const definitionsFile = write('definitions.json', { permissions: [{ user: 'a', vhost: '/', configure: '.*', write: '.*', read: '.*' }] });
  expect(configError({ configFile, definitionsFile }).problems).toEqual([`${configFile}: server.port must be an integer from 0 to 65535 (got -1)`]);
});

test('config - server.tls and server.allowedOrigins load; the TLS flags beat the file', () => {
  const file = write('tls.json', { server: { tls: { cert: 'c.pem', key: 'k.pem' }, allowedOrigins: ['https://app.example.com', 'https://*.example.org:8443'] } });
  expect(loadConfig({ configFile: file }).config.server).toMatchObject({ tls: { cert: 'c.pem', key: 'k.pem' }, allowedOrigins: ['https://app.example.com', 'https://*.example.org:8443'] });
  expect(loadConfig({ configFile: file, overrides: { tlsCert: 'a.pem', tlsKey: 'b.pem' } }).config.server.tls).toEqual({ cert: 'a.pem', key: 'b.pem' });
});

test('config - a TLS section without its key, an origin with a path, and one TLS flag alone are each a clear problem', () => {
  const file = write('bad-tls.json', { server: { tls: { cert: 'c.pem' }, allowedOrigins: ['https://app.example.com/page'] } });
  const problems = configError({ configFile: file, overrides: { tlsCert: 'a.pem' } }).problems;
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/server\.tls.*key/),
      expect.stringMatching(/server\.allowedOrigins\[0\].*origin/),
      '--tls-cert and --tls-key go together: give both, the certificate and its private key',
    ]),
  );
});

test('config - cluster and server.trustedProxies: a bad URL, node name or proxy address is named with its path', () => {
  const file = write('broker.json', { server: { trustedProxies: ['10.0.0.0/8', 'not-an-address'] }, cluster: { redis: 'redis:/x', node: 'a b', nodeTimeoutMs: 10 } });
  const problems = configError({ configFile: file }).problems.join('\n');
  expect(problems).toMatch(/server\.trustedProxies\[1\].*an IP address or subnet/);
  expect(problems).toMatch(/cluster\.redis.*a Redis URL/);
  expect(problems).toMatch(/cluster\.node.*a node name/);
  expect(problems).toMatch(/cluster\.nodeTimeoutMs.*>= 300/);
});

test('config - a malformed cluster.redis with a password is named without the password', () => {
  const file = write('broker.json', { cluster: { redis: 'REDIS://app:s3cret @10.0.0.1:6379', node: 'a' } });
  const problems = configError({ configFile: file }).problems.join('\n');
  expect(problems).toMatch(/cluster\.redis.*a Redis URL.*app:\*\*\*@10\.0\.0\.1/);
  expect(problems).not.toMatch(/s3cret/);
});
