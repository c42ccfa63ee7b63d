import { AdminError } from './management-client.js';

// Parsed here rather than as yargs numbers, which take 1.5, 1e3 and 0x10 and turn "abc" into NaN:
// a bad value is named as it was typed, before any request.

/** `--name` as a whole number above 0. */
export function positiveInteger(name: string, text: string): number {
  const value = /^\+?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new AdminError(`--${name} takes a whole number above 0 (got "${text}")`);
  return value;
}

/** `--name` as a whole number, negative ones included. */
export function integer(name: string, text: string): number {
  const value = /^[+-]?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new AdminError(`--${name} takes a whole number (got "${text}")`);
  return value;
}

/** `--name` as a JSON object. */
export function jsonObject(name: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AdminError(`--${name} is not JSON (${(error as Error).message}); give an object, e.g. '{"max-length": 1000}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AdminError(`--${name} must be a JSON object, e.g. '{"max-length": 1000}' (got ${text})`);
  }
  return value as Record<string, unknown>;
}

/** `--name` as the value of an HTTP header, which carries printable ASCII (fetch refuses control characters). */
export function headerText(name: string, text: string): string {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new AdminError(`--${name} goes in an HTTP header: use printable ASCII characters only`);
  return text;
}
