import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Most files wait on child processes and sockets, not the CPU: two at a time on a 2-core
    // machine takes the suite from 4m23s to 2m33s (vitest's default there is one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
