import { describe, expect, it } from 'vitest';
import { refreshDelay, retryDelay, unrefTimer } from '../../src/client/token-refresh.js';

describe('client - token refresh timing', () => {
  it('client - refreshes 80% through the remaining lifetime, 1 s to 60 s before expiry', () => {
    expect(refreshDelay(3_600_000, 0)).toBe(3_540_000); // an hour: a minute before
    expect(refreshDelay(100_000, 0)).toBe(80_000); // 100 s: 20 s before
    expect(refreshDelay(3_000, 0)).toBe(2_000); // 3 s: 1 s before
    expect(refreshDelay(1_000, 0)).toBe(0);
    expect(refreshDelay(500, 1_000)).toBe(0); // already past
  });

  it('client - retries every 5 s or at half the time left, not with less than 1 s left', () => {
    expect(retryDelay(60_000, 0)).toBe(5_000);
    expect(retryDelay(4_000, 0)).toBe(2_000);
    expect(retryDelay(1_000, 0)).toBe(500);
    expect(retryDelay(999, 0)).toBeNull();
    expect(retryDelay(0, 10)).toBeNull();
  });

  it('client - unrefTimer unrefs a Node timer and leaves a browser number alone', () => {
    const timer = setTimeout(() => {}, 1000);
    unrefTimer(timer);
    expect(timer.hasRef()).toBe(false);
    clearTimeout(timer);
    expect(() => unrefTimer(7 as never)).not.toThrow();
  });
});
