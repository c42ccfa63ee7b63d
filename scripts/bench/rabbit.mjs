// Is a RabbitMQ on localhost to compare with? AMQP on 5672, Web-STOMP on 15674 (see
// docs/performance.md for installing and starting Debian's rabbitmq-server).
import { connect } from 'node:net';

function reachable(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** { amqp, stomp, version, note }: which protocols answer, and a sentence when one does not. */
export async function probeRabbit() {
  const [amqp, stomp] = await Promise.all([reachable(5672), reachable(15674)]);
  let version;
  if (amqp) {
    try {
      const { default: amqplib } = await import('amqplib');
      const connection = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672');
      version = String(connection.connection.serverProperties?.version ?? '');
      await connection.close();
    } catch (error) {
      return { amqp: false, stomp: false, note: `RabbitMQ answers on 5672 but AMQP login as guest failed (${error.message}): comparison skipped` };
    }
  }
  const missing = [!amqp && 'AMQP on 127.0.0.1:5672', !stomp && 'Web-STOMP on 127.0.0.1:15674'].filter(Boolean);
  const note = missing.length ? `RabbitMQ not reachable (${missing.join(', ')}): those columns are skipped; see docs/performance.md to install and start it` : undefined;
  return { amqp, stomp, version, note };
}
