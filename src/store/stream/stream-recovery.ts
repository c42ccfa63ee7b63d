import { open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeIndexSummary, encodeIndexFile, type SegmentSummary } from './entry-format.js';
import { scanSegmentFile } from './segment-reader.js';
import { INDEX_NAME, SEGMENT_NAME, StreamSegment } from './stream-segment.js';

export const OFFSETS_FILE = 'offsets.json';

/**
 * Reads a stream's directory back: its segments, oldest first, the last one (the active one,
 * appended to from here on) with its sparse index in memory.
 *
 * - A sealed segment whose index file matches it (same size, same first offset) is not read at
 *   all: the index file's summary gives its offsets and timestamps. Otherwise it is scanned, and
 *   its index file written again.
 * - The last segment is always scanned whole (it is the one a crash can leave torn). A torn or
 *   corrupt tail is cut off and logged as a warning; every entry before it keeps its offset, and
 *   `next` goes on after the last good one.
 * - Damage in a sealed segment (bit rot) cuts that segment there, logged as an error: the
 *   entries after the damage in that segment are lost, and reads step over the gap. Later
 *   segments are kept: their entries carry their own offsets, so nothing after the gap moves.
 * - A segment that starts below the end of the one before it cannot belong to the stream (a file
 *   copied in by hand): it is set aside as `*.damaged` and logged.
 */
export async function recoverSegments(dir: string, logger: Logger): Promise<StreamSegment[]> {
  const names = await readdir(dir);
  const bases: number[] = [];
  const indexes = new Set<number>();
  for (const name of names) {
    const segment = SEGMENT_NAME.exec(name);
    if (segment) bases.push(Number(segment[1]));
    const index = INDEX_NAME.exec(name);
    if (index) indexes.add(Number(index[1]));
    // A write of the offsets file cut short by a crash: the file itself is whole.
    if (name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => {});
  }
  bases.sort((a, b) => a - b);
  for (const base of indexes) {
    if (!bases.includes(base)) await unlink(new StreamSegment(dir, base).indexPath).catch(() => {});
  }
  const segments: StreamSegment[] = [];
  for (let i = 0; i < bases.length; i++) {
    const segment = new StreamSegment(dir, bases[i]);
    const last = i === bases.length - 1;
    const previous = segments.at(-1);
    if (previous && segment.base < previous.next) {
      await rename(segment.path, `${segment.path}.damaged`);
      await unlink(segment.indexPath).catch(() => {});
      logger.error(
        { segment: segment.path, setAside: `${segment.path}.damaged`, previousEnds: previous.next },
        'stream: a segment starts inside the one before it; it cannot belong to this stream and is set aside',
      );
      continue;
    }
    const summary = last || !indexes.has(segment.base) ? null : await matchingSummary(segment);
    if (summary) {
      segment.next = summary.next;
      segment.bytes = summary.bytes;
      segment.firstTimestamp = summary.firstTimestamp;
      segment.lastTimestamp = summary.lastTimestamp;
      segment.indexSaved = true;
    } else {
      await scan(segment, last, logger);
      // The last segment's index lives in memory and changes with every append: no file for it.
      if (last) await unlink(segment.indexPath).catch(() => {});
      else {
        await saveIndex(segment, logger);
        if (segment.indexSaved) segment.index = null;
      }
    }
    segment.file.size = segment.file.written = segment.bytes;
    segment.recovered = true;
    segments.push(segment);
  }
  const active = segments.at(-1);
  // The last one set aside: the one before it becomes the active segment and needs its index in memory.
  if (active && !active.index) {
    await scan(active, true, logger);
    await unlink(active.indexPath).catch(() => {});
    active.indexSaved = false;
    active.file.size = active.file.written = active.bytes;
  }
  return segments;
}

/** Scans a segment into `segment`, cutting off what follows damage. */
async function scan(segment: StreamSegment, last: boolean, logger: Logger): Promise<void> {
  const result = await scanSegmentFile(segment.path, segment.base);
  segment.next = result.next;
  segment.bytes = result.end;
  segment.firstTimestamp = result.firstTimestamp;
  segment.lastTimestamp = result.lastTimestamp;
  segment.index = result.index;
  if (result.problem === null) return;
  await truncateFile(segment.path, result.end);
  const details = { segment: segment.path, position: result.end, droppedBytes: result.fileBytes - result.end, keptEntries: result.entries, next: result.next, reason: result.problem };
  if (last) {
    logger.warn(details, `stream: dropped a torn or corrupt tail of the last segment (${result.problem}); every entry before it is kept and offsets go on from ${result.next}`);
  } else {
    logger.error(details, `stream: damaged entry in a segment that is not the last (${result.problem}); the entries after it in that segment are lost, the segments after it are kept`);
  }
}

/** The summary of the segment's index file if it describes the segment as it is on disk. */
async function matchingSummary(segment: StreamSegment): Promise<SegmentSummary | null> {
  try {
    const handle = await open(segment.indexPath, 'r');
    let head: Buffer;
    try {
      head = Buffer.alloc(64);
      await handle.read(head, 0, 64, 0);
    } finally {
      await handle.close();
    }
    const summary = decodeIndexSummary(head);
    if (!summary || summary.base !== segment.base) return null;
    if ((await stat(segment.path)).size !== summary.bytes) return null;
    return summary;
  } catch {
    return null;
  }
}

/**
 * Writes a sealed segment's index file. It is a cache of what a scan finds, so it is not synced:
 * a crash that leaves it short or stale is caught by its CRC32 or its size, and it is rebuilt.
 */
export async function saveIndex(segment: StreamSegment, logger: Logger): Promise<void> {
  const index = segment.index;
  if (!index) return;
  const summary: SegmentSummary = { bytes: segment.bytes, base: segment.base, next: segment.next, firstTimestamp: segment.firstTimestamp, lastTimestamp: segment.lastTimestamp };
  try {
    await writeFile(segment.indexPath, encodeIndexFile(summary, index.toArray()));
    segment.indexSaved = true;
  } catch (error) {
    logger.warn({ file: segment.indexPath, err: error }, 'stream: could not write a segment index; the segment will be scanned instead');
  }
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
