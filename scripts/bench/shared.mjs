// Counters shared between the client process's main thread and its worker threads
// (one SharedArrayBuffer, Int32 slots, Atomics only).

export const PUBLISHED = 0; // messages published (all publishers)
export const DELIVERED = 1; // deliveries received (all consumers)
export const CONFIRMED = 2; // publishes confirmed by the broker
export const PHASE = 3; // IDLE, RUNNING or MEASURING
export const ERRORS = 4; // error frames / negative confirms seen by clients
export const SLOTS = 8;

export const IDLE = 0;
export const RUNNING = 1;
export const MEASURING = 2;

export const newShared = () => new Int32Array(new SharedArrayBuffer(SLOTS * 4));

export const read = (shared, slot) => Atomics.load(shared, slot);

/** Adds n to a counter and wakes whoever waits on it (a publisher holding its window). */
export function bump(shared, slot, n) {
  Atomics.add(shared, slot, n);
  Atomics.notify(shared, slot);
}

/** Resolves when the slot no longer holds `value`, or after timeoutMs; never blocks the event loop. */
export function changed(shared, slot, value, timeoutMs) {
  const wait = Atomics.waitAsync(shared, slot, value, timeoutMs);
  return wait.async ? wait.value : Promise.resolve(wait.value);
}
