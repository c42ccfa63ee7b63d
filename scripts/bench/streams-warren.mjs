// bench-streams.mjs's driver for Warren, over its raw JSON protocol as the bench's client speaks
// it (clients/warren.mjs): publishes batched 50 per WebSocket message with ids (an `ok` per
// publish is its confirm), consumers acking `multiple` once per WebSocket message received,
// `fetch` requests for the pull. docs/protocol.md, "Stream queues".
import { WarrenConnection } from './clients/warren.mjs';
import { drained, HIGH_WATER } from './clients/ws-socket.mjs';
import { body } from './payload.mjs';
import { now, sleep, waiter } from './streams-wait.mjs';

export function warrenDriver(url) {
  const open = (name) => WarrenConnection.open(url, name);

  return {
    name: 'Warren',

    async declare(queue) {
      const c = await open('bench-streams-admin');
      await c.request({ op: 'queue.declare', queue, durable: true, arguments: { 'x-queue-type': 'stream' } });
      await c.close();
    },

    async remove(queue) {
      const c = await open('bench-streams-admin');
      await c.request({ op: 'queue.delete', queue });
      await c.close();
    },

    /**
     * Publishes `count` payloads of `size` bytes, at most `window` unconfirmed; resolves when the
     * last is confirmed (or nothing moved for `stallMs`) with the time from the first publish.
     */
    async write(queue, { count, size, window, batch = 50, stallMs = 30_000, firstSeq = 0 }) {
      const c = await open('bench-streams-publisher');
      let sent = 0;
      let confirmed = 0;
      let nacked = 0;
      const wait = waiter();
      c.onConfirm = (ok) => {
        confirmed++;
        if (!ok) nacked++;
        if (sent - confirmed <= window - batch || confirmed === sent) wait.wake();
      };
      const head = `{"op":"publish","exchange":"","routingKey":${JSON.stringify(queue)},"properties":{"persistent":true}`;
      const ws = c.ws;
      const t0 = now();
      while (sent < count) {
        const room = Math.min(window - (sent - confirmed), count - sent);
        if (room < Math.min(batch, count - sent)) {
          if (!(await wait.until(() => window - (sent - confirmed) >= Math.min(batch, count - sent), () => confirmed, stallMs))) break;
          continue;
        }
        if (ws.bufferedAmount > HIGH_WATER) {
          await drained(ws);
          continue;
        }
        for (let i = 0; i < room; i += batch) {
          const frames = [];
          for (let j = i; j < Math.min(room, i + batch); j++) {
            frames.push(`${head},"id":${c.nextId++},"payload":${body(firstSeq + sent + j, size)}}`);
          }
          ws.send(frames.length === 1 ? frames[0] : `[${frames.join(',')}]`);
        }
        sent += room;
        await new Promise(setImmediate);
      }
      await wait.until(() => confirmed >= sent, () => confirmed, stallMs);
      const ms = now() - t0;
      await c.close();
      return { ms, sent, confirmed, errors: nacked + c.errors, lastError: c.lastError };
    },

    /**
     * Push readers, one connection each: reader i consumes from `starts[i]` with `prefetch` and
     * acks until it has had the `count` entries from its start; then it stops acking. Resolves
     * when every reader is done (or nothing moved for `stallMs`).
     */
    async read(queue, { starts, count, prefetch, stallMs = 30_000 }) {
      const readers = [];
      for (const start of starts) readers.push({ start, got: 0, doneAt: 0, c: await open('bench-streams-reader') });
      const wait = waiter();
      let total = 0;
      let done = 0;
      for (const reader of readers) {
        const end = reader.start + count;
        let lastTag = 0;
        let ackedTag = 0;
        reader.c.onDeliver = (frame) => {
          const offset = frame.headers['x-stream-offset'];
          lastTag = frame.deliveryTag;
          if (offset >= reader.start && offset < end && reader.doneAt === 0) {
            total++;
            if (++reader.got === count) {
              reader.doneAt = now();
              done++;
              wait.wake();
            }
          }
        };
        reader.c.onBatchEnd = () => {
          if (reader.doneAt === 0 && lastTag > ackedTag) {
            reader.c.ws.send(`{"op":"ack","deliveryTag":${lastTag},"multiple":true}`);
            ackedTag = lastTag;
          }
        };
      }
      const t0 = now();
      await Promise.all(readers.map((r) => r.c.request({ op: 'consume', queue, prefetch, arguments: { 'x-stream-offset': r.start } })));
      await wait.until(() => done === readers.length, () => total, stallMs);
      const ms = Math.max(...readers.map((r) => (r.doneAt || now()))) - t0;
      const errors = readers.reduce((sum, r) => sum + r.c.errors, 0);
      const lastError = readers.map((r) => r.c.lastError).find(Boolean);
      await Promise.all(readers.map((r) => r.c.close()));
      return { ms, delivered: total, expected: count * readers.length, stalled: readers.filter((r) => r.doneAt === 0).length, errors, lastError };
    },

    /** One reader pulling `count` entries from `start` with fetches of `max`, one at a time. */
    async pull(queue, { start, count, max, stallMs = 30_000 }) {
      const c = await open('bench-streams-fetcher');
      let next = start;
      let got = 0;
      let idleSince = now();
      const t0 = now();
      while (got < count) {
        const reply = await c.request({ op: 'fetch', queue, offset: next, max: Math.min(max, count - got) });
        const messages = reply.messages;
        if (messages.length === 0) {
          if (now() - idleSince > stallMs) break;
          await sleep(5);
          continue;
        }
        idleSince = now();
        got += messages.length;
        next = messages[messages.length - 1].offset + 1;
      }
      const ms = now() - t0;
      await c.close();
      return { ms, delivered: got, expected: count, stalled: got < count ? 1 : 0, errors: c.errors, lastError: c.lastError };
    },

    /**
     * Many push readers on few connections (`perConnection` consumers each), reader i from
     * `starts[i]` with `prefetch`. They ack nothing (each holds its prefetch) until
     * startAcking(); from then on every delivery (one `ack multiple` per WebSocket message).
     * Returns the per-reader counts, startAcking() and close().
     */
    async attach(queue, { starts, prefetch, perConnection }) {
      const counts = new Array(starts.length).fill(0);
      const connections = [];
      const ackers = [];
      let acking = false;
      for (let first = 0; first < starts.length; first += perConnection) {
        const c = await open('bench-streams-many');
        const indexOf = new Map();
        let lastTag = 0;
        let ackedTag = 0;
        c.onDeliver = (frame) => {
          counts[indexOf.get(frame.consumerTag)]++;
          lastTag = frame.deliveryTag;
        };
        c.onBatchEnd = () => {
          if (acking && lastTag > ackedTag) {
            c.ws.send(`{"op":"ack","deliveryTag":${lastTag},"multiple":true}`);
            ackedTag = lastTag;
          }
        };
        ackers.push(c.onBatchEnd);
        const frames = [];
        for (let i = first; i < Math.min(starts.length, first + perConnection); i++) {
          indexOf.set(`r${i}`, i);
          frames.push({ op: 'consume', queue, consumerTag: `r${i}`, prefetch, arguments: { 'x-stream-offset': starts[i] } });
        }
        await c.requestAll(frames);
        connections.push(c);
      }
      return {
        counts,
        startAcking() {
          acking = true;
          for (const ack of ackers) ack();
        },
        errors: () => connections.reduce((sum, c) => sum + c.errors, 0),
        lastError: () => connections.map((c) => c.lastError).find(Boolean),
        close: () => Promise.all(connections.map((c) => c.close())),
      };
    },
  };
}
