import { StompError } from './frame.js';

/** A SEND, ACK or NACK put aside in a transaction until COMMIT. */
export interface Deferred {
  readonly command: string;
  readonly headers: Map<string, string>;
  readonly body: Buffer;
}

/** What a BEGIN or a deferred frame's headers count against the budget, in bytes. */
const OVERHEAD_BYTES = 256;
/** Open transactions of one connection may hold this many frames' worth of bytes (64 MiB with the default limit). */
export const TRANSACTION_BUDGET_FRAMES = 64;

/**
 * The open transactions of one STOMP connection (STOMP 1.2, "BEGIN"): frames held in order until
 * COMMIT or ABORT, within a byte budget so that memory stays bounded however long a client waits.
 */
export class Transactions {
  private readonly open = new Map<string, Deferred[]>();
  private bytes = 0;
  private readonly budget: number;

  constructor(maxFrameBytes: number) {
    this.budget = TRANSACTION_BUDGET_FRAMES * maxFrameBytes;
  }

  begin(name: string): void {
    if (this.open.has(name)) throw new StompError(`transaction "${name}" is already begun; COMMIT or ABORT it first`);
    this.hold(OVERHEAD_BYTES);
    this.open.set(name, []);
  }

  /** Holds a frame (already checked) for COMMIT; its body is copied, as it is a view of a larger WebSocket message. */
  add(name: string, frame: Deferred): void {
    const frames = this.frames(name, frame.command);
    this.hold(frame.body.length + OVERHEAD_BYTES);
    frames.push({ ...frame, body: Buffer.from(frame.body) });
  }

  /** Throws unless `name` is an open transaction. */
  check(name: string, command: string): void {
    this.frames(name, command);
  }

  /** COMMIT or ABORT: the transaction's frames, in order; the transaction is gone. */
  end(name: string, command: string): Deferred[] {
    const frames = this.frames(name, command);
    this.open.delete(name);
    this.bytes -= OVERHEAD_BYTES;
    for (const frame of frames) this.bytes -= frame.body.length + OVERHEAD_BYTES;
    return frames;
  }

  private frames(name: string, command: string): Deferred[] {
    const frames = this.open.get(name);
    if (!frames) throw new StompError(`${command} names transaction "${name}", which was not begun or has ended; BEGIN it first`);
    return frames;
  }

  private hold(bytes: number): void {
    if (this.bytes + bytes > this.budget) {
      throw new StompError(
        `the open transactions of this connection would hold more than ${this.budget} bytes (${TRANSACTION_BUDGET_FRAMES} times server.maxMessageBytes); COMMIT or ABORT sooner`,
      );
    }
    this.bytes += bytes;
  }
}
