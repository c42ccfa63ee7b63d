export { JournalStore, type JournalStoreOptions } from './journal-store.js';
export { VhostJournals } from './vhost-journals.js';
