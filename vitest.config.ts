import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.test.ts'],
    // Most end-to-end tests wait on processes they start: three files at a time keep two cores
    // busy and CI well within its 15 minutes (one at a time, the default here, took twice as long).
    maxWorkers: 3,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
