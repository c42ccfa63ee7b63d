import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { IoCounts, MessageStore, VhostStores } from '../../broker/index.js';
import type { DataDirLock } from './data-dir-lock.js';
import { describeFsError, syncDirectory, writeFileDurably } from './file-sync.js';
import { JournalStore, lockDataDir, type JournalStoreOptions } from './journal-store.js';

const DEFAULT_VHOST = '/';
/** The file in a vhost's directory that holds its name: the directory is named by a hash. */
const NAME_FILE = 'vhost.json';

/**
 * One journal per vhost in one locked data dir (docs/design.md, "Durability"): vhost "/" in
 * `<dataDir>/journal` (where a single-vhost broker always kept it), every other vhost in
 * `<dataDir>/vhosts/<sha256 of its name>/journal` beside a `vhost.json` holding the name, as
 * RabbitMQ names its per-vhost directories by a hash. A vhost exists on disk once its directory
 * and name file do. Each journal keeps its vhost's stream logs in `streams/` beside it, so they
 * go with the vhost.
 */
export class VhostJournals implements VhostStores {
  readonly io: IoCounts;

  private constructor(
    private readonly options: JournalStoreOptions & { io: IoCounts },
    private readonly lock: DataDirLock,
    private readonly logger: Logger,
  ) {
    this.io = options.io;
  }

  /** Locks `options.dataDir` (an Error a person can act on when it cannot be used or is in use). */
  static async open(options: JournalStoreOptions): Promise<VhostJournals> {
    const logger = options.logger ?? pino({ level: 'silent' });
    return new VhostJournals({ ...options, io: { writtenBytes: 0, syncs: 0 } }, await lockDataDir(options.dataDir, logger), logger);
  }

  async list(): Promise<string[]> {
    const names = [DEFAULT_VHOST];
    let entries: string[];
    try {
      entries = await readdir(this.vhostsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return names;
      throw new Error(`cannot read the vhosts in "${this.vhostsDir}": ${describeFsError(error)}`, { cause: error });
    }
    for (const entry of entries.sort()) {
      const file = join(this.vhostsDir, entry, NAME_FILE);
      try {
        const name: unknown = JSON.parse(await readFile(file, 'utf8'));
        if (typeof name === 'string' && name !== DEFAULT_VHOST) names.push(name);
      } catch (error) {
        // A vhost whose creation was cut short has no name file yet: it never existed.
        this.logger.warn({ file, err: error }, 'a vhost directory without a readable name is skipped');
      }
    }
    return names;
  }

  async open(vhost: string): Promise<MessageStore> {
    if (vhost === DEFAULT_VHOST) return JournalStore.openIn(join(this.options.dataDir, 'journal'), this.options, noRelease);
    const dir = this.dirOf(vhost);
    const nameFile = join(dir, NAME_FILE);
    try {
      await mkdir(dir, { recursive: true });
      await writeFileDurably(nameFile, JSON.stringify(vhost));
      await syncDirectory(this.vhostsDir);
    } catch (error) {
      throw new Error(`cannot create the directory of vhost ${JSON.stringify(vhost)} in "${dir}": ${describeFsError(error)}`, { cause: error });
    }
    return JournalStore.openIn(join(dir, 'journal'), this.options, noRelease);
  }

  /** Removes the vhost's journal and its streams (a JournalStore keeps them in `streams/` beside its journal). */
  async remove(vhost: string): Promise<void> {
    if (vhost === DEFAULT_VHOST) {
      // The journal first: streams left by a crash half-way belong to no stored queue, and the next open removes them.
      await rm(join(this.options.dataDir, 'journal'), { recursive: true, force: true });
      await rm(join(this.options.dataDir, 'streams'), { recursive: true, force: true });
      return;
    }
    const dir = this.dirOf(vhost);
    // The name file goes first, so that a crash half-way leaves a directory that is skipped, not a half vhost.
    await rm(join(dir, NAME_FILE), { force: true });
    await rm(dir, { recursive: true, force: true });
  }

  close(): Promise<void> {
    return this.lock.release();
  }

  private get vhostsDir(): string {
    return join(this.options.dataDir, 'vhosts');
  }

  private dirOf(vhost: string): string {
    return join(this.vhostsDir, createHash('sha256').update(vhost, 'utf8').digest('hex'));
  }
}

const noRelease = async (): Promise<void> => {};
