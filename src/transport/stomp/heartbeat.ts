import { StompError } from './frame.js';

/** The shortest heart-beat interval the broker agrees to, either way: a client asking for less gets this. */
export const MIN_HEARTBEAT_MS = 100;
/** Silence from a client for this many of its agreed intervals means it is gone. */
const MISSES_ALLOWED = 2;

export interface HeartBeatTerms {
  /** The broker sends an EOL at least this often; 0 = never. */
  sendMs: number;
  /** The client promised to send something at least this often; 0 = no check. */
  expectMs: number;
  /** The CONNECTED frame's `heart-beat` header. */
  header: string;
}

/**
 * Negotiates heart-beats from a CONNECT `heart-beat: cx,cy` (STOMP 1.2, "Heart-beating"): the
 * broker offers `sx = cy` and `sy = cx` (at least MIN_HEARTBEAT_MS when not 0), as RabbitMQ does,
 * so the client's wishes are the result.
 */
export function negotiateHeartBeat(header: string | undefined): HeartBeatTerms {
  if (header === undefined) return { sendMs: 0, expectMs: 0, header: '0,0' };
  const match = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(header);
  if (!match) throw new StompError(`heart-beat must be two numbers of milliseconds, "<you send every>,<you want every>" (got ${JSON.stringify(header.slice(0, 40))})`);
  const clientSends = Number(match[1]);
  const clientWants = Number(match[2]);
  const sendMs = clientWants === 0 ? 0 : Math.max(clientWants, MIN_HEARTBEAT_MS);
  const expectMs = clientSends === 0 ? 0 : Math.max(clientSends, MIN_HEARTBEAT_MS);
  return { sendMs, expectMs, header: `${sendMs},${expectMs}` };
}

/**
 * The timers of one connection's heart-beats: an EOL sent every `sendMs` (an extra EOL between
 * frames is harmless, so it is not skipped when other frames went out), and a check every
 * `expectMs` that anything arrived; after MISSES_ALLOWED silent intervals `onSilent` is called.
 */
export class HeartBeats {
  private received = true;
  private misses = 0;
  private readonly sender: ReturnType<typeof setInterval> | undefined;
  private readonly checker: ReturnType<typeof setInterval> | undefined;

  constructor(
    terms: HeartBeatTerms,
    send: () => void,
    /** Whether the check is off for now (the socket is not read while its publisher is blocked). */
    private readonly paused: () => boolean,
    private readonly onSilent: () => void,
  ) {
    if (terms.sendMs > 0) {
      this.sender = setInterval(send, terms.sendMs);
      this.sender.unref();
    }
    if (terms.expectMs > 0) {
      this.checker = setInterval(this.check, terms.expectMs);
      this.checker.unref();
    }
  }

  /** Something arrived from the client. */
  markReceived(): void {
    this.received = true;
  }

  stop(): void {
    clearInterval(this.sender);
    clearInterval(this.checker);
  }

  private readonly check = (): void => {
    if (this.received || this.paused()) {
      this.received = false;
      this.misses = 0;
      return;
    }
    if (++this.misses >= MISSES_ALLOWED) {
      this.stop();
      this.onSilent();
    }
  };
}
