// A publish's payload is passed on as the client wrote it: serialising again what JSON.parse has
// just read cost as much as the parse itself. This scanner finds, in a message that JSON.parse has
// already accepted (so it skips values without checking them), the text of each frame's "payload".

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * For each frame of `text` (the elements of a top-level array, else the one value), the source
 * text of its `"payload"` member (the last, when repeated, as for JSON.parse); undefined where it
 * has none. `text` must be valid JSON.
 */
export function rawPayloads(text: string): (string | undefined)[] {
  const payloads: (string | undefined)[] = [];
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== OPEN_BRACKET) {
    scanFrame(text, at, payloads);
    return payloads;
  }
  at = skipSpace(text, at + 1);
  if (text.charCodeAt(at) === CLOSE_BRACKET) return payloads;
  for (;;) {
    at = skipSpace(text, scanFrame(text, at, payloads));
    if (text.charCodeAt(at) !== COMMA) return payloads;
    at = skipSpace(text, at + 1);
  }
}

/** Scans the value at `at`, pushes its payload text (or undefined) and returns where it ends. */
function scanFrame(text: string, at: number, payloads: (string | undefined)[]): number {
  if (text.charCodeAt(at) !== OPEN_BRACE) {
    payloads.push(undefined);
    return skipValue(text, at);
  }
  let payload: string | undefined;
  at = skipSpace(text, at + 1);
  if (text.charCodeAt(at) === CLOSE_BRACE) {
    payloads.push(undefined);
    return at + 1;
  }
  for (;;) {
    const nameEnd = skipString(text, at);
    // A name written with escapes ("pay\u006coad") is rare: decoded, it may still be "payload".
    const isPayload =
      (nameEnd - at === 9 && text.startsWith('"payload"', at)) || (hasBackslash(text, at + 1, nameEnd - 1) && JSON.parse(text.slice(at, nameEnd)) === 'payload');
    at = skipSpace(text, nameEnd);
    if (text.charCodeAt(at) !== COLON) throw new SyntaxError(`rawPayloads: expected ":" at ${at}`);
    at = skipSpace(text, at + 1);
    const valueEnd = skipValue(text, at);
    // A repeated member: JSON.parse keeps the last, so does this.
    if (isPayload) payload = text.slice(at, valueEnd);
    at = skipSpace(text, valueEnd);
    if (text.charCodeAt(at) === COMMA) {
      at = skipSpace(text, at + 1);
      continue;
    }
    payloads.push(payload);
    return at + 1;
  }
}

function hasBackslash(text: string, from: number, to: number): boolean {
  for (let at = from; at < to; at++) if (text.charCodeAt(at) === BACKSLASH) return true;
  return false;
}

function skipSpace(text: string, at: number): number {
  for (;;) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) return at;
    at++;
  }
}

/** `at` is on the opening quote; returns the index after the closing one. */
function skipString(text: string, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) throw new SyntaxError('rawPayloads: unterminated string');
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** Returns the index after the value at `at`; objects and arrays by depth, so nesting costs no stack. */
function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return skipString(text, at);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    for (;;) {
      const code = text.charCodeAt(++at);
      if (code === COMMA || code === CLOSE_BRACE || code === CLOSE_BRACKET || code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09 || Number.isNaN(code)) return at;
    }
  }
  let depth = 0;
  for (;;) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      at = skipString(text, at);
      continue;
    }
    if (code === OPEN_BRACE || code === OPEN_BRACKET) depth++;
    else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      if (--depth === 0) return at + 1;
    } else if (Number.isNaN(code)) throw new SyntaxError('rawPayloads: unterminated value');
    at++;
  }
}
