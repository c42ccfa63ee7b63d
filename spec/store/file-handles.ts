import { constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type MockInstance } from 'vitest';

/** The prototype of node's FileHandle, to spy on its methods. */
export async function fileHandlePrototype(): Promise<FileHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-probe-'));
  const handle = await open(join(dir, 'probe'), 'w');
  await handle.close();
  rmSync(dir, { recursive: true, force: true });
  return Object.getPrototypeOf(handle) as FileHandle;
}

/** The open flags of a file handle, as Linux reports them (/proc/self/fdinfo), or null elsewhere. */
function openFlags(handle: FileHandle): number | null {
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${handle.fd}`, 'utf8'));
    return flags ? parseInt(flags[1], 8) : null;
  } catch {
    return null;
  }
}

/**
 * The batch went out as one write that is on disk when it returns: on Linux to a file opened
 * with O_DSYNC, elsewhere followed by one fdatasync. Call while the file is open.
 */
export function expectOneSyncedWrite(write: MockInstance, datasync: MockInstance): void {
  expect(write).toHaveBeenCalledTimes(1);
  if (process.platform !== 'linux' || constants.O_DSYNC === undefined) {
    expect(datasync).toHaveBeenCalledTimes(1);
    return;
  }
  expect(datasync).not.toHaveBeenCalled();
  const flags = openFlags(write.mock.contexts[0] as FileHandle);
  if (flags !== null) expect(flags & constants.O_DSYNC).toBe(constants.O_DSYNC);
}
