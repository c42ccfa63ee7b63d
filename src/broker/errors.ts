/** The protocol's error codes (docs/protocol.md, "Errors"). */
export type ErrorCode =
  | 'SYNTAX_ERROR'
  | 'NOT_ALLOWED'
  | 'ACCESS_REFUSED'
  | 'NOT_FOUND'
  | 'PRECONDITION_FAILED'
  | 'RESOURCE_LOCKED'
  | 'REJECTED'
  | 'RESOURCE_ERROR'
  | 'INTERNAL_ERROR';

/** A rule of the protocol refused a request; `message` tells a person what to change. */
export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BrokerError';
  }
}

export const notFound = (what: string): BrokerError => new BrokerError('NOT_FOUND', `${what} does not exist`);
export const preconditionFailed = (message: string): BrokerError => new BrokerError('PRECONDITION_FAILED', message);
export const accessRefused = (message: string): BrokerError => new BrokerError('ACCESS_REFUSED', message);
export const resourceLocked = (message: string): BrokerError => new BrokerError('RESOURCE_LOCKED', message);
export const resourceError = (message: string): BrokerError => new BrokerError('RESOURCE_ERROR', message);
