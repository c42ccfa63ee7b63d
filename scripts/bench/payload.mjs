// The message body every scenario sends: a JSON object carrying the send time, padded to a
// fixed length in bytes (256 by default), so every broker and protocol carries the same bytes.

/** Monotonic clock in microseconds, comparable across the processes of one machine. */
export const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

const PAD = 'x'.repeat(65536);

/** `{"t":<µs>,"seq":<n>,"pad":"xx…"}` exactly `size` bytes long (ASCII only). */
export function body(seq, size = 256, t = nowMicros()) {
  const head = `{"t":${t},"seq":${seq},"pad":"`;
  const padLength = size - head.length - 2;
  return `${head}${PAD.slice(0, Math.max(0, padLength))}"}`;
}
