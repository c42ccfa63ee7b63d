import { WarrenError, type ClientCloseEvent, type Delivery, type WarrenClient } from './client/index.js';

/**
 * `warren stream read` (docs/admin-cli.md, "stream read"): a stream queue's entries as JSON lines,
 * over the WebSocket protocol as `warren consume` (docs/protocol.md, "Stream queues").
 *
 * One way of reading for every case: a consume from `--from` (in `--group` when given) whose acks
 * are its credit and, in a group, its commits. An entry is acked only once its line is written, so
 * a group never commits past what was printed. Without `--count` the read ends at the stream's end
 * when it started; with `--count`, after that many entries, waiting for new ones if need be.
 */

/** Where `--from` starts: the consume's `x-stream-offset`. */
export type StreamStart = 'first' | 'last' | 'next' | number | { timestamp: number };

export interface StreamReadOptions {
  queue: string;
  /** Absent: from the first entry, or in a group after its committed offset. */
  from?: StreamStart;
  /** Stop after this many entries (waiting for new ones); absent: stop at the end at start. */
  count?: number;
  group?: string;
}

/** Entries in flight at once at most: the consume's prefetch (its credit). */
const PREFETCH = 100;
/** The probe's offset: past any end, so that `fetch` returns no entries, only `first` and `next`. */
const BEYOND = Number.MAX_SAFE_INTEGER;
/** How long to wait between two looks at whether the end at start is on disk. */
const FLUSH_POLL_MS = 10;

/** `--from`: first, last, next, an offset, or an ISO 8601 time (the first entry appended at or after it). */
export function parseFrom(text: string): StreamStart {
  const value = text.trim();
  if (value === 'first' || value === 'last' || value === 'next') return value;
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isFinite(time)) return { timestamp: time };
  throw new Error(`--from takes first, last, next, an offset (a whole number from 0) or an ISO 8601 time such as 2026-05-01T12:00:00Z (got "${text}")`);
}

/** Why the broker's side ended the connection, for a client command that did not ask it to; `after` adds what became of the messages. */
export function closedByBroker(event: ClientCloseEvent, after = ''): Error {
  if (event.error) return new Error(`the broker closed the connection (code ${event.code}${event.reason ? `, ${event.reason}` : ''}): ${event.error.message}`);
  if (event.code === 1001) return new Error(`the broker is shutting down (close code 1001)${after}`);
  return new Error(`the connection to the broker was lost (close code ${event.code}${event.reason ? `, ${event.reason}` : ''})${after}`);
}

/** The probe's refusals in the words of this command: a classic queue is the mistake to explain. */
function probeError(error: unknown, queue: string): unknown {
  if (error instanceof WarrenError && error.code === 'PRECONDITION_FAILED') {
    return new Error(`queue "${queue}" is not a stream queue (x-queue-type "stream"): stream read reads only streams; read it with warren consume`);
  }
  return error;
}

/** The entry's offset, which the broker puts in every stream delivery. */
const offsetOf = (message: Delivery): number => message.headers['x-stream-offset'] as number;

/**
 * Prints the entries of stream `queue` on stdout, one JSON line each (`offset` first, then the
 * message's fields as `fetch` gives them), and resolves once done: after `count` entries, else at
 * the end the stream had when the read started; on EPIPE or a signal, quietly, with what was written.
 */
export async function readStream(client: WarrenClient, options: StreamReadOptions): Promise<void> {
  const { queue, count, group } = options;
  // The end at start, and whether this is a stream at all (NOT_FOUND, PRECONDITION_FAILED).
  const probe = await client.fetch(queue, BEYOND, 1).catch((error: unknown) => {
    throw probeError(error, queue);
  });
  const end = probe.next;
  // Only entries on disk are pushed. Once the last entry at start is, every earlier one a consume
  // starts from is pushed before the reply to a request sent after the consume's ok (below).
  if (end > probe.first) while ((await client.fetch(queue, end - 1, 1)).messages.length === 0) await new Promise((wake) => setTimeout(wake, FLUSH_POLL_MS));
  let from = options.from;
  /** The first offset read, when it can be told before reading (not for a time). */
  let start: number | undefined;
  // Left out in a group that has a committed offset, the broker resumes after it; else from the first entry.
  const committed = from === undefined && group !== undefined ? await client.committed(queue, group) : null;
  if (committed !== null) start = Math.max(committed + 1, probe.first);
  else from ??= 'first';
  if (from === 'first') start = probe.first;
  else if (from === 'last') start = Math.max(probe.first, end - 1);
  else if (from === 'next') start = end;
  else if (typeof from === 'number') start = Math.min(Math.max(from, probe.first), end);
  if (count === undefined && start !== undefined && start >= end) return;

  let written = 0;
  let settled = 0;
  /** Nothing more is to be printed: the last line wanted is written, or the end at start is passed. */
  let ended = false;
  let seen = 0;
  let done = false;
  await new Promise<void>((resolve, reject) => {
    const finish = () => {
      done = true;
      resolve();
    };
    const finishOnceSettled = () => {
      if (ended && settled === written) finish();
    };
    client.on('cancelled', (event) =>
      reject(new Error(event.reason === 'permission' ? `the broker cancelled the reader: the token may no longer read queue "${queue}"` : `the broker cancelled the reader: stream "${queue}" was deleted`)),
    );
    client.on('error', (error) => process.stderr.write(`warren: ${error.message}\n`));
    client.on('close', (event) => {
      if (!event.byClient) reject(closedByBroker(event));
    });
    // `| head -5`: the reader went away; what was not written is not acked (nor, in a group, committed).
    process.stdout.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' ? finish() : reject(error)));
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    const handler = (message: Delivery) => {
      seen++;
      if (done || ended) return;
      const offset = offsetOf(message);
      // Appended after the read started: not for a read without --count.
      if (count === undefined && offset >= end) {
        ended = true;
        finishOnceSettled();
        return;
      }
      written++;
      if (count === undefined ? offset >= end - 1 : written >= count) ended = true;
      const { exchange, routingKey, payload, headers, properties } = message;
      process.stdout.write(`${JSON.stringify({ offset, exchange, routingKey, payload, headers, properties })}\n`, (error) => {
        if (error) return;
        // Credit back and, in a group, the commit: only for what was written.
        message.ack();
        settled++;
        finishOnceSettled();
      });
    };
    const consumeOptions = { prefetch: Math.min(PREFETCH, count ?? PREFETCH), offset: from, group };
    client
      .consume(queue, handler, consumeOptions)
      .then(async () => {
        if (count !== undefined) return;
        // A barrier: its reply comes after every delivery the consume started (those before the end are on disk).
        await client.fetch(queue, BEYOND, 1);
        if (seen > 0 || done) return;
        // Nothing pushed: a time after the last entry, or (an offset known to be before the end) another consumer of the group is active.
        if (group !== undefined && start !== undefined && start < end) {
          reject(new Error(`consumer group "${group}" of stream "${queue}" has an active consumer elsewhere, and this one would wait its turn; stop the other, or give --count to wait`));
        } else finish();
      })
      .catch(reject);
  });
}
