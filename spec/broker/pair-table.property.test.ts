import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ABSENT, PairTable } from '../../src/broker/pair-table.js';

describe('pair-table - properties', () => {
  it('pair-table - adds, deletes and clears answer as a Map does, through growth and the gaps deletes leave', () => {
    // Few distinct first keys and seconds, so that pairs collide, probe runs form and deletes must
    // move entries back; up to 400 operations, so that the table doubles several times.
    const pair = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: -1, max: 12 }));
    const operation = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), pair, value: fc.integer({ min: 1, max: 1_000_000 }) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 400 }), fc.array(pair, { minLength: 20, maxLength: 20 }), (operations, probes) => {
        const table = new PairTable();
        const reference = new Map<string, { first: number; second: number; value: number }>();
        for (const op of operations) {
          if (op.kind === 'add') {
            const [first, second] = op.pair;
            const name = `${first},${second}`;
            if (reference.has(name)) continue; // add is only for pairs that have no entry
            table.add(first, second, op.value);
            reference.set(name, { first, second, value: op.value });
          } else if (op.kind === 'delete') {
            const entries = [...reference.entries()];
            if (entries.length === 0) continue;
            const [name, { first, second }] = entries[op.pick % entries.length];
            table.delete(first, second);
            reference.delete(name);
          } else {
            table.clear();
            reference.clear();
          }
        }
        expect(table.size).toBe(reference.size);
        for (const { first, second, value } of reference.values()) expect(table.get(first, second)).toBe(value);
        for (const [first, second] of probes) expect(table.get(first, second)).toBe(reference.get(`${first},${second}`)?.value ?? ABSENT);
      }),
      { numRuns: 300 },
    );
  });
});
