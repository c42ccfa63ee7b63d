import { StompError } from './frame.js';

// Destinations as RabbitMQ's STOMP plugin defines them (docs/stomp.md, "Destinations"). A `/` or
// `%` inside a name is written %2F or %25.

export type Destination =
  /** `/exchange/<name>[/<pattern>]`: SEND publishes with the key; SUBSCRIBE binds a new queue with the pattern. */
  | { kind: 'exchange'; exchange: string; key: string }
  /** `/queue/<name>`: the default exchange; the queue is declared on first use. */
  | { kind: 'queue'; queue: string }
  /** `/amq/queue/<name>`: an existing queue, nothing declared. */
  | { kind: 'amq-queue'; queue: string }
  /** `/topic/<key>`: `amq.topic`. */
  | { kind: 'topic'; key: string }
  /** `/temp-queue/<name>`: only in `reply-to`, a private reply queue of the session. */
  | { kind: 'temp-queue'; name: string }
  /** `/reply-queue/<queue>`: what a `/temp-queue/` reply-to is rewritten to; SEND replies to it. */
  | { kind: 'reply-queue'; queue: string };

const MAX_NAME_BYTES = 255;

const usage =
  'use /queue/<name>, /amq/queue/<name>, /topic/<routing key>, /exchange/<name>[/<routing key>] or /reply-queue/<name> (and /temp-queue/<name> in reply-to); write a "/" inside a name as %2F';

/** Parses a `destination` (or `reply-to`) header; throws a StompError that says what is wrong. */
export function parseDestination(text: string): Destination {
  const invalid = (why: string) => new StompError(`destination ${JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text)} ${why}; ${usage}`);
  const parts = text.split('/');
  if (parts[0] !== '' || parts.length < 3) throw invalid('is not a valid destination');
  const [, prefix, ...rest] = parts;
  const segment = (value: string, what: string, allowEmpty = false): string => {
    const decoded = unescapeSegment(value);
    if (decoded === '' && !allowEmpty) throw invalid(`has an empty ${what}`);
    if (Buffer.byteLength(decoded, 'utf8') > MAX_NAME_BYTES) throw invalid(`has a ${what} over ${MAX_NAME_BYTES} bytes`);
    return decoded;
  };
  const exactly = (count: number, shape: string) => {
    if (rest.length !== count) throw invalid(`must have the form ${shape}`);
  };
  switch (prefix) {
    case 'exchange':
      if (rest.length < 1 || rest.length > 2) throw invalid('must have the form /exchange/<name> or /exchange/<name>/<routing key>');
      return { kind: 'exchange', exchange: segment(rest[0], 'exchange name'), key: rest.length === 2 ? segment(rest[1], 'routing key', true) : '' };
    case 'queue':
      exactly(1, '/queue/<name>');
      return { kind: 'queue', queue: segment(rest[0], 'queue name') };
    case 'amq':
      if (rest[0] !== 'queue' || rest.length !== 2) throw invalid('must have the form /amq/queue/<name>');
      return { kind: 'amq-queue', queue: segment(rest[1], 'queue name') };
    case 'topic':
      exactly(1, '/topic/<routing key>');
      return { kind: 'topic', key: segment(rest[0], 'routing key') };
    case 'temp-queue':
      exactly(1, '/temp-queue/<name>');
      return { kind: 'temp-queue', name: segment(rest[0], 'name') };
    case 'reply-queue':
      exactly(1, '/reply-queue/<name>');
      return { kind: 'reply-queue', queue: segment(rest[0], 'queue name') };
    default:
      throw invalid('has an unknown type');
  }
}

/**
 * The `destination` header of a MESSAGE: where the message was published, as RabbitMQ writes it
 * (`/queue/<key>` for the default exchange, `/topic/<key>` for `amq.topic`, else `/exchange/...`).
 */
export function formatDestination(exchange: string, routingKey: string): string {
  if (exchange === '') return `/queue/${escapeSegment(routingKey)}`;
  if (exchange === 'amq.topic') return `/topic/${escapeSegment(routingKey)}`;
  if (routingKey === '') return `/exchange/${escapeSegment(exchange)}`;
  return `/exchange/${escapeSegment(exchange)}/${escapeSegment(routingKey)}`;
}

const escapeSegment = (name: string): string => name.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'));

/** Decodes %XX sequences (UTF-8); a `%` that does not start a valid sequence stays as it is. */
function unescapeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  return segment.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}
