import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

/** Lock files held by this process: a lock with our own pid that is not here was left by an earlier process. */
const heldHere = new Set<string>();

/**
 * `<dataDir>/LOCK`, holding the pid of the broker that uses the data dir. It is created
 * atomically with its content (written to a temporary file, then hard-linked into place, which
 * fails if LOCK exists), so a reader never sees a half-written lock. A lock whose pid is not a
 * running process was left by a crash and is taken over.
 */
export class DataDirLock {
  private released = false;

  private constructor(readonly path: string) {}

  /** Takes the lock, or throws an Error naming the data dir and the broker that holds it. */
  static async acquire(dataDir: string): Promise<{ lock: DataDirLock; staleHolder: number | null }> {
    const path = resolve(dataDir, 'LOCK');
    const temporary = join(dataDir, `LOCK.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(temporary, `${process.pid}\n`);
    try {
      let staleHolder: number | null = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await link(temporary, path);
          heldHere.add(path);
          return { lock: new DataDirLock(path), staleHolder };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await readHolder(path);
        if (holder !== null && isRunning(holder, path)) {
          throw new Error(
            `data dir "${dataDir}" is in use by another Warren broker (pid ${holder}, lock file ${path}); stop that broker or give this one another data dir`,
          );
        }
        staleHolder = holder;
        await unlink(path).catch(ignoreMissing);
      }
      throw new Error(`could not take the lock file ${path}: other processes keep creating it; is another broker starting on data dir "${dataDir}"?`);
    } finally {
      await unlink(temporary).catch(ignoreMissing);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.path);
    if ((await readHolder(this.path)) === process.pid) await unlink(this.path).catch(ignoreMissing);
  }
}

/** The pid in a lock file; null when it is gone or holds no pid. */
async function readHolder(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch (error) {
    ignoreMissing(error);
    return null;
  }
}

function isRunning(pid: number, path: string): boolean {
  // Our own pid: a second open in this process, or (a container restarted after a crash, where
  // the broker is pid 1 again) a lock left by the process before.
  if (pid === process.pid) return heldHere.has(path);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
