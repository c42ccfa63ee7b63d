// Small waiting helpers of bench-streams.mjs's drivers.
import { performance } from 'node:perf_hooks';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => performance.now();

/** Settles when `test()` holds (checked on each wake-up) or after `timeoutMs` without progress. */
export function waiter() {
  let wake;
  return {
    wake: () => wake?.(),
    until: async (test, progress, timeoutMs) => {
      let last = progress();
      let lastAt = now();
      while (!test()) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 50);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (progress() !== last) {
          last = progress();
          lastAt = now();
        } else if (now() - lastAt > timeoutMs) return false;
      }
      return true;
    },
  };
}
