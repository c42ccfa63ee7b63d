import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { HEADER_BYTES } from '../journal/record-format.js';
import { checkEntry, crc32Of, entryTimestamp } from './entry-format.js';
import { SparseIndex } from './stream-segment.js';

/** The most a read asks of the disk at once (and the cursor's buffer): one pread serves several small reads in a row. */
export const READ_CHUNK_BYTES = 64 * 1024;
/** The least: a page or two of entries. */
const MIN_READ_BYTES = 8 * 1024;
/** What recovery reads at once. */
const SCAN_CHUNK_BYTES = 1024 * 1024;

/**
 * Steps through the entries of one segment file with synchronous preads, one chunk at a time,
 * into one buffer that every read of the log shares (so reading allocates no buffers). What it
 * last read stays in the buffer, so a reader that goes on where it stopped is served from it.
 * The file's bytes below `limit` never change, so that is safe.
 */
export class RecordCursor {
  /** Made at the first read: a stream that is only written holds none. */
  private buffer = Buffer.alloc(0);
  /** Whose bytes the buffer holds, from which file position, and how many. */
  private owner: object | null = null;
  private bufferStart = 0;
  private bufferEnd = 0;
  private fd = -1;
  private limit = 0;
  /** How much the next preads fetch: about what the read in progress needs. */
  private readBytes = READ_CHUNK_BYTES;
  /** The file position of the next entry, and the offset it must carry. */
  nextPosition = 0;
  expected = 0;
  /** The current entry: its offset, timestamp, file position, and where its record starts in `data`. */
  offset = 0;
  position = 0;
  timestamp = 0;
  at = 0;
  /** Why the last `next()` stopped early (damage), or null. */
  problem: string | null = null;

  /** The buffer holding the current entry. */
  get data(): Buffer {
    return this.buffer;
  }

  /**
   * Starts at `position` of `owner`'s file `fd` (an entry carrying offset `expected`), reading no
   * further than `limit`, about `readBytes` at a time (what the caller expects to need).
   */
  start(owner: object, fd: number, position: number, limit: number, expected: number, readBytes = READ_CHUNK_BYTES): void {
    this.readBytes = Math.min(READ_CHUNK_BYTES, Math.max(MIN_READ_BYTES, readBytes));
    if (this.owner !== owner || this.fd !== fd) {
      this.owner = owner;
      this.fd = fd;
      this.bufferEnd = 0;
    }
    if (this.buffer.length > 16 * READ_CHUNK_BYTES) {
      // A large entry grew the buffer: give the memory back.
      this.buffer = Buffer.alloc(0);
      this.bufferEnd = 0;
    }
    this.limit = limit;
    this.nextPosition = position;
    this.expected = expected;
    this.problem = null;
  }

  /** Forgets what the buffer holds (the file of `owner` is going away). */
  forget(owner: object): void {
    if (this.owner === owner) {
      this.owner = null;
      this.fd = -1;
      this.bufferEnd = 0;
    }
  }

  /**
   * Moves to the next entry; false at `limit` or at damage (`problem` then says what). With
   * `crc` the entry's CRC32 is checked too; without, only its framing and offset.
   */
  next(crc: boolean): boolean {
    const position = this.nextPosition;
    if (position >= this.limit) return false;
    let at = position - this.bufferStart;
    if (at < 0 || at >= this.bufferEnd) {
      this.fill(position, HEADER_BYTES);
      at = 0;
    }
    let problem = checkEntry(this.buffer, at, this.bufferEnd - at, this.expected, crc);
    if (problem === 'short') {
      const need = this.bufferEnd - at >= HEADER_BYTES ? HEADER_BYTES + this.buffer.readUInt32LE(at) : HEADER_BYTES;
      if (position + need > this.limit) problem = need === HEADER_BYTES ? 'a record header cut short' : 'a record cut short';
      else {
        this.fill(position, need);
        at = 0;
        problem = checkEntry(this.buffer, 0, this.bufferEnd, this.expected, crc);
        if (problem === 'short') problem = 'a record cut short';
      }
    }
    if (problem !== null) {
      this.problem = problem;
      return false;
    }
    this.at = at;
    this.position = position;
    this.offset = this.expected++;
    this.timestamp = entryTimestamp(this.buffer, at);
    this.nextPosition = position + HEADER_BYTES + this.buffer.readUInt32LE(at);
    return true;
  }

