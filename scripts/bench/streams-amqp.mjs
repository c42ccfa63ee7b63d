// bench-streams.mjs's driver for RabbitMQ streams over AMQP 0-9-1 with amqplib (as
// clients/amqp.mjs: Nagle off, guest/guest on localhost): a durable `x-queue-type: stream` queue,
// a confirm channel publishing persistent messages, consumers with basic.qos prefetch and
// `x-stream-offset`, acking `multiple` once per event-loop turn (RabbitMQ needs acks on a
// stream consumer: they are its credit).
import amqp from 'amqplib';
import { AMQP_URL } from './clients/amqp.mjs';
import { body } from './payload.mjs';
import { now, waiter } from './streams-wait.mjs';

const connect = () => amqp.connect(AMQP_URL, { noDelay: true });

/**
 * Acks a channel's deliveries (`multiple`) once per event-loop turn while `active()`; while it is
 * not, the last delivery is kept, and `flush()` acks it (with all before it) once it is.
 */
function batchedAcks(channel, active = () => true) {
  let last;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (last && active()) {
      channel.ack(last, true);
      last = undefined;
    }
  };
  return {
    flush,
    onMessage(message) {
      last = message;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

export function amqpDriver() {
  return {
    name: 'RabbitMQ',

    async declare(queue) {
      const connection = await connect();
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'stream' } });
      await connection.close();
    },

    async remove(queue) {
      const connection = await connect();
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue);
      await connection.close();
    },

    async write(queue, { count, size, window, batch = 50, stallMs = 30_000, firstSeq = 0 }) {
      const connection = await connect();
      const channel = await connection.createConfirmChannel();
      let errors = 0;
      let lastError;
      connection.on('error', (error) => {
        errors++;
        lastError ??= error.message;
      });
      let sent = 0;
      let confirmed = 0;
      const wait = waiter();
      const onConfirm = (error) => {
        confirmed++;
        if (error) errors++;
        if (sent - confirmed <= window - batch || confirmed === sent) wait.wake();
      };
      let full = false;
      const options = { persistent: true };
      const t0 = now();
      while (sent < count) {
        const room = Math.min(window - (sent - confirmed), count - sent);
        if (room < Math.min(batch, count - sent)) {
          if (!(await wait.until(() => window - (sent - confirmed) >= Math.min(batch, count - sent), () => confirmed, stallMs))) break;
          continue;
        }
        if (full) {
          await new Promise((resolve) => channel.once('drain', resolve));
          full = false;
          continue;
        }
        for (let i = 0; i < room; i++) {
          if (!channel.publish('', queue, Buffer.from(body(firstSeq + sent + i, size)), options, onConfirm)) full = true;
        }
        sent += room;
        await new Promise(setImmediate);
      }
      await wait.until(() => confirmed >= sent, () => confirmed, stallMs);
      const ms = now() - t0;
      await connection.close();
      return { ms, sent, confirmed, errors, lastError };
    },

    async read(queue, { starts, count, prefetch, stallMs = 30_000 }) {
      const readers = [];
      for (const start of starts) {
        const connection = await connect();
        const channel = await connection.createChannel();
        await channel.prefetch(prefetch);
        readers.push({ start, got: 0, doneAt: 0, connection, channel });
      }
      const wait = waiter();
      let total = 0;
      let done = 0;
      const t0 = now();
      await Promise.all(
        readers.map((reader) => {
          const end = reader.start + count;
          const acks = batchedAcks(reader.channel, () => reader.doneAt === 0);
          return reader.channel.consume(
            queue,
            (message) => {
              if (!message) return;
              const offset = message.properties.headers['x-stream-offset'];
              if (offset >= reader.start && offset < end && reader.doneAt === 0) {
                total++;
                if (++reader.got === count) {
                  reader.doneAt = now();
                  done++;
                  wait.wake();
                }
              }
              acks.onMessage(message);
            },
            { noAck: false, arguments: { 'x-stream-offset': reader.start } },
          );
        }),
      );
      await wait.until(() => done === readers.length, () => total, stallMs);
      const ms = Math.max(...readers.map((r) => r.doneAt || now())) - t0;
      await Promise.all(readers.map((r) => r.connection.close()));
      return { ms, delivered: total, expected: count * readers.length, stalled: readers.filter((r) => r.doneAt === 0).length, errors: 0 };
    },

    async attach(queue, { starts, prefetch, perConnection }) {
      const counts = new Array(starts.length).fill(0);
      const connections = [];
      const ackers = [];
      let acking = false;
      let errors = 0;
      let lastError;
      for (let first = 0; first < starts.length; first += perConnection) {
        const connection = await connect();
        connection.on('error', (error) => {
          errors++;
          lastError ??= error.message;
        });
        const channel = await connection.createChannel();
        await channel.prefetch(prefetch); // per consumer (global false)
        const acks = batchedAcks(channel, () => acking);
        ackers.push(acks);
        const consumes = [];
        for (let i = first; i < Math.min(starts.length, first + perConnection); i++) {
          const handler = (message) => {
            if (!message) return;
            counts[i]++;
            acks.onMessage(message);
          };
          consumes.push(channel.consume(queue, handler, { noAck: false, consumerTag: `r${i}`, arguments: { 'x-stream-offset': starts[i] } }));
        }
        await Promise.all(consumes);
        connections.push(connection);
      }
      return {
        counts,
        startAcking() {
          acking = true;
          for (const acks of ackers) acks.flush();
        },
        errors: () => errors,
        lastError: () => lastError,
        close: () => Promise.all(connections.map((c) => c.close())),
      };
    },
  };
}
