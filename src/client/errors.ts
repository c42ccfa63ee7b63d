import type { ErrorCode, ErrorFrame } from '../protocol/index.js';
import { str, type Received } from './frame.js';

/**
 * The error codes a broker sends (protocol.md, "Errors"), plus the ones
 * this client raises itself: `CONNECTION_CLOSED` when a request cannot be
 * answered because its connection went away, `PROTOCOL_ERROR` when the broker
 * sends something the protocol does not allow.
 */
export type WarrenErrorCode = ErrorCode | 'CONNECTION_CLOSED' | 'PROTOCOL_ERROR';

/**
 * An error reported by the broker (an `error` frame) or raised by the client
 * for its connection (`CONNECTION_CLOSED`).
 *
 * `code` is a string rather than {@link WarrenErrorCode} so that a newer broker
 * can send codes this client does not know yet.
 */
export class WarrenError extends Error {
  /**
   * @param code the protocol's error code, e.g. `NOT_FOUND`
   * @param message a sentence a person can act on
   */
  constructor(
    readonly code: WarrenErrorCode | (string & Record<never, never>),
    message: string,
  ) {
    super(message);
    this.name = 'WarrenError';
  }
}

/** The error every request gets that its connection can no longer answer. */
export function connectionClosed(why: string): WarrenError {
  return new WarrenError('CONNECTION_CLOSED', why);
}

/** The error an `error` frame reports; `fallback` when it has no usable `message`. */
export function brokerError(frame: Received<ErrorFrame>, fallback: string): WarrenError {
  return new WarrenError(str(frame.code, 'INTERNAL_ERROR'), str(frame.message, fallback));
}
