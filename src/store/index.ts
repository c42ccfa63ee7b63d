export { DurableFile, MemoryFile, type TextFile } from './durable-file.js';
export { JournalStore, VhostJournals, type JournalStoreOptions } from './journal/index.js';
export { MemoryStore, MemoryVhostStores } from './memory-store.js';
