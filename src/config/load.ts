import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import type { JwtConfig } from '../auth/index.js';
import { concatDefinitions, definitionsNotices, definitionsProblems, definitionsWarnings, toDefinitions, type DefinitionsSource } from './definitions.js';
import { describeErrors } from './describe-errors.js';
import {
  JWT_KEY_SOURCES,
  validateConfigFile,
  validateDefinitionsFile,
  validateOverrides,
  type RawAuth,
  type RawConfigFile,
  type RawDefinitions,
} from './schema.js';
import type { AuthConfig, BrokerConfig, Definitions, LogLevel, UserConfig } from './types.js';

/** Values given on the command line; each beats the config file. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  logLevel?: LogLevel;
  /** --tls-cert and --tls-key: they go together. */
  tlsCert?: string;
  tlsKey?: string;
}

/** Where the configuration comes from. With neither file, the defaults apply. */
export interface LoadConfigOptions {
  /** Path of a `broker.json` (see `config/broker.json`). */
  configFile?: string;
  /** Path of a bare RabbitMQ definitions export; its entries come after the config file's. */
  definitionsFile?: string;
  overrides?: ConfigOverrides;
}

/** A loaded configuration and what in it was accepted but not applied (RabbitMQ policies, parameters). */
export interface LoadedConfig {
  config: BrokerConfig;
  /** One sentence each, naming the file and JSON path; meant to be logged at start-up. */
  warnings: string[];
  /** What was accepted with no effect (RabbitMQ mirroring keys, ...), to log at info. */
  notices: string[];
}

/**
 * Every problem found while loading the configuration. `message` holds one sentence per line, each
 * naming the file (or command-line option) and the JSON path; `problems` holds the same sentences.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

const DEFAULTS: BrokerConfig = {
  server: { host: '127.0.0.1', port: 5680, path: '/ws', maxMessageBytes: 1_048_576, heartbeatMs: 30_000, highWaterBytes: 262_144, drainTimeoutMs: 60_000 },
  storage: { dataDir: './data', sync: 'always' },
  log: { level: 'info' },
  limits: {
    maxConnections: 65_536,
    maxConnectionsPerAddress: 16_384,
    maxQueues: 100_000,
    maxExchanges: 10_000,
    maxBindings: 1_000_000,
    maxConsumersPerConnection: 1_000,
    maxUnackedPerConnection: 100_000,
    consumerTimeoutMs: 1_800_000,
  },
  flow: { memoryHighWatermark: 0.4, diskFreeLimitBytes: 50_000_000, checkIntervalMs: 1000 },
  users: [],
  auth: { anonymous: undefined, jwt: undefined },
  definitions: { exchanges: [], queues: [], bindings: [], users: [], permissions: [], topicPermissions: [], policies: [], vhosts: ['/'] },
  cluster: undefined,
};

/** What `cluster` fields left out take. */
const CLUSTER_DEFAULTS = { nodeTimeoutMs: 10_000 } as const;

/** What `auth.jwt` fields left out take. */
const JWT_DEFAULTS = { audience: 'warren', scopePrefix: 'warren.', clockToleranceSec: 0 } as const;

// The command-line names of the overrides, for messages about them.
const FLAGS: Record<string, string> = { host: '--host', port: '--port', dataDir: '--data-dir', logLevel: '--log-level', tlsCert: '--tls-cert', tlsKey: '--tls-key' };

/**
 * Loads the broker configuration: defaults < config file < overrides. Both files are read and
 * validated, and every problem is collected before anything is thrown.
 *
 * @throws ConfigError when a file is missing, unreadable, not JSON or not valid, when the definitions
 *   use a vhost that no `vhosts` section defines or a quorum or stream queue, hold a malformed
 *   password hash or permission regex, a user twice or a permission for an unknown user, when
 *   `auth.jwt` has no key source, or when an override is out of range.
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const notices: string[] = [];
  const sources: DefinitionsSource[] = [];
  let complete = true;

  let file: RawConfigFile = {};
  if (options.configFile !== undefined) {
    const parsed = readValidated(options.configFile, validateConfigFile, problems);
    if (parsed !== undefined) {
      file = parsed;
      problems.push(...duplicateUsers(file.users ?? [], options.configFile));
      problems.push(...prefixed(options.configFile, authProblems(file.auth)));
      if (file.definitions) {
        warnings.push(...prefixed(options.configFile, definitionsWarnings(file.definitions, 'definitions.')));
        notices.push(...prefixed(options.configFile, definitionsNotices(file.definitions, 'definitions.')));
        sources.push({ raw: file.definitions, file: options.configFile, at: 'definitions.' });
      }
    } else complete = false;
  }

  let extra: RawDefinitions | undefined;
  if (options.definitionsFile !== undefined) {
    extra = readValidated(options.definitionsFile, validateDefinitionsFile, problems);
    if (extra !== undefined) {
      warnings.push(...prefixed(options.definitionsFile, definitionsWarnings(extra, '')));
      notices.push(...prefixed(options.definitionsFile, definitionsNotices(extra, '')));
      sources.push({ raw: extra, file: options.definitionsFile, at: '' });
    } else complete = false;
  }

  problems.push(...definitionsProblems(sources, { plainUsers: file.users ?? [], configFile: options.configFile, complete }));

  const overrides = stripUndefined({ ...options.overrides });
  if (!validateOverrides(overrides)) {
    problems.push(...describeErrors(validateOverrides.errors ?? [], overrides, { prefix: '', name: (path) => FLAGS[path] ?? path }));
  }
  if ((overrides.tlsCert === undefined) !== (overrides.tlsKey === undefined)) {
    problems.push('--tls-cert and --tls-key go together: give both, the certificate and its private key');
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const config: BrokerConfig = {
    server: {
      ...DEFAULTS.server,
      ...file.server,
      ...stripUndefined({ host: overrides.host, port: overrides.port }),
      ...(overrides.tlsCert !== undefined && overrides.tlsKey !== undefined ? { tls: { cert: overrides.tlsCert, key: overrides.tlsKey } } : {}),
    },
    storage: { ...DEFAULTS.storage, ...file.storage, ...stripUndefined({ dataDir: overrides.dataDir }) },
    log: { ...DEFAULTS.log, ...file.log, ...stripUndefined({ level: overrides.logLevel }) },
    limits: { ...DEFAULTS.limits, ...file.limits },
    flow: { ...DEFAULTS.flow, ...file.flow },
    users: (file.users ?? DEFAULTS.users).map((user) => ({ ...user })),
    auth: toAuth(file.auth),
    definitions: concatDefinitions(toDefinitions(file.definitions ?? {}), extra === undefined ? undefined : toDefinitions(extra)),
    cluster: file.cluster && { ...CLUSTER_DEFAULTS, ...file.cluster },
  };
  return { config, warnings, notices };
}

/** A definitions document from elsewhere than the config files: an import through the API, the accounts file. */
export interface ParseDefinitionsOptions {
  /** How problems name the document: a file, or "the request body". */
  label: string;
  /** Users and vhosts that exist already, which its entries may name. */
  knownUsers?: ReadonlySet<string>;
  knownVhosts?: ReadonlySet<string>;
}

