#!/usr/bin/env node
// The notification fan-out example (docs/notifications-example.md), in one command:
//
//   npm run example:notifications [-- --help]      (builds, then runs this file)
//
// Starts a Warren broker (a child process), a small web app whose page signs a user in with a token
// that allows only that user's notifications, and the backend traffic: three services publishing
// 60 msg/s in all into a work queue that a worker drains at 15 msg/s, forwarding each notification
// to its user's browsers. Ctrl-C (or --duration) stops everything, the broker last.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ADMIN_USER, BACKEND_USER, brokerConfig, INCOMING_EXCHANGE, startBroker, WORK_QUEUE } from './broker.mjs';
import { SERVICES, startProducer, WORKER } from './producer.mjs';
import { DELIVERY_EXCHANGE, tokenSigner, USER_ID } from './tokens.mjs';
import { startWebServer } from './web-server.mjs';

const HELP = `Usage: node examples/notifications/run.mjs [options]

  --port <n>          the page's port (default 5690; 0 picks a free one)
  --broker-port <n>   the broker's port, with its dashboard (default 5691; 0 picks a free one)
  --users <ids>       the user ids the services notify, comma-separated (default 41,42,43,44,45)
  --worker-rate <n>   messages per second the worker forwards (default ${WORKER.rate}; above 60 the backlog drains)
  --token-ttl <s>     the page's tokens' lifetime in seconds (default 300)
  --duration <s>      stop after this many seconds (default: run until Ctrl-C)
  --data-dir <path>   keep the broker's data there (default: a temp dir, removed at exit)
  --help`;

const options = parseOptions();
const run = await mkdtemp(join(tmpdir(), 'warren-notifications-'));
const dataDir = options.dataDir ?? join(run, 'data');
const backendPassword = randomBytes(18).toString('base64url');
const adminPassword = randomBytes(9).toString('base64url');
const secret = randomBytes(32).toString('base64url');

let web;
let broker;
let producer;
let status;
let stopping = null;

/** The web app first (the broker must know its origin), then the broker, then the producer. */
const starting = (async () => {
  web = await startWebServer({ port: options.port, users: options.users, signToken: tokenSigner(secret, options.tokenTtl) });
  // Only the page's origin may open a socket from a browser (docs/security.md, "Transport security").
  const origins = [`http://127.0.0.1:${web.port}`, `http://localhost:${web.port}`];
  broker = await startBroker({
    config: brokerConfig({ secret, origins, backendPassword, adminPassword }),
    configFile: join(run, 'broker.json'),
    dataDir,
    port: options.brokerPort,
  });
  void broker.exited.then((code) => {
    if (stopping) return;
    report(new Error(`the broker exited (code ${code}); stopping`));
    void stop(1);
  });
  web.setBrokerUrl(broker.url);
  producer = await startProducer({
    url: broker.url,
    username: BACKEND_USER,
    password: backendPassword,
    users: options.users,
    workerRate: options.workerRate,
    onError: (error) => stopping || report(error),
  });
})();

/** Stops the producer, then the web app, then the broker, and removes the temp dir; once. */
function stop(code) {
  stopping ??= (async () => {
    // A signal during start-up: let it finish first, so that nothing it starts is left running.
    await starting.catch(() => {});
    clearInterval(status);
    await producer?.stop().catch(report);
    await web?.close().catch(report);
    await broker?.stop().catch(report);
    await rm(run, { recursive: true, force: true });
    process.exitCode = code;
  })();
  return stopping;
}

function report(error) {
  process.stderr.write(`${error.message ?? error}\n`);
}

// A second signal exits at once.
process.on('SIGINT', () => (stopping ? process.exit(1) : stop(0)));
process.on('SIGTERM', () => (stopping ? process.exit(1) : stop(0)));

try {
  await starting;
} catch (error) {
  report(error);
  await stop(1);
}

if (!stopping) {
  const rates = SERVICES.map((service) => `${service.name} ${service.rate}/s`).join(', ');
  process.stdout.write(`Warren notification fan-out example
  Page:       ${web.url}   (sign in as ${options.users.join(', ')}; one tab per user)
  Dashboard:  ${broker.httpUrl}/   (user ${ADMIN_USER}, password ${adminPassword})
  Broker:     ${broker.url}   (pid ${broker.pid}; data in ${dataDir})
  Traffic:    ${rates} -> ${INCOMING_EXCHANGE} -> ${WORK_QUEUE} -> worker ${options.workerRate}/s (prefetch ${WORKER.prefetch}) -> ${DELIVERY_EXCHANGE} -> browsers
${options.duration > 0 ? `Stops after ${options.duration} s.` : 'Ctrl-C stops everything.'}
`);
  const started = Date.now();
  status = setInterval(async () => {
    const backlog = await producer.backlog().catch(() => '?');
    const seconds = Math.round((Date.now() - started) / 1000);
    process.stdout.write(`${String(seconds).padStart(5)} s  published ${producer.counts.published}, forwarded ${producer.counts.handled}, ${WORK_QUEUE}: ${backlog} waiting\n`);
  }, 5000);
  if (options.duration > 0) setTimeout(() => void stop(0), options.duration * 1000).unref();
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '5690' },
        'broker-port': { type: 'string', default: '5691' },
        users: { type: 'string', default: '41,42,43,44,45' },
        'worker-rate': { type: 'string', default: String(WORKER.rate) },
        'token-ttl': { type: 'string', default: '300' },
        duration: { type: 'string', default: '0' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    fail(error.message);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const users = values.users.split(',').map((id) => id.trim());
  const bad = users.find((id) => !USER_ID.test(id));
  if (bad !== undefined) fail(`--users: "${bad}" is not a user id (1 to 64 letters, digits, "-" or "_")`);
  return {
    port: number('--port', values.port, 0, 65535),
    brokerPort: number('--broker-port', values['broker-port'], 0, 65535),
    users,
    workerRate: number('--worker-rate', values['worker-rate'], 1, 10_000),
    tokenTtl: number('--token-ttl', values['token-ttl'], 2, 86_400),
    duration: number('--duration', values.duration, 0, 1e6),
    dataDir: values['data-dir'] === undefined ? undefined : resolve(values['data-dir']),
  };
}

function number(flag, text, min, max) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) fail(`${flag}: expected an integer from ${min} to ${max}, got "${text}"`);
  return value;
}

function fail(message) {
  process.stderr.write(`${message}\n\n${HELP}\n`);
  process.exit(2);
}
