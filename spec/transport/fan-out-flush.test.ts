import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { Session, type SessionContext } from '../../src/transport/session.js';

/** A socket that records what is sent to it; writes complete at once. */
function recordingSocket(sent: string[]): WebSocket {
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send: (data: string, callback?: (error?: Error) => void) => {
      sent.push(data);
      callback?.();
    },
    pause: () => {},
    resume: () => {},
    close: () => {},
  };
  return socket as unknown as WebSocket;
}

const frame = (value: object): Buffer => Buffer.from(JSON.stringify(value));
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('transport - wide fan-out', () => {
  it('transport - a fan-out to many sockets starts writing before it has built every frame, and each gets its delivery once', async () => {
    const broker = await Broker.open(new MemoryStore());
    const context: SessionContext = { broker, users: [], highWaterBytes: 1 << 20, drainTimeoutMs: 60_000, flow: { alarm: null }, serverVersion: 'test', logger: pino({ level: 'silent' }) };
    const publisher = new Session(recordingSocket([]), 'publisher', context, '127.0.0.1');
    publisher.onMessage(frame([{ op: 'connect', id: 1, version: 1 }, { op: 'exchange.declare', id: 2, exchange: 'wide', type: 'fanout', durable: false }]), false);
    const outputs: string[][] = [];
    for (let i = 0; i < 600; i++) {
      const sent: string[] = [];
      outputs.push(sent);
      const subscriber = new Session(recordingSocket(sent), `s${i}`, context, '127.0.0.1');
      subscriber.onMessage(
        frame([
          { op: 'connect', id: 1, version: 1 },
          { op: 'queue.declare', id: 2, queue: `wide.${i}`, durable: false },
          { op: 'queue.bind', id: 3, queue: `wide.${i}`, exchange: 'wide' },
          { op: 'consume', id: 4, queue: `wide.${i}`, noAck: true },
        ]),
        false,
      );
    }
    await nextTurn();
    for (const sent of outputs) sent.length = 0;

    publisher.onMessage(frame({ op: 'publish', exchange: 'wide', payload: { n: 1 } }), false);
    // Still inside the turn of the publish: the first sockets have theirs already.
    const early = outputs.filter((sent) => sent.length > 0).length;
    expect(early).toBeGreaterThanOrEqual(256);
    expect(early).toBeLessThan(600);
    await nextTurn();
    const deliveries = outputs.map((sent) => sent.flatMap((text) => [JSON.parse(text)].flat()).filter((f: { op: string }) => f.op === 'deliver').length);
    expect(deliveries.every((count) => count === 1)).toBe(true);
  });
});
