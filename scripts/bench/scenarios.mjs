// Publishes per WebSocket message for Warren and the relay (AMQP and STOMP send one frame each).
export const PUBLISH_BATCH = 50;

// What each scenario does, independent of the broker or protocol that runs it. A "flow"
// scenario is publishers → exchange → queues → consumer connections, measured over timed runs;
// the "wide" scenario (S5) is one publish to many subscribers. `ceiling` names the relay shape
// (run on the bare ws relay) that bounds it; `rabbit` says whether it also runs on RabbitMQ;
// `warrenStomp` whether it also runs on Warren over STOMP (the Web-STOMP client on Warren's /ws).

const range = (n) => Array.from({ length: n }, (_, i) => i);

const S3 = {
  id: 'S3',
  title: 'persistent+confirms',
  kind: 'flow',
  rabbit: true,
  ceiling: 'S1',
  topology: (p) => ({ exchanges: [[`${p}durable`, 'direct', true]], queues: [[`${p}dq`, true]], bindings: [[`${p}dq`, `${p}durable`, 'k']] }),
  exchange: (p) => `${p}durable`,
  key: () => 'k',
  consumers: (p) => [[`${p}dq`]],
  fanout: 1,
  persistent: true,
  confirm: true,
  confirmWindow: 1000, // unconfirmed publishes outstanding
  window: 10_000,
  metrics: ['rate'],
};

export const SCENARIOS = {
  S1: {
    id: 'S1',
    title: 'direct 1→1',
    kind: 'flow',
    rabbit: true,
    warrenStomp: true,
    ceiling: 'S1',
    topology: (p) => ({ exchanges: [[`${p}direct`, 'direct', false]], queues: [[`${p}q`, false]], bindings: [[`${p}q`, `${p}direct`, 'k']] }),
    exchange: (p) => `${p}direct`,
    key: () => 'k',
    consumers: (p) => [[`${p}q`]],
    fanout: 1,
    window: 1000, // messages published but not yet delivered
    metrics: ['rate', 'p50', 'p99'],
  },
  // Extra: S1 with one publish frame per WebSocket message (as a browser sending one message
  // at a time would), to show the per-WebSocket-message cost that batching hides.
  S1u: {
    id: 'S1u',
    title: 'direct 1→1 unbatched',
    kind: 'flow',
    rabbit: false,
    ceiling: 'S1u',
    topology: (p) => ({ exchanges: [[`${p}direct`, 'direct', false]], queues: [[`${p}q`, false]], bindings: [[`${p}q`, `${p}direct`, 'k']] }),
    exchange: (p) => `${p}direct`,
    key: () => 'k',
    consumers: (p) => [[`${p}q`]],
    fanout: 1,
    window: 1000,
    publishBatch: 1,
    metrics: ['rate', 'p50', 'p99'],
  },
  S2: {
    id: 'S2',
    title: 'fanout 1→10',
    kind: 'flow',
    rabbit: true,
    warrenStomp: true,
    ceiling: 'S2',
    topology: (p) => ({
      exchanges: [[`${p}fanout`, 'fanout', false]],
      queues: range(10).map((i) => [`${p}q${i}`, false]),
      bindings: range(10).map((i) => [`${p}q${i}`, `${p}fanout`, '']),
    }),
    exchange: (p) => `${p}fanout`,
    key: () => '',
    consumers: (p) => range(10).map((i) => [`${p}q${i}`]),
    fanout: 10,
    window: 500,
    metrics: ['rate'],
  },
  S3,
  // S3 with one publish frame per WebSocket message, as a browser or a simple client sends them;
  // S3un is the same without persistence (still confirmed), to show what the journal costs.
  S3u: { ...S3, id: 'S3u', title: 'persistent+confirms unbatched', ceiling: 'S1u', publishBatch: 1 },
  S3un: { ...S3, id: 'S3un', title: 'confirms unbatched, not persistent', rabbit: false, ceiling: 'S1u', publishBatch: 1, persistent: false },
  S4: {
    id: 'S4',
    title: 'latency @5k/s',
    kind: 'flow',
    rabbit: true,
    ceiling: 'S4',
    topology: (p) => ({ exchanges: [[`${p}direct`, 'direct', false]], queues: [[`${p}q`, false]], bindings: [[`${p}q`, `${p}direct`, 'k']] }),
    exchange: (p) => `${p}direct`,
    key: () => 'k',
    consumers: (p) => [[`${p}q`]],
    fanout: 1,
    rate: 5000, // messages per second, paced
    metrics: ['p50', 'p99', 'max', 'sent'],
  },
  S5: {
    id: 'S5',
    title: 'wide fanout',
    kind: 'wide',
    rabbit: false,
    ceiling: 'S5',
    exchange: (p) => `${p}wide`,
    metrics: ['last', 'first', 'rssPerConn', 'setupRate'],
  },
  S6: {
    id: 'S6',
    title: 'topic 10k bindings',
    kind: 'flow',
    rabbit: false,
    ceiling: 'S1',
    // 100 queues × 100 patterns = 10,000 bindings, a quarter each of the forms below; a key
    // s6.q<i>.k<j>.x matches exactly one of them (pattern j of queue i).
    topology: (p) => ({
      exchanges: [[`${p}topic`, 'topic', false]],
      queues: range(100).map((i) => [`${p}t${i}`, false]),
      bindings: range(100).flatMap((i) => range(100).map((j) => [`${p}t${i}`, `${p}topic`, topicPattern(i, j)])),
    }),
    exchange: (p) => `${p}topic`,
    key: (seq) => {
      const n = (seq * 7919) % 10_000; // walks every (queue, pattern) pair
      return `s6.q${Math.floor(n / 100)}.k${n % 100}.x`;
    },
    consumers: (p) => [range(100).map((i) => `${p}t${i}`)],
    fanout: 1,
    window: 1000,
    metrics: ['rate'],
  },
};

function topicPattern(i, j) {
  switch (j % 4) {
    case 0:
      return `s6.q${i}.k${j}.*`;
    case 1:
      return `s6.q${i}.k${j}.#`;
    case 2:
      return `*.q${i}.k${j}.x`;
    default:
      return `#.q${i}.k${j}.x`;
  }
}

/** How long things take: `--quick` for a short pass, the full profile otherwise. */
export const PROFILES = {
  full: { name: 'full', runs: 3, warmupMs: 2000, runMs: 4000, rateRunMs: 10_000, rampMs: 500, drainMs: 15_000, wideSubscribers: 10_000, flowTimeoutMs: 120_000, wideTimeoutMs: 240_000 },
  quick: { name: 'quick', runs: 3, warmupMs: 300, runMs: 800, rateRunMs: 1500, rampMs: 150, drainMs: 10_000, wideSubscribers: 2000, flowTimeoutMs: 45_000, wideTimeoutMs: 90_000 },
};
