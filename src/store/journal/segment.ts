import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

const SEGMENT_NAME = /^(\d{12})\.journal$/;

/** The file of segment `id`: zero-padded so that names sort in journal order. */
export const segmentPath = (dir: string, id: number): string => join(dir, `${String(id).padStart(12, '0')}.journal`);

/** The ids of the segment files in `dir`, oldest first. */
export async function listSegmentIds(dir: string): Promise<number[]> {
  const ids: number[] = [];
  for (const name of await readdir(dir)) {
    const match = SEGMENT_NAME.exec(name);
    if (match) ids.push(Number(match[1]));
  }
  return ids.sort((a, b) => a - b);
}

/**
 * One append-only file of the journal and what the store knows about it: how much is written,
 * how many stored messages it still holds, and which older segments it must outlive.
 */
export class Segment {
  /** Bytes given to this segment, written or still waiting in a batch. */
  size = 0;
  /** Bytes known to be written (and synced, with sync 'always'); a failed write is cut back to this. */
  written = 0;
  /** Messages (one per queue) whose put is in this segment and that are still stored. */
  live = 0;
  /** Messages (one per queue) ever put in this segment: against `live`, how sparse it has become. */
  puts = 0;
  /** Its live messages were copied forward: it may go once the journal has written this many bytes in all. */
  keepUntilWritten = 0;
  /** Compaction was tried on it (it is not tried twice). */
  compacted = false;
  /** Batches for this segment not written yet. */
  pending = 0;
  /**
   * Older segments holding puts that this segment's removes (or queue deletes) cancel. Deleting
   * this segment first would bring those messages back at recovery, so it waits for them.
   */
  readonly cancels = new Set<Segment>();
  deleted = false;

  constructor(
    readonly id: number,
    readonly path: string,
  ) {}

  /** Nothing stored here is live, nothing waits to be written, and nothing it cancels is still on disk. */
  isReclaimable(): boolean {
    if (this.live > 0 || this.pending > 0 || this.deleted) return false;
    for (const older of this.cancels) {
      if (!older.deleted) return false;
      this.cancels.delete(older);
    }
    return true;
  }

  /** Records that a record in this segment cancels a put stored in `older`. */
  cancel(older: Segment): void {
    older.live--;
    if (older !== this) this.cancels.add(older);
  }

  /** Records a message put in this segment, superseding an older put of it if there was one. */
  put(older: Segment | undefined): void {
    if (older) this.cancel(older);
    this.live++;
    this.puts++;
  }
}
