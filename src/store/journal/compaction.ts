import type { Message } from '../../broker/index.js';
import { messagePutSeq, scanRecords } from './record-format.js';

/** A put still live in a segment being compacted, narrowed to the queues where it is live. */
export interface LivePut {
  seq: number;
  message: Message;
  /** queue, expiresAt, queue, expiresAt, ... */
  targets: (string | number | null)[];
}

/**
 * The puts of one segment's bytes that are still live (`live`: seq to the queues in which that
 * seq is live in this segment), to be copied forward so the segment can be deleted. Only those
 * records are checked and decoded; the rest are stepped over. `problem` is set if the segment
 * turned out damaged: what comes after the damage cannot be copied.
 */
export function findLivePuts(data: Buffer, live: Map<number, Set<string>>): { puts: LivePut[]; problem: string | null } {
  const puts: LivePut[] = [];
  const { problem } = scanRecords(
    data,
    (record) => {
      if (record.kind !== 'message.put') return;
      const queues = live.get(record.seq);
      const targets: (string | number | null)[] = [];
      for (let i = 0; i < record.targets.length; i += 2) if (queues?.has(record.targets[i] as string)) targets.push(record.targets[i], record.targets[i + 1]);
      if (targets.length > 0) puts.push({ seq: record.seq, message: record.message, targets });
    },
    (body) => {
      const seq = messagePutSeq(body);
      return seq !== null && live.has(seq);
    },
  );
  return { puts, problem };
}
