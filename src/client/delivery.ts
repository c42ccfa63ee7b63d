import type { DeliverFrame, RequestFields } from '../protocol/index.js';
import { num, obj, pick, str, type FieldsOf, type Frame, type Received } from './frame.js';
import type { Delivery } from './types.js';

type SettleOp = 'ack' | 'nack' | 'reject';

/** Where a delivery sends its settlement: the session it came over. */
export interface Settler {
  /** Sends a frame that gets no reply; does nothing once the session is gone. */
  send<Op extends SettleOp, F extends RequestFields<Op>>(op: Op, fields: FieldsOf<Op, F>): void;
}

/**
 * A `deliver` frame, or the `message` of a `get` reply, with its settling
 * methods. A class rather than an object of closures: one allocation per
 * message, methods shared on the prototype.
 */
export class IncomingDelivery implements Delivery {
  // `declare`: no own property at all for a `get` (not even `undefined`).
  declare readonly consumerTag?: string;
  readonly deliveryTag: number;
  readonly redelivered: boolean;
  readonly exchange: string;
  readonly routingKey: string;
  readonly payload: unknown;
  readonly headers: Record<string, unknown>;
  readonly properties: Record<string, unknown>;
  /** Null once settled, or when there is nothing to settle (noAck). Private: not shown when logged. */
  #settler: Settler | null;

  /**
   * @param frame the broker's fields: a `deliver` frame, or the `message` of a `get` reply
   * @param settler the session to settle over, or null when the message came with `noAck`
   */
  constructor(frame: Received<DeliverFrame>, settler: Settler | null) {
    if (typeof frame.consumerTag === 'string') this.consumerTag = frame.consumerTag;
    this.deliveryTag = num(frame.deliveryTag);
    this.redelivered = frame.redelivered === true;
    this.exchange = str(frame.exchange);
    this.routingKey = str(frame.routingKey);
    this.payload = frame.payload;
    this.headers = obj(frame.headers);
    this.properties = obj(frame.properties);
    this.#settler = settler;
  }

  /** {@inheritDoc Delivery.ack} */
  ack(options?: { multiple?: boolean }): void {
    this.#settle('ack', { deliveryTag: this.deliveryTag, ...pick(options, ['multiple']) });
  }

  /** {@inheritDoc Delivery.nack} */
  nack(options?: { requeue?: boolean; multiple?: boolean }): void {
    this.#settle('nack', { deliveryTag: this.deliveryTag, ...pick(options, ['multiple', 'requeue']) });
  }

  /** {@inheritDoc Delivery.reject} */
  reject(options?: { requeue?: boolean }): void {
    this.#settle('reject', { deliveryTag: this.deliveryTag, ...pick(options, ['requeue']) });
  }

  #settle<Op extends SettleOp, F extends RequestFields<Op>>(op: Op, fields: FieldsOf<Op, F>): void {
    const settler = this.#settler;
    if (settler === null) return;
    this.#settler = null;
    settler.send(op, fields);
  }
}

/** Whether a `deliver` frame has the fields the client relies on. */
export function isDeliverFrame(frame: Frame): frame is Frame & { consumerTag: string; deliveryTag: number } {
  return typeof frame.consumerTag === 'string' && Number.isSafeInteger(frame.deliveryTag) && (frame.deliveryTag as number) >= 1;
}
