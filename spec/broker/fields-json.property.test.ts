import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FieldsJson } from '../../src/broker/index.js';

// FieldsJson remembers the last text it made: whatever the sequence of objects, each answer must
// be a JSON text of that object (key order aside), never the text of the one before.
const value = fc.oneof(fc.constantFrom('a', 'b', ''), fc.integer({ min: -2, max: 2 }), fc.boolean(), fc.constant(null), fc.constant({ nested: 1 }), fc.constant([1]));
const fields = fc.dictionary(fc.constantFrom('persistent', 'x', 'y'), value, { maxKeys: 3 });

describe('fields-json - properties', () => {
  it('fields-json - every answer parses back to the object asked about, over any sequence', () => {
    fc.assert(
      fc.property(fc.array(fields, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 20 }), (objects, repeats) => {
        const memo = new FieldsJson();
        const asked = [...objects, ...repeats.map((i) => objects[i % objects.length])];
        for (const object of asked) expect(JSON.parse(memo.of(object))).toEqual(object);
      }),
      { numRuns: 500 },
    );
  });

  it('fields-json - an equal flat object gets the same text back; a nested one is serialised again', () => {
    const memo = new FieldsJson();
    const first = memo.of({ persistent: true });
    expect(memo.of({ persistent: true })).toBe(first);
    expect(memo.of({ persistent: false })).toBe('{"persistent":false}');
    expect(memo.of({ persistent: false, x: undefined })).toBe('{"persistent":false}');
    const nested = { a: { b: 1 } };
    expect(memo.of(nested)).toBe('{"a":{"b":1}}');
    nested.a.b = 2; // a message's fields never change; this shows nested values are not trusted to be equal
    expect(memo.of({ a: { b: 2 } })).toBe('{"a":{"b":2}}');
  });
});
