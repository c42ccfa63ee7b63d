// RabbitMQ over AMQP 0-9-1 with amqplib, tuned as the issue asks: Nagle off (`noDelay`),
// basic.qos prefetch per consumer, acks `multiple` once per event-loop turn, confirms through
// a ConfirmChannel's callbacks.
import amqp from 'amqplib';

export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

const connectAmqp = () => amqp.connect(AMQP_URL, { noDelay: true });

/** Same topology shape as Warren's setupTopology; returns a function that deletes it again. */
export async function setupTopology(topology) {
  const connection = await connectAmqp();
  const channel = await connection.createChannel();
  for (const [name, type, durable] of topology.exchanges) await channel.assertExchange(name, type, { durable });
  for (const [name, durable] of topology.queues) await channel.assertQueue(name, { durable });
  for (const [queue, exchange, key] of topology.bindings) await channel.bindQueue(queue, exchange, key);
  await connection.close();
  return async () => {
    const cleaner = await connectAmqp();
    const ch = await cleaner.createChannel();
    for (const [name] of topology.queues) await ch.deleteQueue(name);
    for (const [name] of topology.exchanges) await ch.deleteExchange(name);
    await cleaner.close();
  };
}

export async function openPublisher(_url, { exchange, persistent = false, confirm = false }, onConfirm) {
  const connection = await connectAmqp();
  const channel = confirm ? await connection.createConfirmChannel() : await connection.createChannel();
  let errors = 0;
  let full = false;
  channel.on('drain', () => (full = false));
  const options = { persistent };
  const confirmed = (error) => {
    if (error) errors++;
    onConfirm?.(!error);
  };
  return {
    send(keys, bodies) {
      for (let i = 0; i < bodies.length; i++) {
        const content = Buffer.from(bodies[i]);
        const ok = confirm ? channel.publish(exchange, keys[i], content, options, confirmed) : channel.publish(exchange, keys[i], content, options);
        if (!ok) full = true;
      }
    },
    backlogged: () => full,
    drain: () => (full ? new Promise((resolve) => channel.once('drain', resolve)) : Promise.resolve()),
    errors: () => errors,
    close: () => connection.close(),
  };
}

export async function openConsumer(_url, queues, { prefetch = 100, noAck = false }, sink) {
  const connection = await connectAmqp();
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  let last;
  let scheduled = false;
  const settle = () => {
    scheduled = false;
    if (last && !noAck) channel.ack(last, true);
    last = undefined;
    sink.flush();
  };
  for (const queue of queues) {
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        sink.received(JSON.parse(message.content.toString()).t);
        last = message;
        if (!scheduled) {
          scheduled = true;
          setImmediate(settle);
        }
      },
      { noAck },
    );
  }
  return { errors: () => 0, close: () => connection.close() };
}
