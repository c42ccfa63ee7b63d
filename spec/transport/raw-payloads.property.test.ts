import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawPayloads } from '../../src/protocol/index.js';

// Frames written by hand rather than by JSON.stringify, so that the text can repeat a member,
// escape a member name, and put whitespace wherever JSON allows it.
const space = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');
const memberName = fc.oneof(fc.constantFrom('payload', 'op', 'id', 'headers', 'pay', 'payloads'), fc.string({ maxLength: 6 }));
const member = fc.record({ name: memberName, escaped: fc.boolean(), value: fc.jsonValue({ maxDepth: 4 }), indent: fc.constantFrom(0, 2), before: space, after: space });
type Member = typeof member extends fc.Arbitrary<infer T> ? T : never;
type Frame = { members: Member[] } | { value: unknown };
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 4, arbitrary: fc.array(member, { maxLength: 5 }).map((members) => ({ members })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => ({ value })) },
);

const escapeAll = (name: string): string => `"${[...name].map((char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;
const nameText = (m: Member): string => (m.escaped && m.name !== '' ? escapeAll(m.name) : JSON.stringify(m.name));
const frameText = (f: Frame): string =>
  'members' in f ? `{${f.members.map((m) => `${m.before}${nameText(m)}${m.after}:${m.before}${JSON.stringify(m.value, null, m.indent)}${m.after}`).join(',')}}` : JSON.stringify(f.value);

describe('transport - raw payloads', () => {
  it('transport - the scanned payload text parses to what JSON.parse read, for every frame', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 6 }), fc.boolean(), space, (frames, asArray, gap) => {
        const texts = frames.map(frameText);
        const batch = asArray || texts.length !== 1;
        const text = batch ? `${gap}[${gap}${texts.join(`${gap},${gap}`)}${gap}]${gap}` : `${gap}${texts[0]}${gap}`;
        const parsed: unknown = JSON.parse(text);
        // A top-level array is a batch, as the session reads it, even when it was written as one frame.
        const values = Array.isArray(parsed) ? parsed : [parsed];
        const scanned = rawPayloads(text);
        expect(scanned).toHaveLength(values.length);
        values.forEach((value, index) => {
          const found = scanned[index];
          const hasPayload = typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'payload');
          if (found !== undefined) {
            expect(hasPayload).toBe(true);
            expect(JSON.parse(found)).toEqual((value as { payload: unknown }).payload);
          }
          // (A lone frame written as an array is a batch of other values: no members to check.)
          const written = batch || !Array.isArray(parsed) ? frames[index] : { value: value as unknown };
          if ('members' in written && hasPayload) expect(found).toBeDefined();
        });
      }),
      { numRuns: 500 },
    );
  });

  it('transport - a member name written with escapes is read as JSON.parse reads it', () => {
    const text = '{"op":"publish","payload":1,"pay\\u006coad":2}';
    expect(JSON.parse(text)).toMatchObject({ payload: 2 });
    expect(rawPayloads(text)).toEqual(['2']);
  });

  it('transport - a repeated payload gives the last, as JSON.parse does', () => {
    expect(rawPayloads('[{"payload":{"a":"}"},"payload":[1, "\\"]"]},{"op":"ack"},7]')).toEqual(['[1, "\\"]"]', undefined, undefined]);
  });

  it('transport - deep nesting is skipped without recursion', () => {
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    expect(rawPayloads(`{"payload":${deep}}`)[0]).toHaveLength(200000);
  });
});
