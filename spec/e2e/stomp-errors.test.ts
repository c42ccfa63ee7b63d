import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, startBroker, type RunningBroker } from './harness.js';
import { RawStomp, StompPeer } from './stomp-peer.js';

// Bad STOMP input: an ERROR frame whose message says what to change, then the close STOMP asks
// for; other connections carry on (docs/stomp.md, "Errors").

const LIMIT = 16 * 1024;
let broker: RunningBroker;
let bystander: StompPeer;

beforeAll(async () => {
  broker = await startBroker({ users: [{ username: 'guest', password: 'guest' }], server: { maxMessageBytes: LIMIT } });
  bystander = await StompPeer.connect(broker.url);
});
afterAll(async () => {
  await bystander.close();
  await broker.stop();
});

/** Sends `text` on a fresh connected socket; returns its ERROR frame and close code. */
async function errorFor(text: string | Buffer | (string | Buffer)[]): Promise<{ message: string; headers: Record<string, string>; body: string; code: number }> {
  const peer = await RawStomp.connected(broker.url);
  for (const chunk of Array.isArray(text) ? text : [text]) peer.send(chunk);
  const error = await peer.waitFor('ERROR');
  const code = await peer.waitForClose();
  return { message: error.headers.message, headers: error.headers, body: error.body, code };
}

