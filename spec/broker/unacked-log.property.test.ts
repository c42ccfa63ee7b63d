import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnackedLog } from '../../src/broker/unacked-log.js';

// The reference is a Map, whose iteration order is insertion order, i.e. tag order here.
type Operation =
  | { kind: 'add'; count: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'removeUpTo'; pick: number }
  | { kind: 'removeWhere'; modulus: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }).map((count) => ({ kind: 'add' as const, count })) },
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'remove' as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'removeUpTo' as const, pick })) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 5 }).map((modulus) => ({ kind: 'removeWhere' as const, modulus })) },
);

describe('broker - unacked log', () => {
  it('broker - the log holds and gives back what a Map in tag order would', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 120 }), (operations) => {
        const log = new UnackedLog<string>();
        const model = new Map<number, string>();
        let nextTag = 1;
        for (const op of operations) {
          // Tags picked among those ever issued, outstanding or not, and one past the last.
          const tag = op.kind === 'remove' || op.kind === 'removeUpTo' ? (op.pick % nextTag) + 1 : 0;
          if (op.kind === 'add') {
            for (let i = 0; i < op.count; i++, nextTag++) {
              log.add(nextTag, `m${nextTag}`);
              model.set(nextTag, `m${nextTag}`);
            }
          } else if (op.kind === 'remove') {
            expect(log.has(tag)).toBe(model.has(tag));
            expect(log.remove(tag)).toBe(model.get(tag));
            model.delete(tag);
          } else if (op.kind === 'removeUpTo') {
            const out: string[] = [];
            log.removeUpTo(tag, out);
            const expected = [...model].filter(([t]) => t <= tag);
            for (const [t] of expected) model.delete(t);
            expect(out).toEqual(expected.map(([, item]) => item));
          } else {
            const out: string[] = [];
            const selected = (item: string): boolean => Number(item.slice(1)) % op.modulus === 0;
            log.removeWhere(selected, out);
            const expected = [...model.values()].filter(selected);
            for (const item of expected) model.delete(Number(item.slice(1)));
            expect(out).toEqual(expected);
          }
          expect(log.size).toBe(model.size);
          expect([...log.values()]).toEqual([...model.values()]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('broker - one old delivery left outstanding does not make the log grow with every later one', () => {
    const log = new UnackedLog<number>();
    log.add(1, 1);
    let wrong = 0;
    for (let tag = 2; tag < 100_000; tag++) {
      log.add(tag, tag);
      if (log.remove(tag) !== tag) wrong++;
    }
    expect(wrong).toBe(0);
    expect(log.size).toBe(1);
    // The arrays are private: their length is what is under test.
    expect((log as unknown as { items: unknown[] }).items.length).toBeLessThan(100);
    expect([...log.values()]).toEqual([1]);
  });

  it('broker - a log that never empties, acked in order behind the deliveries, stays short', () => {
    const log = new UnackedLog<number>();
    for (let tag = 1; tag < 100_000; tag++) {
      log.add(tag, tag);
      if (tag > 50) log.removeUpTo(tag - 50, []);
    }
    expect(log.size).toBe(50);
    expect((log as unknown as { items: unknown[] }).items.length).toBeLessThan(200);
  });
});
