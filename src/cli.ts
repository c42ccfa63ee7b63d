#!/usr/bin/env node
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from './version.js';
import { connect, type WarrenClient } from './client/index.js';
import { ConfigError, loadConfig, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './config/index.js';
import { hashPassword } from './auth/index.js';
import { adminCommands, positiveInteger } from './admin/index.js';
import { closedByBroker, parseFrom, readStream } from './stream-read.js';

const DEFAULT_URL = 'ws://127.0.0.1:5680/ws';
/** A graceful shutdown that takes longer than this is cut short. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

/** Prints what went wrong, in words, and exits non-zero: no stack traces for a person's mistake. */
function fail(message: string): never {
  process.stderr.write(`warren: ${message}\n`);
  process.exit(1);
}

async function serve(argv: {
  host?: string;
  port?: number;
  dataDir?: string;
  config?: string;
  definitions?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  tlsCert?: string;
  tlsKey?: string;
}) {
  const { config, warnings, notices } = loadConfig({
    configFile: argv.config,
    definitionsFile: argv.definitions,
    overrides: { host: argv.host, port: argv.port, dataDir: argv.dataDir, logLevel: argv.logLevel, tlsCert: argv.tlsCert, tlsKey: argv.tlsKey },
  });
  // V8 allocates straight into the old generation what is made where most objects made so far
  // outlived a young collection. A broker's messages live for milliseconds, but after a stall most
  // are still queued at a collection, and from then on every message would wait for a full one:
  // docs/performance.md, "Compiled topic matching and V8's pretenuring". Node lets a process
  // change this flag as it runs.
  setFlagsFromString('--no-allocation-site-pretenuring');
  // Loaded here, not at the top: the client and admin commands start without the server's packages.
  const { buildApp } = await import('./app.js');
  const { banner, brokerLogger } = await import('./console-output.js');
  const logger = brokerLogger(config.log.level, argv.logFormat);
  const app = await buildApp(config, { logger });
  for (const warning of warnings) app.logger.warn(warning);
  for (const notice of notices) app.logger.info(notice);
  // Signal handlers before listening: whoever sees the 'listening' line may signal at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second signal: stop now
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      app.logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const listening = await app.listen().catch(async (error: NodeJS.ErrnoException) => {
    // Release the data dir's lock (and write nothing half-done) before saying why.
    await app.close();
    const where = `${config.server.host}:${config.server.port}`;
    if (error.code === 'EADDRINUSE') fail(`cannot listen on ${where}: the address is in use; stop the other process or pass another --port`);
    if (error.code === 'EACCES') fail(`cannot listen on ${where}: permission denied; use a port above 1023`);
    throw error;
  });
  // For a person at a terminal; machines read the 'listening' line, which has the same URLs.
  if (process.stdout.isTTY) process.stdout.write(`${banner(listening, { dataDir: config.storage.dataDir, configFile: argv.config, definitionsFile: argv.definitions, cluster: config.cluster })}\n`);
}

interface ClientArgs {
  url: string;
  username?: string;
  password?: string;
  token?: string;
  vhost?: string;
}

/** `--token`, else `$WARREN_TOKEN` unless a user name or password is given (a token excludes them). */
function tokenOf(argv: Pick<ClientArgs, 'username' | 'password' | 'token'>): string | undefined {
  if (argv.token !== undefined) return argv.token;
  if (argv.username !== undefined || argv.password !== undefined) return undefined;
  const fromEnv = process.env.WARREN_TOKEN;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

const openClient = (argv: ClientArgs): Promise<WarrenClient> =>
  connect(argv.url, { username: argv.username, password: argv.password, token: tokenOf(argv), vhost: argv.vhost, clientName: 'warren-cli' });

/**
 * `--payload` as JSON when it parses, else as text; text that looks like JSON (starts with `{` or
 * `[`) but does not parse is a mistake to report, not a string to send, unless `--string`.
 */
function parsePayload(text: string, asString: boolean): unknown {
  if (asString) return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    if (/^\s*[[{]/.test(text)) fail(`--payload looks like JSON but does not parse (${(error as Error).message}); fix it, or pass --string to send it as text`);
    return text;
  }
}

async function publish(argv: ClientArgs & { exchange: string; routingKey: string; payload: string; string: boolean; persistent: boolean; mandatory: boolean; header?: string[]; count: string }) {
  const count = positiveInteger('count', argv.count);
  const payload = parsePayload(argv.payload, argv.string);
  const headers: Record<string, string> = {};
  for (const pair of argv.header ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) fail(`--header takes name=value (got "${pair}")`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const client = await openClient(argv);
  // The broker sends a return before the confirm of the same message.
  let returned = 0;
  client.on('return', () => returned++);
  try {
    const sends: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      sends.push(client.publish(argv.exchange, argv.routingKey, payload, { headers, properties: argv.persistent ? { persistent: true } : undefined, mandatory: argv.mandatory }));
    }
    await Promise.all(sends);
  } finally {
    await client.close();
  }
  const where = `exchange "${argv.exchange}" with routing key "${argv.routingKey}"`;
  if (returned > 0) fail(`${returned} of ${count} message(s) to ${where} reached no queue and were returned; bind a queue that matches the routing key`);
  process.stdout.write(`published ${count} message(s) to ${where} (confirmed${argv.mandatory ? ', each reached a queue' : ''})\n`);
}

/**
 * Prints each message as a JSON line and acks it only once the line is written: a message that
 * was not output (stdout closed, `--count` reached, the process stopped) is never acked, so the
 * broker requeues it when the connection closes. With `--count` the prefetch is at most the count.
 */
async function consume(argv: ClientArgs & { queue: string; prefetch: string; count?: string; requeue: boolean }) {
  const wanted = argv.count === undefined ? undefined : positiveInteger('count', argv.count);
  const prefetch = positiveInteger('prefetch', argv.prefetch);
  const client = await openClient(argv);
  let written = 0;
  let settled = 0;
  let done = false;
  await new Promise<void>((resolve, reject) => {
    const finish = () => {
      done = true;
      resolve();
    };
    client.on('cancelled', (event) =>
      reject(
        new Error(
          event.reason === 'permission'
            ? `the broker cancelled the consumer: the token may no longer read queue "${argv.queue}"`
            : `the broker cancelled the consumer: queue "${argv.queue}" was deleted`,
        ),
      ),
    );
    client.on('error', (error) => process.stderr.write(`warren: ${error.message}\n`));
    client.on('close', (event) => {
      if (!event.byClient) reject(closedByBroker(event, '; messages not printed stay in the queue'));
    });
    // `| head -5`: the reader went away; what was not written stays unacked and goes back to the queue.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' ? finish() : reject(error)));
    client
      .consume(
        argv.queue,
        (message) => {
          // Counted as written, not as settled: one frame can carry more deliveries than are wanted.
          if (done || (wanted !== undefined && written >= wanted)) return;
          written++;
          const { ack: _ack, nack: _nack, reject: _reject, ...fields } = message;
          process.stdout.write(`${JSON.stringify(fields)}\n`, (error) => {
            if (error) return;
            if (argv.requeue) message.nack({ requeue: true });
            else message.ack();
            if (wanted !== undefined && ++settled >= wanted) finish();
          });
        },
        { prefetch: wanted === undefined ? prefetch : Math.min(prefetch, wanted) },
      )
      .catch(reject);
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
  }).finally(() => client.close());
}

/** `stream read` (src/stream-read.ts): the options checked before connecting, then the read. */
async function streamRead(argv: ClientArgs & { queue: string; from?: string; count?: string; group?: string }) {
  const count = argv.count === undefined ? undefined : positiveInteger('count', argv.count);
  const from = argv.from === undefined ? undefined : parseFrom(argv.from);
  if (argv.group === '') fail('--group takes the name of a consumer group (not empty)');
  const client = await openClient(argv);
  try {
    await readStream(client, { queue: argv.queue, from, count, group: argv.group });
  } finally {
    await client.close();
  }
}

/** The first line of stdin, line ending stripped: the password then stays out of the shell history and `ps`. */
async function readPasswordLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (shown as you type; pipe it in to hide it): ');
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
    // readline leaves stdin open, which would keep the process alive after a line typed at a terminal.
    process.stdin.destroy();
  }
}

/** Only the hash goes to stdout, so `$(warren hash-password)` captures it; how to use it goes to stderr. */
async function hashPasswordCommand(argv: { password?: string }) {
  const password = argv.password ?? (await readPasswordLine());
  if (password === '') fail('the password is empty; give --password or one line on stdin (an empty password_hash is how a definitions user is kept from logging in)');
  const { hash, algorithm } = await hashPassword(password);
  process.stdout.write(`${hash}\n`);
  const user = { name: '<username>', password_hash: hash, hashing_algorithm: algorithm, tags: [] };
  process.stderr.write(`warren: put it in a definitions user: ${JSON.stringify(user)}\n`);
}

/** yargs turns a repeated option into an array; say so rather than fail obscurely later. */
const singleValued =
  (...names: string[]) =>
  (argv: Record<string, unknown>): true => {
    const repeated = names.find((name) => Array.isArray(argv[name]));
    if (repeated) throw new Error(`--${repeated} is given more than once; give it once`);
    return true;
  };

const clientOptions = {
  url: { type: 'string', default: DEFAULT_URL, describe: 'broker WebSocket URL' },
  username: { type: 'string', describe: 'username, when the broker has users configured' },
  password: { type: 'string', describe: 'password for --username' },
  token: {
    type: 'string',
    describe: 'a JWT to log in with instead of --username/--password; when absent, $WARREN_TOKEN is used (unless --username or --password is given), which keeps the token out of the shell history and ps',
  },
  vhost: { type: 'string', describe: 'the vhost to work in (default "/")' },
} as const;

await yargs(hideBin(process.argv))
  .scriptName('warren')
  .version(VERSION)
  .usage('$0 <command> [options]\n\nWarren: a RabbitMQ-style message broker that pushes to browsers and services over WebSockets.')
  .command(
    'serve',
    'run the broker',
    (y) =>
      y
        .option('host', { type: 'string', describe: 'address to listen on (default 127.0.0.1)' })
        .option('port', { type: 'number', describe: 'port to listen on; 0 picks a free one (default 5680)' })
        .option('data-dir', { type: 'string', describe: 'where durable data is kept (default ./data)' })
        .option('config', { type: 'string', describe: 'broker config file (JSON), e.g. config/broker.json' })
        .option('definitions', { type: 'string', describe: 'a RabbitMQ definitions export to declare at start-up (vhost "/")' })
        .option('log-level', { choices: LOG_LEVELS, describe: 'log level (default info)' })
        .option('log-format', { choices: LOG_FORMATS, describe: 'json lines for machines, or pretty lines for a person (default: pretty on a terminal, json otherwise)' })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate file: serve wss:// and https:// only (with --tls-key)' })
        .option('tls-key', { type: 'string', describe: 'PEM private key file of --tls-cert' })
        .check(singleValued('host', 'port', 'data-dir', 'config', 'definitions', 'log-level', 'log-format', 'tls-cert', 'tls-key')),
    (argv) => serve(argv as Parameters<typeof serve>[0]),
  )
  .command(
    'publish',
    'publish a message and wait for the broker to confirm it',
    (y) =>
      y
        .options(clientOptions)
        .option('exchange', { type: 'string', default: '', describe: 'exchange to publish to ("" is the default exchange)' })
        .option('routing-key', { type: 'string', default: '', describe: 'routing key' })
        .option('payload', { type: 'string', demandOption: true, describe: 'message payload: JSON, or else taken as a string (text starting with { or [ must parse, unless --string)' })
        .option('string', { type: 'boolean', default: false, describe: 'send --payload as a string, even when it is JSON' })
        .option('header', { type: 'string', array: true, describe: 'a header as name=value; repeat for more' })
        .option('persistent', { type: 'boolean', default: false, describe: 'mark the message persistent: only persistent messages in durable queues survive a restart' })
        .option('mandatory', { type: 'boolean', default: true, describe: 'a message that reaches no queue is returned, and the command exits 1 (--no-mandatory: drop it silently, as the broker does)' })
        .option('count', { type: 'string', default: '1', describe: 'how many copies to publish' })
        .check(singleValued('url', 'username', 'password', 'token', 'vhost', 'exchange', 'routing-key', 'payload', 'count')),
    (argv) => publish(argv as Parameters<typeof publish>[0]),
  )
  .command(
    'consume',
    'consume from a queue, print each message as a JSON line and ack it',
    (y) =>
      y
        .options(clientOptions)
        .option('queue', { type: 'string', demandOption: true, describe: 'queue to consume from' })
        .option('prefetch', { type: 'string', default: '10', describe: 'unacknowledged messages in flight at most (at least 1)' })
        .option('count', { type: 'string', describe: 'exit after printing this many messages; the prefetch is at most this, and no message that was not printed is acked' })
        .option('requeue', { type: 'boolean', default: false, describe: 'nack with requeue instead of acking (for trying redelivery)' })
        .check(singleValued('url', 'username', 'password', 'token', 'vhost', 'queue', 'prefetch', 'count')),
    (argv) => consume(argv as Parameters<typeof consume>[0]),
  )
  .command(
    'stream',
    'stream read: print the entries of a stream queue as JSON lines',
    (y) =>
      y
        .command(
          'read <queue>',
          "print a stream queue's entries, each as a JSON line with its offset, up to its end when the read started (or --count)",
          (sub) =>
            sub
              .options(clientOptions)
              .positional('queue', { type: 'string', demandOption: true, describe: 'the stream queue' })
              .option('from', { type: 'string', describe: 'where to start: first, last, next, an offset, or an ISO 8601 time (default: first; in a --group, after its committed offset)' })
              .option('count', { type: 'string', describe: 'exit after this many entries, waiting for new ones if need be (default: at the end when the read started)' })
              .option('group', { type: 'string', describe: 'read as this consumer group: each entry printed is acked, which commits it, and a later read resumes after it' })
              .check(singleValued('url', 'username', 'password', 'token', 'vhost', 'from', 'count', 'group')),
          (argv) => streamRead(argv as Parameters<typeof streamRead>[0]),
        )
        .demandCommand(1, 'name a stream command: read'),
    () => undefined,
  )
  .command(
    'hash-password',
    'print a password hash (argon2id on Node 24.7+, scrypt before) (the first line of stdin, or --password) for a definitions user; only the hash goes to stdout',
    (y) =>
      y
        .option('password', { type: 'string', describe: 'the password (seen by ps and kept in the shell history: prefer stdin)' })
        .check(singleValued('password')),
    (argv) => hashPasswordCommand(argv as Parameters<typeof hashPasswordCommand>[0]),
  )
  // list, definitions, queue, policy, close-connection: the management API's client (docs/admin-cli.md).
  .command(adminCommands({ singleValued, tokenOf }))
  .demandCommand(1, 'name a command: serve, publish, consume, stream, hash-password, list, definitions, queue, policy or close-connection')
  .strict()
  .fail((message, error) => {
    // A DefinitionsError (src/app.ts) by name: the app module is loaded only by `serve`.
    if (error instanceof ConfigError || error?.name === 'DefinitionsError') fail(error.message);
    if (error) fail(error.message);
    fail(`${message}\nRun "warren --help" for the commands and options.`);
  })
  .help()
  .parseAsync();
