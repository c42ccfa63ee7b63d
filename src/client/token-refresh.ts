// When a client with `getToken` refreshes its token (docs/security.md, "Tokens"): the broker closes
// the connection once the token's `expiresAt` passes, so the new token must be in before then.

/** The least time before expiry at which the client refreshes, in ms. */
export const MIN_REFRESH_LEAD_MS = 1_000;
/** The most time before expiry at which the client refreshes, in ms. */
export const MAX_REFRESH_LEAD_MS = 60_000;
/** The shortest wait between a successful refresh and the next, in ms: no loop on short-lived tokens. */
export const MIN_REFRESH_INTERVAL_MS = 1_000;
/** The longest wait between a failed refresh and the next try, in ms. */
export const MAX_RETRY_DELAY_MS = 5_000;

/**
 * How long to wait before refreshing a token that expires at `expiresAt`: until 80% of its
 * remaining lifetime has passed, but at least 1 s and at most 60 s before expiry (so a 1-hour token
 * is refreshed a minute before, a 3-second one a second before). 0 when that moment is past.
 */
export function refreshDelay(expiresAt: number, now: number): number {
  const remaining = expiresAt - now;
  const lead = Math.min(MAX_REFRESH_LEAD_MS, Math.max(MIN_REFRESH_LEAD_MS, remaining / 5));
  return Math.max(0, Math.round(remaining - lead));
}

/**
 * How long to wait before trying a failed refresh again: 5 s, or half the time left when that is
 * sooner; null when less than a second is left, as the broker will close the connection before
 * another try could help (a reconnect then starts with a fresh token).
 */
export function retryDelay(expiresAt: number, now: number): number | null {
  const left = expiresAt - now;
  if (left < MIN_REFRESH_LEAD_MS) return null;
  return Math.round(Math.min(MAX_RETRY_DELAY_MS, left / 2));
}

/** A timer that does not keep a Node process alive (browsers' timers are numbers, without `unref`). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  const handle = timer as unknown as { unref?: unknown };
  if (typeof handle === 'object' && handle !== null && typeof handle.unref === 'function') (handle as { unref(): void }).unref();
}
