/** Message properties (docs/protocol.md, "Message properties and headers"). */
export interface MessageProperties {
  persistent?: boolean;
  priority?: number;
  expiration?: number;
  timestamp?: number;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  contentType?: string;
  type?: string;
  appId?: string;
}

export type Headers = Record<string, unknown>;

/**
 * One published message. Immutable once routed: a fan-out to N queues shares this one object.
 * Dead-lettering makes a new message rather than changing it.
 */
export interface Message {
  readonly exchange: string;
  readonly routingKey: string;
  /** The payload's JSON text, encoded once by the protocol layer and never parsed by the broker. */
  readonly payload: string;
  /** UTF-8 length of `payload`, what `x-max-length-bytes` counts. */
  readonly size: number;
  readonly headers: Headers;
  readonly properties: MessageProperties;
  /** Set from `x-delay` when it is published: not ready in its queues before this time. Stored with the message. */
  readonly readyAt?: number;
  /**
   * The wire encoding of the fields above, filled in by the protocol layer on first delivery so
   * that every further delivery splices it in rather than serialising again.
   */
  encoded?: string;
}

/** Time, passed in so the model stays deterministic and testable with a fake clock. */
export interface Clock {
  now(): number;
  setTimer(callback: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export type TimerHandle = unknown;

// Read once per event-loop turn: a fan-out asks the time for every delivery (for the consumer
// acknowledgement timeout), and TTLs and timeouts need no finer grain than a turn.
let turnNow: number | undefined;
const forgetTurnNow = (): void => {
  turnNow = undefined;
};

/** The real clock: wall time, read at most once per event-loop turn, and Node's timers. */
export const systemClock: Clock = {
  now: () => {
    if (turnNow === undefined) {
      turnNow = Date.now();
      setImmediate(forgetTurnNow);
    }
    return turnNow;
  },
  setTimer: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The exchange types (docs/protocol.md, "Exchanges"): the one list the schemas and the config check against. */
export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers'] as const;

export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export interface ConsumeOptions {
  consumerTag?: string;
  prefetch: number;
  noAck: boolean;
  exclusive: boolean;
  priority: number;
  arguments: Record<string, unknown>;
}
