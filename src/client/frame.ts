import type { RequestFields, RequestOp } from '../protocol/index.js';

/** A protocol frame: a JSON object with a string `op` (protocol.md, "Transport and frames"). */
export interface Frame {
  op: string;
  [field: string]: unknown;
}

/**
 * A frame of type `T` as it came off the network: the field names the protocol gives it, each
 * value still to be checked (with {@link str}, {@link num}, {@link obj}).
 */
export type Received<T> = { readonly [K in keyof T]?: unknown };

/**
 * The fields `F` of a request of `Op`, when the protocol's request has every one of them: a field
 * it lacks fails the typecheck (the broker would refuse the frame), as does a wrong type through
 * `F extends RequestFields<Op>` where it is used.
 */
export type FieldsOf<Op extends RequestOp, F> = F & { [K in Exclude<keyof F, keyof RequestFields<Op>>]: never };

/** Whether a parsed JSON value is a frame. */
export function isFrame(value: unknown): value is Frame {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as Frame).op === 'string';
}

/**
 * The fields of `source` named in `keys` whose value is not `undefined`.
 * The broker refuses unknown fields and applies its own defaults, so the
 * client sends exactly the options the caller gave.
 */
export function pick<T extends object, K extends keyof T>(source: T | undefined, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  if (source === undefined) return picked;
  for (const key of keys) {
    if (source[key] !== undefined) picked[key] = source[key];
  }
  return picked;
}

/** `value` when it is a string, else `fallback`. */
export function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** `value` when it is a plain object, else a new empty one. */
export function obj(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** `value` when it is a number, else 0. */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
