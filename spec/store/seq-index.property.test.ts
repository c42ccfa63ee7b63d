import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeqIndex } from '../../src/store/journal/seq-index.js';

describe('seq-index - properties', () => {
  it('seq-index - puts and takes answer as a Map does, and it holds what the Map holds, with seqs in order, out of order, and removed from the front or anywhere', () => {
    // Mostly a queue's life (puts of rising seqs, takes of the oldest), with out-of-order puts
    // (a compaction's copies), takes from anywhere and of seqs never put, and runs long enough
    // (up to 3,000 operations) for the front drop and both rebuilds to happen.
    const operation = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('next' as const), gap: fc.integer({ min: 1, max: 3 }), value: fc.nat(9) }) },
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('takeOldest' as const) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('takeAny' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('putOld' as const), back: fc.nat(5000), value: fc.nat(9) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('takeAbsent' as const), back: fc.nat(5000) }) },
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 3000, size: 'max' }), (operations) => {
        const index = new SeqIndex<number>();
        const reference = new Map<number, number>();
        let last = 0;
        for (const op of operations) {
          if (op.kind === 'next') {
            last += op.gap;
            expect(index.put(last, op.value)).toBe(reference.get(last));
            reference.set(last, op.value);
          } else if (op.kind === 'putOld') {
            const seq = Math.max(1, last - op.back);
            expect(index.put(seq, op.value)).toBe(reference.get(seq));
            reference.set(seq, op.value);
          } else {
            const seqs = [...reference.keys()].sort((a, b) => a - b);
            const seq =
              op.kind === 'takeOldest' ? seqs[0] : op.kind === 'takeAny' ? seqs[op.pick % Math.max(1, seqs.length)] : Math.max(1, last - op.back);
            if (seq === undefined) continue;
            expect(index.take(seq)).toBe(reference.get(seq));
            reference.delete(seq);
          }
          expect(index.size).toBe(reference.size);
        }
        expect(new Map(index)).toEqual(reference);
      }),
      { numRuns: 100 },
    );
  });

  it('seq-index - a seq put out of order, then again after the seqs above it were all removed, is one entry', () => {
    const index = new SeqIndex<string>();
    index.put(10, 'ten');
    index.put(5, 'five, out of order');
    index.take(10);
    expect(index.put(5, 'five again')).toBe('five, out of order');
    expect(index.size).toBe(1);
    expect(index.take(5)).toBe('five again');
    expect(index.size).toBe(0);
    expect([...index]).toEqual([]);
  });

  it('seq-index - a queue whose oldest message is never acked keeps its arrays within a bound of its live messages', () => {
    const index = new SeqIndex<string>();
    index.put(1, 'stuck');
    for (let seq = 2; seq <= 200_000; seq++) {
      index.put(seq, 'passing');
      if (seq > 101) index.take(seq - 100);
    }
    expect(index.size).toBe(101);
    const arrays = index as unknown as { seqs: number[]; values: unknown[] };
    expect(arrays.seqs.length).toBeLessThanOrEqual(4 * index.size + 2048);
    expect(arrays.values.length).toBe(arrays.seqs.length);
  });
});
