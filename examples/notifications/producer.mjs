// The example's backend traffic (docs/notifications-example.md): three services that publish
// notifications faster than the one worker that delivers them can keep up with, so the work queue
// between them grows, as it does when a provider slows down or a burst comes in.
import { performance } from 'node:perf_hooks';
import { connect } from 'warren';
import { INCOMING_EXCHANGE, WORK_QUEUE } from './broker.mjs';
import { DELIVERY_EXCHANGE } from './tokens.mjs';

const { AbortController } = globalThis;

/** The services: their rates add up to 60 msg/s. */
export const SERVICES = [
  { name: 'orders', kind: 'order', rate: 10, text: (n) => `Your order #${n} has shipped` },
  { name: 'comments', kind: 'comment', rate: 20, text: (n) => `Someone replied to your post (comment #${n})` },
  { name: 'likes', kind: 'like', rate: 30, text: (n) => `Your photo got a like (#${n})` },
];

/** The worker's defaults: it forwards 15 msg/s, holding at most 10 unacknowledged deliveries. */
export const WORKER = { rate: 15, prefetch: 10 };

/**
 * @typedef {object} Producer
 * @property {{ published: number, handled: number }} counts
 * @property {() => Promise<number>} backlog the work queue's ready messages now
 * @property {() => Promise<void>} stop stops publishing and closes the connections (the worker's unacknowledged deliveries go back to the queue)
 */

/**
 * Starts the services and the worker, each on its own connection as user `username`.
 * - Each service publishes persistent messages to `notify.incoming` with routing key
 *   `user.<id>.<kind>`, for the users in turn, at its rate, and waits for each confirm.
 * - The worker consumes `notify.work` with `prefetch`, and `workerRate` times a second republishes
 *   a message to `notifications` with the same routing key (which the browsers bind from), then acks it.
 * @param {{ url: string, username: string, password: string, users: string[], workerRate?: number, prefetch?: number, onError?: (error: Error) => void }} options
 * @returns {Promise<Producer>}
 */
export async function startProducer({ url, username, password, users, workerRate = WORKER.rate, prefetch = WORKER.prefetch, onError = () => {} }) {
  const stopping = new AbortController();
  const counts = { published: 0, handled: 0 };
  const clients = [];
  const open = async (clientName) => {
    const client = await connect(url, { username, password, clientName });
    clients.push(client);
    client.on('error', onError);
    client.on('close', (event) => {
      if (!event.byClient) onError(new Error(`${clientName}: the broker closed the connection (${event.code} ${event.reason})`));
    });
    return client;
  };
  /** The paced loops; each reports its error (a refused publish, a closed connection) and ends. */
  const loops = [];
  try {
    for (const service of SERVICES) {
      const client = await open(`service-${service.name}`);
      loops.push(
        paced(service.rate, stopping.signal, async (n) => {
          const user = users[n % users.length];
          const payload = { id: `${service.name}-${n}`, service: service.name, kind: service.kind, user, text: service.text(n), publishedAt: Date.now() };
          await client.publish(INCOMING_EXCHANGE, `user.${user}.${service.kind}`, payload, { properties: { persistent: true } });
          counts.published++;
        }).catch(onError),
      );
    }

    const worker = await open('notification-worker');
    // What the broker pushed and the worker has not handled yet: at most `prefetch`.
    const inbox = [];
    let wake = null;
    await worker.consume(
      WORK_QUEUE,
      (message) => {
        inbox.push(message);
        wake?.();
      },
      { prefetch },
    );
    // The next delivery; undefined when woken by stop() instead.
    const next = () => inbox.shift() ?? new Promise((resolve) => (wake = () => ((wake = null), resolve(inbox.shift()))));
    loops.push(
      paced(workerRate, stopping.signal, async () => {
        const message = await next();
        if (message === undefined) return;
        // Forwarded, then acknowledged: a worker that dies in between delivers it twice rather than never.
        await worker.publish(DELIVERY_EXCHANGE, message.routingKey, { ...message.payload, handledAt: Date.now() });
        message.ack();
        counts.handled++;
      }).catch(onError),
    );

    return {
      counts,
      backlog: async () => (await worker.declareQueue(WORK_QUEUE, { passive: true })).messageCount,
      stop: async () => {
        stopping.abort();
        wake?.();
        await Promise.all(loops);
        await Promise.allSettled(clients.map((client) => client.close()));
      },
    };
  } catch (error) {
    stopping.abort();
    await Promise.allSettled(clients.map((client) => client.close()));
    throw error;
  }
}

/**
 * Calls `send(n)` for n = 0, 1, 2... at `rate` per second, one after the other, until `signal`
 * aborts; the n-th call is due n / rate seconds after the start, so the rate holds on average
 * however long each call takes. After a stall of more than a second it starts counting afresh
 * rather than catch up in a burst. An error from `send` ends the loop and rejects.
 */
async function paced(rate, signal, send) {
  const interval = 1000 / rate;
  let start = performance.now();
  for (let n = 0, due = 0; !signal.aborted; n++, due++) {
    const wait = start + due * interval - performance.now();
    if (wait < -1000) {
      start = performance.now();
      due = 0;
    } else if (wait > 0) {
      await sleep(wait, signal);
    }
    if (signal.aborted) return;
    try {
      await send(n);
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
