import { preconditionFailed } from './errors.js';
import { jsonEqual } from './json-equal.js';
import type { Headers } from './types.js';

export type XMatch = 'all' | 'any' | 'all-with-x' | 'any-with-x';
const X_MATCH: readonly string[] = ['all', 'any', 'all-with-x', 'any-with-x'];

/** Reads a binding's `x-match`; an invalid value is PRECONDITION_FAILED (docs/protocol.md, "Bindings and routing"). */
export function parseXMatch(args: Record<string, unknown>): XMatch {
  // Only an absent x-match defaults to `all`; `null` is a value, and not a valid one.
  const value = args['x-match'] === undefined ? 'all' : args['x-match'];
  if (typeof value !== 'string' || !X_MATCH.includes(value)) {
    throw preconditionFailed(`binding argument x-match must be one of ${X_MATCH.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as XMatch;
}

/** Headers-exchange matching: `all`/`any` ignore binding keys starting with `x-`, the `-with-x` forms do not. */
export function headersMatch(bindingArgs: Record<string, unknown>, xMatch: XMatch, headers: Headers): boolean {
  const withX = xMatch === 'all-with-x' || xMatch === 'any-with-x';
  const all = xMatch === 'all' || xMatch === 'all-with-x';
  for (const key of Object.keys(bindingArgs)) {
    if (key === 'x-match' || (!withX && key.startsWith('x-'))) continue;
    const matches = Object.prototype.hasOwnProperty.call(headers, key) && jsonEqual(bindingArgs[key], headers[key]);
    if (all && !matches) return false;
    if (!all && matches) return true;
  }
  // `all` over no keys matches everything; `any` over no keys matches nothing (as in RabbitMQ).
  return all;
}
