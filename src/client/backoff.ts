import type { ReconnectOptions } from './types.js';

/** Reconnect settings with every default filled in. */
export interface ReconnectPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

const DEFAULTS: ReconnectPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity };

/**
 * The reconnect policy of a `reconnect` option, or null when reconnecting is
 * off. Throws a RangeError for values that make no sense, so a mistake shows
 * at `connect` rather than at the first outage.
 */
export function reconnectPolicy(option: boolean | ReconnectOptions | undefined): ReconnectPolicy | null {
  if (option === undefined || option === false) return null;
  const policy = { ...DEFAULTS, ...(option === true ? {} : dropUndefined(option)) };
  for (const key of ['initialDelayMs', 'maxDelayMs', 'maxAttempts'] as const) {
    const value = policy[key];
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new RangeError(`reconnect.${key} must be a number >= 0, got ${String(value)}`);
    }
  }
  if (policy.initialDelayMs > policy.maxDelayMs) {
    throw new RangeError(`reconnect.initialDelayMs (${policy.initialDelayMs}) is greater than reconnect.maxDelayMs (${policy.maxDelayMs})`);
  }
  return policy;
}

/**
 * The wait before reconnect attempt `attempt` (1, 2, ...): the initial delay
 * doubled per attempt up to the maximum, then a random amount of up to half
 * of it taken off, so that many clients dropped at once (a broker restart) do
 * not all come back in the same millisecond.
 */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.initialDelayMs * 2 ** Math.min(attempt - 1, 52), policy.maxDelayMs);
  return Math.round(ceiling - (ceiling / 2) * random());
}

function dropUndefined(options: ReconnectOptions): ReconnectOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
