import { readFile } from 'node:fs/promises';
import { describeFsError, writeFileDurably } from './journal/file-sync.js';

/** A small text file of the data dir replaced whole and durably (the users and permissions made at run time). */
export interface TextFile {
  /** The text, or undefined when the file was never written. */
  read(): Promise<string | undefined>;
  /** Resolves once the text is on disk; a crash meanwhile leaves the old text or the new. */
  write(text: string): Promise<void>;
}

export class DurableFile implements TextFile {
  constructor(readonly path: string) {}

  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read "${this.path}": ${describeFsError(error)}`, { cause: error });
    }
  }

  async write(text: string): Promise<void> {
    try {
      await writeFileDurably(this.path, text);
    } catch (error) {
      throw new Error(`cannot write "${this.path}": ${describeFsError(error)}`, { cause: error });
    }
  }
}

/** A TextFile in memory, for tests and the memory stores. */
export class MemoryFile implements TextFile {
  constructor(private text: string | undefined = undefined) {}

  async read(): Promise<string | undefined> {
    return this.text;
  }

  async write(text: string): Promise<void> {
    this.text = text;
  }
}