/**
 * Validates a parsed RabbitMQ definitions document as loadConfig validates a definitions file, and
 * maps it. Throws ConfigError with every problem, each naming the label and the JSON path.
 */
export function parseDefinitions(value: unknown, options: ParseDefinitionsOptions): { definitions: Definitions; warnings: string[]; notices: string[] } {
  const { label } = options;
  if (!validateDefinitionsFile(value)) throw new ConfigError(describeErrors(validateDefinitionsFile.errors ?? [], value, { prefix: `${label}: ` }));
  const problems = definitionsProblems([{ raw: value, file: label, at: '' }], { plainUsers: [], configFile: undefined, complete: true, knownUsers: options.knownUsers, knownVhosts: options.knownVhosts });
  if (problems.length > 0) throw new ConfigError(problems);
  return { definitions: toDefinitions(value), warnings: prefixed(label, definitionsWarnings(value, '')), notices: prefixed(label, definitionsNotices(value, '')) };
}

/** Reads, parses and validates one JSON file; on failure records the problems and returns undefined. */
function readValidated<T>(file: string, validate: ValidateFunction<T>, problems: string[]): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${file}: cannot read the file: ${describeIoError(error, file)}`);
    return undefined;
  }
  // Editors on Windows may save a byte-order mark, which JSON.parse refuses.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') {
    problems.push(`${file}: the file is empty; it must hold a JSON object`);
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    problems.push(`${file}: invalid JSON: ${describeSyntaxError(error, text)}`);
    return undefined;
  }
  if (validate(data)) return data;
  problems.push(...describeErrors(validate.errors ?? [], data, { prefix: `${file}: ` }));
  return undefined;
}

function describeIoError(error: unknown, file: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `no such file (looked for ${resolve(file)})`;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory, not a file';
  return error instanceof Error ? error.message : String(error);
}

/** Node's message, with the line and column added when it gives only a character position. */
function describeSyntaxError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const match = /at position (\d+)/.exec(message);
  if (match === null || /\bline \d+/.test(message)) return message;
  const before = text.slice(0, Number(match[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

function duplicateUsers(users: readonly UserConfig[], file: string): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  users.forEach((user, i) => {
    const earlier = first.get(user.username);
    if (earlier === undefined) first.set(user.username, i);
    else problems.push(`${file}: users[${i}].username: user ${JSON.stringify(user.username)} is already defined at users[${earlier}]`);
  });
  return problems;
}

/** What the schema cannot say about `auth`: a `jwt` section needs somewhere to get keys from. */
function authProblems(auth: RawAuth | undefined): string[] {
  const jwt = auth?.jwt;
  if (jwt === undefined || JWT_KEY_SOURCES.some((key) => key in jwt)) return [];
  return [`auth.jwt: no key to verify tokens with; set at least one of ${JWT_KEY_SOURCES.join(', ')}`];
}

function toAuth(auth: RawAuth | undefined): AuthConfig {
  const jwt: JwtConfig | undefined = auth?.jwt === undefined ? undefined : { ...JWT_DEFAULTS, ...auth.jwt };
  if (jwt?.publicKeys !== undefined) jwt.publicKeys = [...jwt.publicKeys];
  return { anonymous: auth?.anonymous, jwt };
}

function prefixed(file: string, sentences: string[]): string[] {
  return sentences.map((sentence) => `${file}: ${sentence}`);
}

// An override left undefined must not erase the file's value when spread over it.
function stripUndefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
