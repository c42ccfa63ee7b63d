import { readFile, rename } from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeFsError, writeFileDurably } from '../journal/file-sync.js';

/**
 * The committed offsets of a stream's consumer groups, in memory, and in a small file
 * (`offsets.json`: `{"groups":[[name, offset], ...]}`) replaced whole and durably (written aside,
 * synced, renamed) at most once per interval while commits come, and at close. So a commit costs
 * no I/O of its own, a crash loses at most the last interval's commits (a group then starts a
 * little earlier: at least once), and the file is always the old whole one or the new one.
 *
 * Before the file is written, `beforeWrite` waits until every entry appended so far is on disk:
 * a commit names an entry that was appended before it, so the file never names an entry that a
 * crash could take away (whose offset would be given again to another message).
 */
export class GroupOffsets {
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly commits: Map<string, number>,
    /** How long commits wait before they are written; a change applies from the next write on. */
    public intervalMs: number,
    private readonly beforeWrite: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** The commits in the file at `path` (none when there is no file). A damaged file is set aside as `*.damaged` and logged. */
  static async load(path: string, logger: Logger): Promise<Map<string, number>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new Error(`cannot read "${path}": ${describeFsError(error)}`, { cause: error });
    }
    const commits = parseOffsets(text);
    if (commits) return commits;
    await rename(path, `${path}.damaged`);
    logger.error({ file: path, setAside: `${path}.damaged` }, 'stream: the consumer group offsets file does not parse; it is set aside and the groups start with no committed offset');
    return new Map();
  }

  get(group: string): number | null {
    return this.commits.get(group) ?? null;
  }

  /** Every group with an offset, and the offset. */
  entries(): IterableIterator<[string, number]> {
    return this.commits.entries();
  }

  /** How many groups have an offset. */
  get size(): number {
    return this.commits.size;
  }

  set(group: string, offset: number): void {
    this.commits.set(group, offset);
    if (this.dirty) return;
    this.dirty = true;
    this.schedule();
  }

  /** Writes what is not written yet and stops writing. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    const text = serialise(this.commits);
    await this.beforeWrite();
    await writeFileDurably(this.path, text);
  }

  /** Stops writing without writing what is left (the stream is being deleted). */
  async discard(): Promise<void> {
    this.stopped = true;
    this.dirty = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
  }

  private schedule(): void {
    if (this.timer || this.writing || this.stopped) return;
    this.timer = setTimeout(this.onTimer, this.intervalMs);
    // A pending write of commits does not keep a process alive: close() writes them.
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.writing = this.write().finally(() => {
      this.writing = null;
      if (this.dirty) this.schedule();
    });
  };

  private async write(): Promise<void> {
    this.dirty = false;
    // Taken now: commits made while the entries are being flushed wait for the next write.
    const text = serialise(this.commits);
    try {
      await this.beforeWrite();
      await writeFileDurably(this.path, text);
    } catch (error) {
      this.dirty = true;
      this.logger.warn({ file: this.path, err: error }, `stream: could not write the consumer group offsets (${describeFsError(error)}); trying again later`);
    }
  }
}

const serialise = (commits: Map<string, number>): string => JSON.stringify({ groups: [...commits] });

function parseOffsets(text: string): Map<string, number> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const groups = (parsed as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups)) return null;
  const commits = new Map<string, number>();
  for (const pair of groups) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !Number.isSafeInteger(pair[1]) || (pair[1] as number) < 0) return null;
    commits.set(pair[0], pair[1] as number);
  }
  return commits;
}
