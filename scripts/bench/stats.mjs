// Small statistics helpers: summary of repeated runs, percentiles of latency samples.

export function summary(values) {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs: finite };
}

/** Percentile (0..100) of an ascending-sorted typed array, nearest rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Collects latency samples (µs) up to a cap and summarises them in ms. */
export class Latencies {
  constructor(cap = 4_000_000) {
    this.samples = new Float64Array(cap);
    this.count = 0;
    this.dropped = 0;
  }

  add(micros) {
    if (this.count < this.samples.length) this.samples[this.count++] = micros;
    else this.dropped++;
  }

  reset() {
    this.count = 0;
    this.dropped = 0;
  }

  /** { n, p50, p99, max } in milliseconds, or null without samples. */
  report() {
    if (this.count === 0) return null;
    const sorted = this.samples.slice(0, this.count).sort();
    const ms = (v) => Math.round(v) / 1000;
    return { n: this.count, p50: ms(percentile(sorted, 50)), p99: ms(percentile(sorted, 99)), max: ms(sorted[sorted.length - 1]) };
  }
}
