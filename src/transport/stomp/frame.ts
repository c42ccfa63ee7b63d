// STOMP frames: header escaping and frame encoding (STOMP 1.2, "Value Encoding" and "Augmented BNF").

/** The STOMP versions Warren speaks, most preferred first. */
export const STOMP_VERSIONS = ['1.2', '1.1', '1.0'] as const;
export type StompVersion = (typeof STOMP_VERSIONS)[number];

/** WebSocket close code after an ERROR caused by malformed input (RFC 6455: protocol error). */
export const CLOSE_PROTOCOL_ERROR = 1002;
/** WebSocket close code after any other ERROR, and after DISCONNECT. */
export const CLOSE_NORMAL = 1000;

/**
 * Something the client sent that STOMP or Warren refuses: it becomes an ERROR frame whose
 * `message` header is this error's message, then the connection closes (STOMP 1.2, "ERROR").
 */
export class StompError extends Error {
  constructor(
    message: string,
    readonly closeCode: number = CLOSE_NORMAL,
  ) {
    super(message);
    this.name = 'StompError';
  }
}

/** A syntax error in a frame: ERROR, then close with 1002. */
export const syntaxError = (message: string): StompError => new StompError(message, CLOSE_PROTOCOL_ERROR);

/** Header lines as received, before unescaping. */
export type RawHeaders = [string, string][];

/** A frame as the parser delivers it: headers still escaped (their meaning depends on the version). */
export interface RawFrame {
  readonly command: string;
  readonly headers: RawHeaders;
  readonly body: Buffer;
}

const ESCAPE_OF: Record<string, string> = { '\\': '\\\\', '\r': '\\r', '\n': '\\n', ':': '\\c' };
const UNESCAPED: Record<string, string> = { '\\': '\\', r: '\r', n: '\n', c: ':' };
const NEEDS_ESCAPE_12 = /[\\\r\n:]/;
const NEEDS_ESCAPE_11 = /[\\\n:]/;

/**
 * A header name or value as it goes on the wire. 1.2 escapes `\`, CR, LF and `:`; 1.1 has no
 * escape for CR; 1.0 has no escaping at all, so line breaks become spaces there.
 */
export function escapeHeader(text: string, version: StompVersion | undefined): string {
  if (version === '1.2') return NEEDS_ESCAPE_12.test(text) ? text.replace(/[\\\r\n:]/g, (c) => ESCAPE_OF[c]) : text;
  if (version === '1.1') return NEEDS_ESCAPE_11.test(text) ? text.replace(/[\\\n:]/g, (c) => ESCAPE_OF[c]) : text;
  return text.replace(/[\r\n]/g, ' ');
}

/** Undoes escapeHeader; an undefined escape sequence is a fatal error (STOMP 1.2, "Value Encoding"). */
export function unescapeHeader(text: string, version: StompVersion, name: string): string {
  if (version === '1.0' || !text.includes('\\')) return text;
  let result = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char !== '\\') {
      result += char;
      continue;
    }
    const next = text[i + 1];
    const decoded = next === undefined || (next === 'r' && version === '1.1') ? undefined : UNESCAPED[next];
    if (decoded === undefined) {
      const allowed = version === '1.2' ? '\\r, \\n, \\c and \\\\' : '\\n, \\c and \\\\';
      const found = next === undefined ? 'a lone "\\" at the end' : `"\\${next}"`;
      throw syntaxError(`header "${name}" has ${found}, which is not a STOMP ${version} escape; the escapes are ${allowed} (write a backslash as \\\\)`);
    }
    result += decoded;
    i++;
  }
  return result;
}

/**
 * The headers of a received frame by name, unescaped for the version. A repeated header keeps its
 * first value (STOMP 1.2, "Repeated Header Entries"). CONNECT and STOMP frames are never escaped.
 */
export function decodeHeaders(frame: RawFrame, version: StompVersion): Map<string, string> {
  const escaped = version !== '1.0' && frame.command !== 'CONNECT' && frame.command !== 'STOMP';
  const headers = new Map<string, string>();
  for (const [rawName, rawValue] of frame.headers) {
    const name = escaped ? unescapeHeader(rawName, version, rawName) : rawName;
    const value = escaped ? unescapeHeader(rawValue, version, name) : rawValue;
    if (!headers.has(name)) headers.set(name, value);
  }
  return headers;
}

/**
 * Encodes a frame sent to the client. `headers` are escaped for `version` (CONNECTED never is);
 * a body always gets its `content-length` so that it may hold NUL characters.
 */
export function encodeFrame(command: string, headers: Iterable<[string, string]>, body: string, version: StompVersion | undefined): string {
  let text = command;
  // CONNECTED is never escaped, nor is anything before a version is agreed: line breaks become spaces there.
  const escape = command === 'CONNECTED' ? undefined : version;
  for (const [name, value] of headers) text += `\n${escapeHeader(name, escape)}:${escapeHeader(value, escape)}`;
  if (body.length > 0) text += `\ncontent-length:${Buffer.byteLength(body, 'utf8')}`;
  return `${text}\n\n${body}\0`;
}

/** An ERROR frame: `message` says what to change; the body repeats it for clients that show only the body. */
export function errorFrame(message: string, version: StompVersion | undefined, receiptId?: string): string {
  const headers: [string, string][] = [['message', message], ['content-type', 'text/plain']];
  if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
  return encodeFrame('ERROR', headers, `${message}\n`, version);
}

/** A RECEIPT for a frame that carried `receipt`. */
export function receiptFrame(receiptId: string, version: StompVersion): string {
  return encodeFrame('RECEIPT', [['receipt-id', receiptId]], '', version);
}
