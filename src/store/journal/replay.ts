import { open, readFile, rename } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Message, StoredMessage } from '../../broker/index.js';
import { scanRecords, type JournalRecord } from './record-format.js';
import { listSegmentIds, Segment, segmentPath } from './segment.js';
import { SeqIndex } from './seq-index.js';
import { Topology } from './topology.js';

/** Where each stored message's put is: queue name, then seq, to segment. */
export type MessageIndex = Map<string, SeqIndex<Segment>>;

/** The journal as read back: the state it records, and the per-segment accounting to go on with. */
export interface ReplayedJournal {
  topology: Topology;
  /** Oldest first. */
  segments: Segment[];
  index: MessageIndex;
  /** The stored messages, ordered by seq. */
  messages: StoredMessage[];
  /** The id for the next segment: above every segment found, those set aside included. */
  nextSegmentId: number;
}

/**
 * Reads every segment in order and applies its records. A torn or corrupt tail of the last
 * segment (a crash mid-write) is cut off and logged. Damage in an earlier segment stops the
 * replay there: what came before is kept, the segment is cut at the damage, and the segments
 * after it are renamed `*.damaged` (kept for inspection, never read again), so that new records
 * are not appended behind a gap.
 */
export async function replayJournal(dir: string, logger: Logger): Promise<ReplayedJournal> {
  const ids = await listSegmentIds(dir);
  const state = new ReplayState();
  const segments: Segment[] = [];
  for (let i = 0; i < ids.length; i++) {
    const segment = new Segment(ids[i], segmentPath(dir, ids[i]));
    segments.push(segment);
    const data = await readFile(segment.path);
    const { end, records, problem } = scanRecords(data, (record) => state.apply(segment, record));
    segment.size = segment.written = end;
    if (problem === null) continue;
    await truncateFile(segment.path, end);
    const details = { segment: segment.path, offset: end, droppedBytes: data.length - end, keptRecords: records, reason: problem };
    if (i === ids.length - 1) {
      logger.warn(details, `journal: dropped a torn or corrupt tail of the last segment (${problem}); everything before it is kept`);
    } else {
      const setAside = ids.slice(i + 1).map((id) => `${segmentPath(dir, id)}.damaged`);
      for (const id of ids.slice(i + 1)) await rename(segmentPath(dir, id), `${segmentPath(dir, id)}.damaged`);
      logger.error(
        { ...details, setAside },
        `journal: damaged record in a segment that is not the last (${problem}); recovered what came before it and set the ${setAside.length} later segment(s) aside as *.damaged`,
      );
    }
    break;
  }
  return { topology: state.topology, segments, index: state.index, messages: state.liveMessages(), nextSegmentId: (ids.at(-1) ?? 0) + 1 };
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** The state the records so far describe, with each stored message's segment. */
class ReplayState {
  topology = new Topology();
  readonly index: MessageIndex = new Map();
  private readonly messages = new Map<string, Map<number, StoredMessage>>();

  apply(segment: Segment, record: JournalRecord): void {
    const topology = this.topology;
    switch (record.kind) {
      case 'checkpoint':
        this.topology = Topology.from(record.topology);
        // Queues missing from the checkpoint were deleted in a segment since reclaimed.
        for (const queue of [...this.index.keys()]) if (!this.topology.queues.has(queue)) this.dropQueue(segment, queue);
        break;
      case 'exchange.put':
        topology.exchanges.set(record.exchange.name, record.exchange);
        break;
      case 'exchange.delete':
        topology.exchanges.delete(record.name);
        break;
      case 'queue.put':
        topology.queues.set(record.queue.name, record.queue);
        break;
      case 'queue.delete':
        topology.queues.delete(record.name);
        this.dropQueue(segment, record.name);
        break;
      case 'binding.put':
        topology.putBinding(record.binding);
        break;
      case 'binding.delete':
        topology.deleteBinding(record.binding);
        break;
      case 'policy.put':
        topology.policies.set(record.policy.name, record.policy);
        break;
      case 'policy.delete':
        topology.policies.delete(record.name);
        break;
      case 'message.put': {
        const targets = record.targets;
        for (let i = 0; i < targets.length; i += 2) {
          const queue = targets[i] as string;
          if (topology.queues.has(queue)) this.put(segment, queue, record.seq, record.message, targets[i + 1] as number | null);
        }
        break;
      }
      case 'message.remove': {
        const where = this.index.get(record.queue);
        const messages = this.messages.get(record.queue);
        if (!where || !messages) break;
        for (const seq of record.seqs) {
          const older = where.take(seq);
          if (!older) continue;
          segment.cancel(older);
          messages.delete(seq);
        }
        break;
      }
    }
  }

  liveMessages(): StoredMessage[] {
    const all: StoredMessage[] = [];
    for (const messages of this.messages.values()) for (const stored of messages.values()) all.push(stored);
    // Puts arrive nearly in seq order, which the sort's runs make cheap.
    return all.sort((a, b) => a.seq - b.seq);
  }

  private put(segment: Segment, queue: string, seq: number, message: Message, expiresAt: number | null): void {
    let where = this.index.get(queue);
    let messages = this.messages.get(queue);
    if (!where || !messages) {
      where = new SeqIndex();
      messages = new Map();
      this.index.set(queue, where);
      this.messages.set(queue, messages);
    }
    segment.put(where.put(seq, segment));
    messages.set(seq, { queue, seq, message, expiresAt });
  }

  private dropQueue(segment: Segment, queue: string): void {
    for (const [, older] of this.index.get(queue) ?? []) segment.cancel(older);
    this.index.delete(queue);
    this.messages.delete(queue);
  }
}
