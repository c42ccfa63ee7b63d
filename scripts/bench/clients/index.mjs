// The client module of each target: warren (raw protocol), relay (bare ws ceiling),
// amqp (RabbitMQ, amqplib), stomp (RabbitMQ Web-STOMP, stompjs) and wstomp (Warren over STOMP:
// the same stompjs client as stomp, on Warren's /ws). Each exports
// openPublisher(url, options, onConfirm) and openConsumer(url, queues, options, sink); warren
// and relay also openSubscriber (S5).
const MODULES = { wstomp: 'stomp' };
export const clientFor = (target) => import(`./${MODULES[target] ?? target}.mjs`);

/** Declares the scenario's topology where the target has one; returns a cleanup function. */
export async function setupTopology(target, url, topology) {
  if (target === 'warren' || target === 'wstomp') {
    const { setupTopology: setup } = await import('./warren.mjs');
    await setup(url, topology);
    return async () => {};
  }
  if (target === 'amqp' || target === 'stomp') {
    const { setupTopology: setup } = await import('./amqp.mjs');
    return setup(topology);
  }
  return async () => {}; // the relay has rooms, not topology
}
