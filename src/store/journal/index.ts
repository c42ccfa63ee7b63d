export { JournalStore, type JournalStoreOptions } from './journal-store.js';
