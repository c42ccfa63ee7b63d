import { MemoryStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

// A memory store "reopens" as the same object: that is what a broker reopened in-process sees.
storeContract('MemoryStore', () => ({
  open: async () => new MemoryStore(),
  reopen: async (store) => store,
}));
