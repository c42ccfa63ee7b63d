// The example's broker: Warren's CLI (`node dist/cli.js serve`) in a child process, with the config
// of docs/security.md's worked example plus a work queue in front of it (docs/notifications-example.md).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DELIVERY_EXCHANGE } from './tokens.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Where the services publish: a topic exchange, routing keys `user.<id>.<kind>`. */
export const INCOMING_EXCHANGE = 'notify.incoming';
/** The durable queue the worker consumes, bound to {@link INCOMING_EXCHANGE} with `user.#`. */
export const WORK_QUEUE = 'notify.work';
/** The backlog's bound: at 45 msg/s it is reached after about 37 minutes; then the oldest go first. */
const WORK_QUEUE_MAX_LENGTH = 100_000;
/** The producer's user. */
export const BACKEND_USER = 'backend';
/** The dashboard's user. */
export const ADMIN_USER = 'admin';

/**
 * The broker's config: JWT login with `secret`, browsers from `origins` only, a `backend` user that
 * may publish to the two exchanges and read the work queue and nothing else, and an administrator
 * for the dashboard.
 * @param {{ secret: string, origins: string[], backendPassword: string, adminPassword: string }} settings
 */
export function brokerConfig({ secret, origins, backendPassword, adminPassword }) {
  return {
    server: { host: '127.0.0.1', allowedOrigins: origins },
    auth: { jwt: { secret } },
    // A plain config user is an administrator with full permissions: the dashboard's.
    users: [{ username: ADMIN_USER, password: adminPassword }],
    definitions: {
      exchanges: [
        { name: INCOMING_EXCHANGE, type: 'topic', durable: true },
        { name: DELIVERY_EXCHANGE, type: 'topic', durable: true },
      ],
      queues: [{ name: WORK_QUEUE, durable: true, arguments: { 'x-max-length': WORK_QUEUE_MAX_LENGTH } }],
      bindings: [{ source: INCOMING_EXCHANGE, destination: WORK_QUEUE, destination_type: 'queue', routing_key: 'user.#' }],
      users: [{ name: BACKEND_USER, password_hash: rabbitSha256(backendPassword), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] }],
      permissions: [{ user: BACKEND_USER, vhost: '/', configure: '', write: `^(${escape(INCOMING_EXCHANGE)}|${escape(DELIVERY_EXCHANGE)})$`, read: `^${escape(WORK_QUEUE)}$` }],
    },
  };
}

/**
 * @typedef {object} Broker
 * @property {string} url the WebSocket URL
 * @property {string} httpUrl the dashboard's and the management API's
 * @property {number} pid
 * @property {Promise<number | null>} exited resolves with the exit code when the broker exits, for whatever reason
 * @property {() => Promise<void>} stop a graceful shutdown (SIGTERM), then waits for the exit
 */

/**
 * Writes `config` to `configFile` and starts the built CLI with it; resolves once it listens.
 * The broker runs in its own process group, so that a Ctrl-C at the terminal reaches only the
 * example, which then stops the producer before the broker (a second signal would make the
 * broker exit at once).
 * @param {{ config: object, configFile: string, dataDir: string, port: number }} options
 * @returns {Promise<Broker>}
 */
export async function startBroker({ config, configFile, dataDir, port }) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile, '--data-dir', dataDir, '--port', String(port), '--log-format', 'json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  // Should the example die of an error, the broker goes too (a SIGKILL of the example leaves it running: kill its pid).
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }),
  );
  const listening = await new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`the broker exited with code ${code} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'listening') resolve(entry);
      // Warnings and errors are for the person running the example; the rest is routine.
      else if (entry.level >= 40) process.stderr.write(`broker: ${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}\n`);
    });
  });
  return {
    url: listening.url,
    httpUrl: listening.management.replace(/\/api$/, ''),
    pid: child.pid,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A password hash as RabbitMQ makes it (`rabbit_password_hashing_sha256`): 4 salt bytes, then SHA-256(salt + password), in base64. */
function rabbitSha256(password) {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash('sha256').update(salt).update(password, 'utf8').digest()]).toString('base64');
}

/** `name` as a literal in a regular expression. */
function escape(name) {
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
