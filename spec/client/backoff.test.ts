import { describe, expect, it } from 'vitest';
import { backoffDelay, reconnectPolicy } from '../../src/client/backoff.js';

describe('client backoff', () => {
  it('client backoff - reconnect is off by default and true takes the defaults', () => {
    expect(reconnectPolicy(undefined)).toBeNull();
    expect(reconnectPolicy(false)).toBeNull();
    expect(reconnectPolicy(true)).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity });
    expect(reconnectPolicy({ maxAttempts: 3, initialDelayMs: undefined })).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 3 });
  });

  it('client backoff - nonsense values are refused with a RangeError naming the option', () => {
    expect(() => reconnectPolicy({ initialDelayMs: -1 })).toThrow(/reconnect\.initialDelayMs/);
    expect(() => reconnectPolicy({ maxAttempts: Number.NaN })).toThrow(/reconnect\.maxAttempts/);
    expect(() => reconnectPolicy({ initialDelayMs: 2000, maxDelayMs: 1000 })).toThrow(RangeError);
  });

  it('client backoff - the delay doubles per attempt up to the maximum, less up to half of it in jitter', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000, maxAttempts: Infinity };
    expect([1, 2, 3, 4, 5, 60, 2000].map((attempt) => backoffDelay(policy, attempt, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBe(50);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(300);
  });
});
