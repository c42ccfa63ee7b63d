import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHeaders, encodeFrame, escapeHeader, StompError, unescapeHeader, type RawFrame } from '../../../src/transport/stomp/frame.js';
import { StompParser } from '../../../src/transport/stomp/parser.js';
import { formatDestination, parseDestination } from '../../../src/transport/stomp/destination.js';
import { negotiateHeartBeat } from '../../../src/transport/stomp/heartbeat.js';

function parseAll(chunks: (string | Buffer)[], limit = 1 << 20): RawFrame[] {
  const parser = new StompParser(limit);
  const frames: RawFrame[] = [];
  for (const chunk of chunks) parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, (frame) => frames.push(frame));
  return frames;
}

const summary = (frames: RawFrame[]) => frames.map((f) => [f.command, f.headers, f.body.toString('latin1')]);

describe('stomp codec - parser', () => {
  const stream =
    '\n\r\nCONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\0\n' +
    'SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0\n\n' +
    'SEND\ndestination:/queue/a\nx:1\nx:2\n\nno length\0' +
    'DISCONNECT\nreceipt:77\n\n\0';

  it('stomp codec - frames, CRLF lines, heart-beat EOLs and NULs inside a content-length body', () => {
    expect(summary(parseAll([stream]))).toEqual([
      ['CONNECT', [['accept-version', '1.2'], ['host', '/']], ''],
      ['SEND', [['destination', '/queue/a'], ['content-length', '5']], 'a\0b\0c'],
      ['SEND', [['destination', '/queue/a'], ['x', '1'], ['x', '2']], 'no length'],
      ['DISCONNECT', [['receipt', '77']], ''],
    ]);
  });

  it('stomp codec - the same frames however the bytes are split across WebSocket messages', () => {
    const whole = summary(parseAll([stream]));
    const bytes = Buffer.from(stream);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        expect(summary(parseAll(chunks))).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('stomp codec - syntax errors are StompErrors with close code 1002', () => {
    const cases: [string, RegExp][] = [
      ['HELLO\n\n\0', /unknown STOMP command "HELLO"/],
      ['SEND\nno colon here\n\n\0', /header line without a colon/],
      ['SEND\ncontent-length:abc\n\n\0', /content-length must be a number of bytes/],
      ['SEND\ncontent-length:2\n\nabc\0', /longer than its content-length \(2 bytes\)/],
      [`SEND\n\n${'x'.repeat(200)}`, /larger than 100 bytes/],
      [`SEND\nh:${'x'.repeat(200)}`, /larger than 100 bytes/],
    ];
    for (const [text, message] of cases) {
      let caught: unknown;
      try {
        parseAll([text], 100);
      } catch (error) {
        caught = error;
      }
      expect(caught, text).toBeInstanceOf(StompError);
      expect((caught as StompError).message).toMatch(message);
      expect((caught as StompError).closeCode).toBe(1002);
    }
  });
});

describe('stomp codec - headers', () => {
  it('stomp codec - escaping round-trips per version; 1.0 has none', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(unescapeHeader(escapeHeader(text, '1.2'), '1.2', 'h')).toBe(text);
        if (!text.includes('\r')) expect(unescapeHeader(escapeHeader(text, '1.1'), '1.1', 'h')).toBe(text);
      }),
    );
    expect(escapeHeader('a:b\\c\nd\re', '1.2')).toBe('a\\cb\\\\c\\nd\\re');
    expect(escapeHeader('a:b\nc', '1.0')).toBe('a:b c');
    expect(() => unescapeHeader('\\r', '1.1', 'h')).toThrow(/not a STOMP 1.1 escape/);
    expect(() => unescapeHeader('end\\', '1.2', 'h')).toThrow(/lone "\\" at the end/);
  });

  it('stomp codec - the first of repeated headers wins, and CONNECT is not unescaped', () => {
    const frame: RawFrame = { command: 'SEND', headers: [['a', 'x\\cy'], ['a', 'z']], body: Buffer.alloc(0) };
    expect(decodeHeaders(frame, '1.2').get('a')).toBe('x:y');
    expect(decodeHeaders({ ...frame, command: 'CONNECT' }, '1.2').get('a')).toBe('x\\cy');
  });

  it('stomp codec - encoded frames carry content-length in bytes and are never escaped when CONNECTED', () => {
    expect(encodeFrame('MESSAGE', [['k', 'v:1']], 'é\0', '1.2')).toBe('MESSAGE\nk:v\\c1\ncontent-length:3\n\né\0\0');
    expect(encodeFrame('CONNECTED', [['server', 'Warren/1:2']], '', '1.2')).toBe('CONNECTED\nserver:Warren/1:2\n\n\0');
  });
});

describe('stomp codec - destinations and heart-beats', () => {
  it('stomp codec - every destination kind, %2F inside names, and the MESSAGE form back', () => {
    expect(parseDestination('/exchange/logs')).toEqual({ kind: 'exchange', exchange: 'logs', key: '' });
    expect(parseDestination('/exchange/a%2Fb/x.%2A')).toEqual({ kind: 'exchange', exchange: 'a/b', key: 'x.*' });
    expect(parseDestination('/queue/q')).toEqual({ kind: 'queue', queue: 'q' });
    expect(parseDestination('/amq/queue/q')).toEqual({ kind: 'amq-queue', queue: 'q' });
    expect(parseDestination('/topic/a.#')).toEqual({ kind: 'topic', key: 'a.#' });
    expect(parseDestination('/temp-queue/r')).toEqual({ kind: 'temp-queue', name: 'r' });
    expect(parseDestination('/reply-queue/amq.gen-1')).toEqual({ kind: 'reply-queue', queue: 'amq.gen-1' });
    expect(parseDestination('/queue/100%')).toEqual({ kind: 'queue', queue: '100%' });
    for (const bad of ['queue/q', '/queue/', '/queue', '/queue/a/b', '/amq/q', '/topic/', '/exchange/', '/x/y', `/queue/${'q'.repeat(256)}`]) {
      expect(() => parseDestination(bad), bad).toThrow(StompError);
    }
    expect(formatDestination('', 'q')).toBe('/queue/q');
    expect(formatDestination('amq.topic', 'a.b')).toBe('/topic/a.b');
    expect(formatDestination('a/b', '')).toBe('/exchange/a%2Fb');
    expect(formatDestination('x', 'k%')).toBe('/exchange/x/k%25');
    expect(parseDestination(formatDestination('a/b', 'c/%d'))).toEqual({ kind: 'exchange', exchange: 'a/b', key: 'c/%d' });
  });

  it('stomp codec - heart-beat negotiation gives the client its wish, floored at 100 ms', () => {
    expect(negotiateHeartBeat(undefined)).toEqual({ sendMs: 0, expectMs: 0, header: '0,0' });
    expect(negotiateHeartBeat('10000,5000')).toEqual({ sendMs: 5000, expectMs: 10000, header: '5000,10000' });
    expect(negotiateHeartBeat('0,10')).toEqual({ sendMs: 100, expectMs: 0, header: '100,0' });
    expect(() => negotiateHeartBeat('soon')).toThrow(/heart-beat must be two numbers/);
  });
});
