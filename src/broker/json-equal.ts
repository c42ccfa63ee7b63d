/** Structural equality of JSON values; object key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const key of aKeys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/**
 * JSON.stringify of message headers or properties, remembering the last answer: a publisher
 * mostly sends the same flat fields (`{"persistent":true}`) with every message, each time a new
 * object. A flat object with the same keys and equal primitive values gets the same text back
 * (key order aside, the same JSON value); anything nested is serialised again.
 */
export class FieldsJson {
  private last: object = {};
  /** How many fields `last` has (counted rather than `Object.keys`, which made an array each time). */
  private lastCount = 0;
  private lastJson = '{}';

  of(fields: object): string {
    if (fields === this.last) return this.lastJson;
    const matching = flatFieldsMatching(fields as Record<string, unknown>, this.last as Record<string, unknown>);
    if (matching !== this.lastCount) {
      this.lastJson = JSON.stringify(fields);
      this.lastCount = fieldCount(fields);
    }
    this.last = fields;
    return this.lastJson;
  }
}

/** How many fields `a` has when each is a primitive equal to `b`'s own field of that name, else -1. */
function flatFieldsMatching(a: Record<string, unknown>, b: Record<string, unknown>): number {
  let count = 0;
  for (const key in a) {
    const value = a[key];
    if ((typeof value === 'object' && value !== null) || value !== b[key] || !Object.prototype.hasOwnProperty.call(b, key)) return -1;
    count++;
  }
  return count;
}

function fieldCount(fields: object): number {
  let count = 0;
  for (const key in fields) if (Object.prototype.hasOwnProperty.call(fields, key)) count++;
  return count;
}

/**
 * The memos of message headers and of message properties, shared by the wire encoding and the
 * journal: the journal then asks about the object the encoding just serialised, and gets its
 * text back without comparing fields.
 */
export const headersJson = new FieldsJson();
export const propertiesJson = new FieldsJson();