  /** The current entry's body: where it starts in `data` and its length. */
  get bodyAt(): number {
    return this.at + HEADER_BYTES;
  }

  get bodyLength(): number {
    return this.buffer.readUInt32LE(this.at);
  }

  /** Whether the current entry's CRC32 matches its bytes (when `next` was called without checking it). */
  crcMatches(): boolean {
    const body = this.at + HEADER_BYTES;
    return crc32Of(this.buffer, body, body + this.buffer.readUInt32LE(this.at)) === this.buffer.readUInt32LE(this.at + 4);
  }

  /** Reads from `position` on, at least `need` bytes unless the limit comes first. */
  private fill(position: number, need: number): void {
    if (this.buffer.length < need || this.buffer.length < READ_CHUNK_BYTES) this.buffer = Buffer.allocUnsafe(Math.max(need, READ_CHUNK_BYTES));
    const want = Math.min(Math.max(need, this.readBytes), this.limit - position);
    let got = 0;
    while (got < want) {
      const read = readSync(this.fd, this.buffer, got, want - got, position + got);
      if (read === 0) break;
      got += read;
    }
    this.bufferStart = position;
    this.bufferEnd = got;
  }
}

/** What a scan of a segment file found. */
export interface SegmentScan {
  /** The file position after the last whole, valid entry. */
  end: number;
  /** The file's size: more than `end` when it ends in a torn or damaged record. */
  fileBytes: number;
  /** The offset after the last good entry. */
  next: number;
  entries: number;
  firstTimestamp: number;
  lastTimestamp: number;
  index: SparseIndex;
  /** Why the scan stopped before the end of the file, or null. */
  problem: string | null;
}

/**
 * Reads a segment file through (asynchronously, a chunk at a time), checks every entry (framing,
 * CRC32, offsets following on from `base`) and builds its sparse index; stops at the first entry
 * that is cut short or damaged.
 */
export async function scanSegmentFile(path: string, base: number): Promise<SegmentScan> {
  const handle = await open(path, 'r');
  try {
    const fileBytes = (await handle.stat()).size;
    const index = new SparseIndex();
    let buffer = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(fileBytes, HEADER_BYTES)));
    let bufferStart = 0;
    let bufferEnd = 0;
    let position = 0;
    let expected = base;
    let firstTimestamp = Infinity;
    let lastTimestamp = -Infinity;
    let problem: string | null = null;
    const fill = async (need: number): Promise<void> => {
      if (buffer.length < need) buffer = Buffer.allocUnsafe(need);
      const want = Math.min(buffer.length, fileBytes - position);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await handle.read(buffer, got, want - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      bufferStart = position;
      bufferEnd = got;
    };
    while (position < fileBytes) {
      let at = position - bufferStart;
      let result = checkEntry(buffer, at, bufferEnd - at, expected, true);
      if (result === 'short') {
        const need = bufferEnd - at >= HEADER_BYTES ? HEADER_BYTES + buffer.readUInt32LE(at) : HEADER_BYTES;
        if (position + need > fileBytes) {
          const left = fileBytes - position;
          problem = need === HEADER_BYTES ? `a record header cut short (${left} of ${HEADER_BYTES} bytes)` : `a record cut short (${left - HEADER_BYTES} of ${need - HEADER_BYTES} bytes)`;
          break;
        }
        await fill(need);
        at = 0;
        result = checkEntry(buffer, 0, bufferEnd, expected, true);
        if (result === 'short') result = 'a record cut short (the file shrank while it was read)';
      }
      if (result !== null) {
        problem = result;
        break;
      }
      const timestamp = entryTimestamp(buffer, at);
      index.note(expected, timestamp, position);
      if (firstTimestamp === Infinity) firstTimestamp = timestamp;
      lastTimestamp = timestamp;
      expected++;
      position += HEADER_BYTES + buffer.readUInt32LE(at);
    }
    return { end: position, fileBytes, next: expected, entries: expected - base, firstTimestamp, lastTimestamp, index, problem };
  } finally {
    await handle.close();
  }
}
