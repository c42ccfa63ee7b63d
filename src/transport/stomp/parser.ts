import { syntaxError, type RawFrame, type RawHeaders } from './frame.js';

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const EMPTY = Buffer.alloc(0);

/** The commands a client may send (STOMP 1.2, "Client Frames"). */
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set([
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
]);

/**
 * A streaming STOMP frame parser. WebSocket messages are fed in as they come: one may hold
 * several frames, and a frame may span several messages (stomp.js `splitLargeFrames`). End-of-line
 * bytes between frames are heart-beats and are skipped. A frame's body ends at `content-length`
 * bytes (then a NUL must follow) or, without it, at the first NUL. Any syntax error throws a
 * StompError; the session then sends ERROR and closes, so the parser is not used again.
 */
export class StompParser {
  /** Unconsumed bytes: the start of a frame not yet complete. */
  private pending: Buffer = EMPTY;
  /** Where the search for the blank line ending the headers resumes, relative to the frame start. */
  private headerScan = 0;
  /** The frame whose headers are read, while its body is awaited. */
  private head: { command: string; headers: RawHeaders; bodyStart: number; contentLength: number; bodyScan: number } | undefined;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds one chunk; calls `onFrame` for every frame it completes, in order. */
  push(chunk: Buffer, onFrame: (frame: RawFrame) => void): void {
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let start = 0;
    for (;;) {
      if (this.head === undefined) {
        // Heart-beats (EOLs) between frames.
        while (start < buffer.length && (buffer[start] === LF || buffer[start] === CR)) start++;
        if (start === buffer.length) break;
        if (!this.readHead(buffer, start)) break;
      }
      const head = this.head as NonNullable<StompParser['head']>;
      let end: number;
      if (head.contentLength >= 0) {
        end = start + head.bodyStart + head.contentLength;
        if (buffer.length <= end) break;
        if (buffer[end] !== NUL) {
          throw syntaxError(`the ${head.command} frame's body is longer than its content-length (${head.contentLength} bytes): a NUL must follow exactly that many bytes`);
        }
      } else {
        end = buffer.indexOf(NUL, start + head.bodyScan);
        if (end < 0) {
          head.bodyScan = buffer.length - start;
          this.checkSize(buffer.length - start);
          break;
        }
      }
      const frame: RawFrame = { command: head.command, headers: head.headers, body: buffer.subarray(start + head.bodyStart, end) };
      this.head = undefined;
      this.headerScan = 0;
      start = end + 1;
      onFrame(frame);
    }
    // Keep only the incomplete frame; copy it so that a large chunk is not retained for a small rest.
    if (start >= buffer.length) buffer = EMPTY;
    else if (start > 0) buffer = Buffer.from(buffer.subarray(start));
    this.pending = buffer;
  }

  /** Reads the command and headers of the frame at `start`; false when they are not complete yet. */
  private readHead(buffer: Buffer, start: number): boolean {
    // The headers end at an empty line: LF LF or LF CR LF.
    let at = start + this.headerScan;
    let bodyStart: number;
    let headerEnd: number;
    for (;;) {
      const lf = buffer.indexOf(LF, at);
      if (lf < 0 || lf + 1 >= buffer.length || (buffer[lf + 1] === CR && lf + 2 >= buffer.length)) {
        this.headerScan = Math.max(0, (lf < 0 ? buffer.length : lf) - start);
        this.checkSize(buffer.length - start);
        return false;
      }
      if (buffer[lf + 1] === LF) {
        headerEnd = lf;
        bodyStart = lf + 2;
        break;
      }
      if (buffer[lf + 1] === CR && buffer[lf + 2] === LF) {
        headerEnd = lf;
        bodyStart = lf + 3;
        break;
      }
      at = lf + 1;
    }
    this.checkSize(bodyStart - start);
    const lines = buffer.toString('utf8', start, headerEnd).split('\n');
    const command = stripCr(lines[0]);
    if (!CLIENT_COMMANDS.has(command)) {
      const shown = command.length > 40 ? `${command.slice(0, 40)}…` : command;
      throw syntaxError(`unknown STOMP command ${JSON.stringify(shown)}; a client sends ${[...CLIENT_COMMANDS].join(', ')}`);
    }
    const headers: RawHeaders = [];
    let contentLength = -1;
    for (let i = 1; i < lines.length; i++) {
      const line = stripCr(lines[i]);
      const colon = line.indexOf(':');
      if (colon < 0) throw syntaxError(`the ${command} frame has a header line without a colon (${JSON.stringify(line.slice(0, 40))}); headers are name:value, one per line`);
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1);
      if (name === 'content-length' && contentLength < 0) contentLength = parseContentLength(value, command);
      headers.push([name, value]);
    }
    if (contentLength >= 0) this.checkSize(bodyStart - start + contentLength + 1);
    this.head = { command, headers, bodyStart: bodyStart - start, contentLength, bodyScan: bodyStart - start };
    return true;
  }

  private checkSize(bytes: number): void {
    if (bytes > this.maxFrameBytes) {
      throw syntaxError(`the frame is larger than ${this.maxFrameBytes} bytes, the limit (server.maxMessageBytes); send a smaller body or raise the limit`);
    }
  }
}

const stripCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);

function parseContentLength(value: string, command: string): number {
  if (!/^\d{1,15}$/.test(value)) throw syntaxError(`the ${command} frame's content-length must be a number of bytes (got ${JSON.stringify(value.slice(0, 40))})`);
  return Number(value);
}