describe('stomp - bad input', () => {
  it('stomp - an unknown command', async () => {
    const error = await errorFor('PUBLISH\ndestination:/queue/a\n\nhi\0');
    expect(error.message).toMatch(/unknown STOMP command "PUBLISH"; a client sends CONNECT, STOMP, SEND/);
    expect(error.code).toBe(1002);
    expect(error.body).toContain('PUBLISH');
  });

  it('stomp - a SEND without destination, with the receipt-id of the frame', async () => {
    const error = await errorFor('SEND\nreceipt:r-7\n\nhi\0');
    expect(error.message).toMatch(/SEND needs a destination header, such as \/queue\/<name>/);
    expect(error.headers['receipt-id']).toBe('r-7');
    expect(error.code).toBe(1000);
  });

  it('stomp - a SUBSCRIBE without id', async () => {
    expect((await errorFor('SUBSCRIBE\ndestination:/queue/a\n\n\0')).message).toMatch(/SUBSCRIBE needs an id header/);
  });

  it('stomp - bad destinations', async () => {
    expect((await errorFor('SEND\ndestination:/nowhere/a\n\n\0')).message).toMatch(/destination "\/nowhere\/a" has an unknown type; use \/queue\/<name>/);
    expect((await errorFor('SUBSCRIBE\nid:1\ndestination:queue-without-slash\n\n\0')).message).toMatch(/is not a valid destination/);
    expect((await errorFor('SEND\ndestination:/queue/a/b\n\n\0')).message).toMatch(/must have the form \/queue\/<name>/);
    expect((await errorFor('SEND\ndestination:/exchange/missing/key\n\n\0')).message).toMatch(/exchange "missing" does not exist/);
    expect((await errorFor('SUBSCRIBE\nid:1\ndestination:/amq/queue/missing\n\n\0')).message).toMatch(/queue "missing" does not exist/);
    expect((await errorFor('SUBSCRIBE\nid:1\ndestination:/temp-queue/mine\n\n\0')).message).toMatch(/subscribed automatically/);
  });

  it('stomp - oversized frames: announced by content-length, or grown over several WebSocket messages', async () => {
    const announced = await errorFor(`SEND\ndestination:/queue/a\ncontent-length:${LIMIT * 4}\n\n`);
    expect(announced.message).toMatch(/larger than 16384 bytes, the limit \(server\.maxMessageBytes\)/);
    expect(announced.code).toBe(1002);
    const half = 'x'.repeat(LIMIT / 2 + 10);
    const grown = await errorFor(['SEND\ndestination:/queue/a\n\n', half, half]);
    expect(grown.message).toMatch(/larger than 16384 bytes/);
    // One WebSocket message over the limit is refused by the WebSocket layer itself, as for the native protocol.
    const peer = await RawStomp.connected(broker.url);
    peer.send(`SEND\ndestination:/queue/a\n\n${'x'.repeat(LIMIT * 2)}\0`);
    expect(await peer.waitForClose()).toBe(1009);
  });

  it('stomp - an invalid header escape', async () => {
    const error = await errorFor('SEND\ndestination:/queue/a\nnote:tab\\there\n\nhi\0');
    expect(error.message).toMatch(/header "note" has "\\t", which is not a STOMP 1.2 escape; the escapes are \\r, \\n, \\c and \\\\/);
    expect(error.code).toBe(1002);
  });

  it('stomp - frames before CONNECT, a second CONNECT, and an unsupported version', async () => {
    const early = await RawStomp.open(broker.url);
    early.send('SEND\ndestination:/queue/a\n\nhi\0');
    expect((await early.waitFor('ERROR')).headers.message).toMatch(/send CONNECT first/);
    await early.waitForClose();
    expect((await errorFor('CONNECT\naccept-version:1.2\n\n\0')).message).toMatch(/already connected/);
    const future = await RawStomp.open(broker.url);
    future.send('CONNECT\naccept-version:2.0\n\n\0');
    expect((await future.waitFor('ERROR')).headers.message).toMatch(/speaks STOMP 1.2, 1.1, 1.0; the client accepts only 2.0/);
  });

  it('stomp - bad values: ack mode, header types, unknown ids and transactions', async () => {
    expect((await errorFor('SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\0')).message).toMatch(/ack must be auto, client or client-individual/);
    expect((await errorFor('SUBSCRIBE\nid:1\ndestination:/queue/a\nprefetch-count:many\n\n\0')).message).toMatch(/prefetch-count must be an integer/);
    expect((await errorFor('SEND\ndestination:/queue/a\npriority:999\n\n\0')).message).toMatch(/priority must be an integer from 0 to 255/);
    expect((await errorFor('SEND\ndestination:/queue/b\nx-message-ttl:soon\n\n\0')).message).toMatch(/x-message-ttl must be an integer/);
    expect((await errorFor('ACK\nid:T_1@@session-1@@99\n\n\0')).message).toMatch(/no unacknowledged message has that id/);
    expect((await errorFor('UNSUBSCRIBE\nid:nope\n\n\0')).message).toMatch(/subscription "nope", which this connection does not have/);
    expect((await errorFor('COMMIT\ntransaction:t1\n\n\0')).message).toMatch(/transaction "t1", which was not begun/);
    expect((await errorFor('SEND\ndestination:/queue/a\ntransaction:t2\n\n\0')).message).toMatch(/transaction "t2", which was not begun/);
    expect((await errorFor(['SUBSCRIBE\nid:1\ndestination:/queue/a\n\n\0', 'SUBSCRIBE\nid:1\ndestination:/queue/b\n\n\0'])).message).toMatch(
      /subscription id "1" is already in use/,
    );
    expect((await errorFor(Buffer.from([...Buffer.from('SEND\ndestination:/queue/a\n\n'), 0xff, 0xfe, 0]))).message).toMatch(/not valid UTF-8/);
  });

  it('stomp - open transactions are limited in bytes, so memory stays bounded until COMMIT', async () => {
    const body = 'x'.repeat(LIMIT - 1024);
    const frames = ['BEGIN\ntransaction:big\n\n\0', ...Array.from({ length: 70 }, () => `SEND\ndestination:/queue/a\ntransaction:big\n\n${body}\0`)];
    expect((await errorFor(frames)).message).toMatch(/open transactions of this connection would hold more than 1048576 bytes \(64 times server\.maxMessageBytes\); COMMIT or ABORT sooner/);
  });

  it('stomp - a /queue/ redeclare with other arguments names the way out', async () => {
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: 'guest', password: 'guest' });
    await client.request({ op: 'queue.declare', queue: 'limited', arguments: { 'x-max-length': 5 } });
    client.close();
    const error = await errorFor('SEND\ndestination:/queue/limited\n\nhi\0');
    expect(error.message).toMatch(/queue "limited" already exists with other properties or arguments.*\/amq\/queue\/limited uses an existing queue as it is/);
  });

  it('stomp - a subscription the broker ends (acknowledgement timeout, queue deleted) gets an ERROR naming it', async () => {
    const slow = await StompPeer.connect(broker.url);
    const inbox = await slow.subscribe('/queue/slow-acker', { id: 'slow', ack: 'client', 'x-consumer-timeout': '200' });
    await slow.send('/queue/slow-acker', 'never acked', { 'x-consumer-timeout': '200' });
    await inbox.take(1);
    expect((await slow.waitForError()).headers.message).toMatch(
      /subscription "slow" was cancelled by the broker: delivery acknowledgement timed out after 200 ms; its unacknowledged messages were requeued/,
    );
    expect(await slow.waitForClose()).toBe(1000);

    const orphan = await StompPeer.connect(broker.url);
    await orphan.subscribe('/queue/doomed', { id: 'doomed' });
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: 'guest', password: 'guest' });
    await client.request({ op: 'queue.delete', queue: 'doomed' });
    expect((await orphan.waitForError()).headers.message).toMatch(/subscription "doomed" was cancelled by the broker: its queue "doomed" was deleted/);
    // The requeued message is still there for the next consumer.
    expect(await client.request({ op: 'get', queue: 'slow-acker', noAck: true })).toMatchObject({ message: { payload: 'never acked', redelivered: true } });
    client.close();
  });

  it('stomp - the bystander connection was untouched by all of it', async () => {
    const inbox = await bystander.subscribe('/queue/bystander');
    await bystander.send('/queue/bystander', 'still here');
    expect((await inbox.take(1))[0].body).toBe('still here');
    expect(bystander.errors).toEqual([]);
    expect(bystander.closeCode).toBeUndefined();
  });

  it('stomp - an unknown subprotocol is still refused at the handshake', async () => {
    await expect(RawStomp.open(broker.url, ['v13.stomp'])).rejects.toThrow(/400/);
  });
});
