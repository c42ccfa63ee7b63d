import type { StreamLogOptions } from '../../broker/index.js';

export type { StreamEntry, StreamLog, StreamLogOptions } from '../../broker/index.js';

/*
 * 64 MiB rather than RabbitMQ's 500 MB: a segment is what retention drops at once and what
 * recovery reads whole (the last one, to find a torn tail), so a smaller one drops in finer steps
 * and starts faster; at 64 MiB a stream of 100 GB is still only 1,600 files, and a segment's
 * sparse index (a point per 4 KiB) is 384 KiB.
 */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_COMMIT_INTERVAL_MS = 1000;

export type ResolvedStreamLogOptions = Required<StreamLogOptions>;

/** The options with their defaults; a value that is not a positive number is refused, naming it. */
export function resolveStreamLogOptions(options: StreamLogOptions = {}): ResolvedStreamLogOptions {
  const resolved: ResolvedStreamLogOptions = {
    maxBytes: options.maxBytes ?? Infinity,
    maxAgeMs: options.maxAgeMs ?? Infinity,
    segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    sync: options.sync ?? 'always',
    commitIntervalMs: options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
  };
  for (const key of ['maxBytes', 'maxAgeMs', 'segmentBytes'] as const) {
    const value = resolved[key];
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) throw new RangeError(`stream log option ${key} must be a number above 0, not ${String(value)}`);
  }
  if (!Number.isSafeInteger(resolved.segmentBytes)) throw new RangeError(`stream log option segmentBytes must be a whole number of bytes, not ${resolved.segmentBytes}`);
  if (typeof resolved.commitIntervalMs !== 'number' || !(resolved.commitIntervalMs >= 0)) throw new RangeError(`stream log option commitIntervalMs must be 0 or more, not ${String(resolved.commitIntervalMs)}`);
  if (resolved.sync !== 'always' && resolved.sync !== 'none') throw new RangeError(`stream log option sync must be 'always' or 'none', not ${String(resolved.sync)}`);
  return resolved;
}

/** What retention looks at in a segment. */
export interface RetainedSegment {
  readonly bytes: number;
  /** -Infinity for a segment without entries. */
  readonly lastTimestamp: number;
}

/**
 * How many of the oldest segments retention drops: while the stream is over `maxBytes`, or the
 * oldest segment's newest entry is older than `now - maxAgeMs`; never the last segment. Both
 * logs decide with this one function, so they drop alike.
 */
export function segmentsToDrop(segments: readonly RetainedSegment[], totalBytes: number, options: ResolvedStreamLogOptions, now: number): number {
  const cutoff = now - options.maxAgeMs;
  let bytes = totalBytes;
  let drop = 0;
  while (drop < segments.length - 1) {
    const oldest = segments[drop];
    if (bytes <= options.maxBytes && !(oldest.lastTimestamp < cutoff)) break;
    bytes -= oldest.bytes;
    drop++;
  }
  return drop;
}

/** Checks the arguments the port refuses (programming errors of the caller, not client input). */
export function checkAppend(timestamp: number): void {
  if (!Number.isFinite(timestamp)) throw new RangeError(`a stream entry's timestamp must be a finite number, not ${timestamp}`);
}

export function checkRead(offset: number, maxCount: number, maxBytes: number): void {
  if (Number.isNaN(offset) || Number.isNaN(maxCount) || Number.isNaN(maxBytes)) throw new RangeError('stream read: offset, maxCount and maxBytes must be numbers');
}

export function checkCommit(group: string, offset: number, next: number): void {
  if (typeof group !== 'string') throw new TypeError('a consumer group name must be a string');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= next) {
    throw new RangeError(`cannot commit offset ${offset} for group "${group}": it must be an offset of the stream, an integer from 0 to ${next - 1}`);
  }
}

export const closedError = (what: string): Error => new Error(`the stream log ${what} is closed`);
