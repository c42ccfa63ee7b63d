export { JournalStore, type JournalStoreOptions } from './journal/index.js';
export { MemoryStore } from './memory-store.js';
