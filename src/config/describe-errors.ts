import type { ErrorObject } from 'ajv';
import { hideRedisPassword, MIN_SECRET_BYTES, QUEUE_TYPE_SCHEMA, SECRET_SCHEMA } from './schema.js';

/** How the sentences for one validated document name their source. */
export interface DescribeOptions {
  /** Put before every sentence, e.g. `config/broker.json: `; may be empty. */
  prefix: string;
  /** Turns a dotted/bracket JSON path (`server.port`) into the name a user knows it by; identity by default. */
  name?: (path: string) => string;
}

// Keywords that judge a value rather than an object's set of keys: one sentence per value is enough.
const KEY_KEYWORDS = new Set(['additionalProperties', 'required']);

/**
 * Turns ajv errors into one sentence each that names the JSON path in dotted/bracket form, e.g.
 * `server.port must be an integer from 0 to 65535 (got "abc")`. `root` is the validated document,
 * needed to tell array indexes from object keys.
 */
export function describeErrors(errors: readonly ErrorObject[], root: unknown, options: DescribeOptions): string[] {
  const name = options.name ?? ((path: string) => path);
  const seen = new Set<string>();
  const sentences: string[] = [];
  for (const error of errors) {
    const path = jsonPath(root, error.instancePath);
    const sentence = describe(error, path === '' ? '' : name(path));
    const key = KEY_KEYWORDS.has(error.keyword) ? sentence : `value ${error.instancePath}`;
    if (seen.has(key)) continue;
    seen.add(key);
    sentences.push(options.prefix + sentence);
  }
  return sentences;
}

function describe(error: ErrorObject, path: string): string {
  const schema = error.parentSchema;
  const data: unknown = error.data;
  if (error.keyword === 'additionalProperties') {
    const field = String(error.params.additionalProperty);
    const known = Object.keys(schema?.properties ?? {});
    const hint = known.length > 0 ? ` (known fields: ${known.join(', ')})` : '';
    return `${path === '' ? '' : `${path}: `}unknown field ${JSON.stringify(field)}${hint}`;
  }
  if (error.keyword === 'required') {
    return `${path === '' ? '' : `${path}: `}missing required field ${JSON.stringify(String(error.params.missingProperty))}`;
  }
  const subject = path === '' ? 'the top level' : path;
  if (schema === SECRET_SCHEMA) {
    // Never the value: a secret must not be copied into a log, even a wrong one.
    const got =
      typeof data === 'string'
        ? `${Buffer.byteLength(data, 'utf8')} bytes`
        : data === null
          ? 'null'
          : Array.isArray(data)
            ? 'an array'
            : (TYPE_NAMES[typeof data] ?? typeof data);
    return `${subject} must be a string of at least ${MIN_SECRET_BYTES} bytes: HS256 needs a key of at least 256 bits (got ${got})`;
  }
  if (schema === QUEUE_TYPE_SCHEMA && typeof data === 'string') {
    return `${subject}: queue type ${JSON.stringify(data)} is not supported: Warren has classic, quorum and stream queues`;
  }
  const expected = typeof schema?.description === 'string' ? schema.description : expectation(error);
  // A Redis URL may carry a password: not copied into a log.
  const shown = schema?.format === 'redis-url' && typeof data === 'string' ? show(hideRedisPassword(data)) : show(data);
  return expected === undefined ? `${subject} ${error.message ?? 'is invalid'} (got ${shown})` : `${subject} must be ${expected} (got ${shown})`;
}

function expectation(error: ErrorObject): string | undefined {
  if (error.keyword === 'type') {
    const types = ([] as unknown[]).concat(error.params.type).map(String);
    return types.map((t) => TYPE_NAMES[t] ?? t).join(' or ');
  }
  if (error.keyword === 'enum') return `one of ${(error.params.allowedValues as unknown[]).map(String).join(', ')}`;
  if (error.keyword === 'const') return JSON.stringify(error.params.allowedValue);
  return undefined;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

/** A value as it appears in a message: strings quoted (and shortened), containers by kind. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

/** `/definitions/queues/2/arguments/x-max-length` becomes `definitions.queues[2].arguments["x-max-length"]`. */
export function jsonPath(root: unknown, pointer: string): string {
  let path = '';
  let node: unknown = root;
  for (const segment of pointer.split('/').slice(1)) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path += `[${key}]`;
      node = node[Number(key)];
      continue;
    }
    path += /^[A-Za-z_$][\w$]*$/.test(key) ? (path === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return path;
}
