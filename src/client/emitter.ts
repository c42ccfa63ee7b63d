/** Maps each event name of `M` to the arguments its listeners receive. */
export type EventMap<M> = { [E in keyof M]: unknown[] };

/** A listener for event `E` of map `M`. */
export type Listener<M extends EventMap<M>, E extends keyof M> = (...args: M[E]) => void;

/**
 * A tiny typed event emitter that runs in browsers and Node alike (no
 * `events` module).
 *
 * A listener that throws does not stop the other listeners, nor the code
 * that emitted: the error goes to `onListenerError`.
 */
export class Emitter<M extends EventMap<M>> {
  readonly #listeners = new Map<keyof M, Array<Listener<M, keyof M>>>();

  /** @param onListenerError gets what a listener threw, with the event it was called for */
  constructor(private readonly onListenerError: (error: unknown, event: keyof M) => void) {}

  /** Adds `listener` for `event`. */
  on<E extends keyof M>(event: E, listener: Listener<M, E>): void {
    // Copy on write, so an emit in progress does not call a listener added during it.
    const list = this.#listeners.get(event) ?? [];
    this.#listeners.set(event, [...list, listener as Listener<M, keyof M>]);
  }

  /** Removes one registration of `listener` for `event`, if there is one. */
  off<E extends keyof M>(event: E, listener: Listener<M, E>): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    const at = list.lastIndexOf(listener as Listener<M, keyof M>);
    if (at === -1) return;
    const next = list.slice();
    next.splice(at, 1);
    if (next.length === 0) this.#listeners.delete(event);
    else this.#listeners.set(event, next);
  }

  /** The number of listeners for `event`. */
  listenerCount(event: keyof M): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event` in the order they were added; returns whether there was one. */
  emit<E extends keyof M>(event: E, ...args: M[E]): boolean {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const listener of list) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
    return true;
  }
}
