import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a directory's entries durable: a created, renamed or deleted file survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a file's content durable (one written without a sync of its own). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a small file whole and durably: written aside, synced, renamed over the old one, and
 * the directory synced, so that a crash or a power cut leaves the old file or the new one, never
 * a part of either.
 */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  const aside = `${path}.tmp`;
  const handle = await open(aside, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(aside, path);
  await syncDirectory(dirname(path));
}

/** A person's words for the file system errors a data dir runs into. */
export function describeFsError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  switch (code) {
    case 'ENOSPC':
      return 'the disk is full';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EIO':
      return 'an I/O error from the disk';
    default:
      return message;
  }
}
