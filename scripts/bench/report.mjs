// Turns the replies of every target into the table and one JSON line per scenario.
import { summary } from './stats.mjs';

export const METRICS = {
  rate: { label: (s) => (s.fanout > 1 ? 'deliveries/s' : s.id === 'S6' ? 'routed msg/s' : 'msg/s'), better: 'higher', run: (r) => r.rate },
  p50: { label: () => 'p50 ms', better: 'lower', run: (r) => r.latency?.p50 },
  p99: { label: () => 'p99 ms', better: 'lower', run: (r) => r.latency?.p99 },
  max: { label: () => 'max ms', better: 'lower', run: (r) => r.latency?.max },
  sent: { label: () => 'sent msg/s', better: 'higher', run: (r) => r.publishRate },
  last: { label: () => 'last subscriber ms', better: 'lower', run: (r) => r.last },
  first: { label: () => 'first subscriber ms', better: 'lower', run: (r) => r.first },
  rssPerConn: { label: () => 'RSS KiB/subscriber', better: 'lower', whole: (res) => (res.rssPerConn == null ? null : res.rssPerConn / 1024) },
  setupRate: { label: () => 'subscribers set up/s', better: 'higher', whole: (res) => res.setupRate },
};

const COLUMNS = ['ceiling', 'amqp', 'stomp']; // `wstomp` (Warren over STOMP) goes in the Warren columns of rows of its own

export function metricSummary(metric, reply) {
  if (!reply?.ok) return null;
  if (metric.whole) {
    const value = metric.whole(reply.result);
    return value == null ? null : { median: value, min: value, max: value, runs: [value] };
  }
  return summary(reply.result.runs.map(metric.run));
}

/** Problems seen by one target: failures, lost or unconfirmed messages, errors, broker error logs. */
export function checkOf(reply) {
  if (!reply) return undefined;
  if (!reply.ok) return `FAILED: ${reply.error.split('\n')[0]}`;
  const problems = [];
  const runs = [reply.result.warmup, ...reply.result.runs].filter(Boolean);
  const add = (key, label) => {
    const total = runs.reduce((sum, run) => sum + (run[key] ?? 0), 0);
    if (total > 0) problems.push(`${label} ${total}`);
  };
  add('lost', 'LOST/STALLED');
  add('unconfirmed', 'unconfirmed');
  add('duplicates', 'duplicates');
  add('errors', 'error frames');
  if (reply.result.runs.length < (reply.expectedRuns ?? 0)) problems.push(`only ${reply.result.runs.length} runs`);
  const lastError = runs.map((run) => run.lastError).find(Boolean);
  if (lastError) problems.push(`(${lastError})`);
  if (reply.server?.errors) problems.push(`${reply.server.errors} error log lines`);
  if (reply.server?.exited) problems.push(`broker ${reply.server.exited}`);
  return problems.length ? problems.join(', ') : 'ok';
}

/** Rows of { scenario, metric, values: {warren, ceiling, amqp, stomp}, ratios } for one scenario. */
export function scenarioRows(scenario, replies) {
  return scenario.metrics.map((key) => {
    const metric = METRICS[key];
    const values = { warren: metricSummary(metric, replies.warren) };
    for (const column of COLUMNS) values[column] = metricSummary(metric, replies[column]);
    const ratios = {};
    for (const column of COLUMNS) {
      if (values.warren && values[column]?.median) ratios[column] = values.warren.median / values[column].median;
    }
    return { key, label: metric.label(scenario), better: metric.better, values, ratios };
  });
}

const num = (v) => {
  if (v == null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
};
const cell = (s) => (s ? `${num(s.median)} [${num(s.min)}–${num(s.max)}]` : '–');
const ratio = (r) => (r == null ? '–' : `${r.toFixed(2)}×`);

export function table(scenarios, allReplies) {
  const head = ['scenario', 'metric', 'Warren median [min–max]', 'ws ceiling', 'W/ceil', 'RabbitMQ AMQP', 'W/AMQP', 'Web-STOMP', 'W/STOMP', 'broker CPU', 'Warren check'];
  const lines = [head];
  // Warren over STOMP gets rows of its own, in the Warren columns: its W/STOMP is then
  // Warren STOMP ÷ RabbitMQ Web-STOMP, the same client on both brokers.
  const blocks = scenarios.flatMap((scenario) => {
    const replies = allReplies[scenario.id];
    const own = { title: `${scenario.id} ${scenario.title}`, scenario, replies };
    return replies.wstomp ? [own, { title: `${own.title} Warren STOMP`, scenario, replies: { ...replies, warren: replies.wstomp } }] : [own];
  });
  for (const { title, scenario, replies } of blocks) {
    const rows = scenarioRows(scenario, replies);
    rows.forEach((row, i) => {
      const cpu = replies.warren?.serverCpu;
      lines.push([
        i === 0 ? title : '',
        row.label,
        cell(row.values.warren),
        num(row.values.ceiling?.median),
        ratio(row.ratios.ceiling),
        num(row.values.amqp?.median),
        ratio(row.ratios.amqp),
        num(row.values.stomp?.median),
        ratio(row.ratios.stomp),
        i === 0 && cpu != null ? `${Math.round(cpu * 100)}%` : '',
        i === 0 ? (checkOf(replies.warren) ?? '–') : '',
      ]);
    });
  }
  const widths = head.map((_, c) => Math.max(...lines.map((line) => line[c].length)));
  const render = (line) => `| ${line.map((text, c) => text.padEnd(widths[c])).join(' | ')} |`;
  return [render(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(render)].join('\n');
}

export function jsonLine(scenario, replies, meta) {
  const metrics = {};
  for (const row of scenarioRows(scenario, replies)) {
    metrics[row.key] = { label: row.label, better: row.better, ...row.values, ratio: row.ratios };
  }
  const stomp = replies.wstomp ? { metrics: {} } : undefined;
  if (stomp) {
    for (const row of scenarioRows(scenario, { ...replies, warren: replies.wstomp })) {
      stomp.metrics[row.key] = { label: row.label, better: row.better, warrenStomp: row.values.warren, stomp: row.values.stomp, ratio: row.ratios.stomp ?? null };
    }
  }
  const checks = {};
  const extra = {};
  for (const [target, reply] of Object.entries(replies)) {
    checks[target] = checkOf(reply);
    if (reply?.serverCpu != null) extra[target] = { serverCpu: Number(reply.serverCpu.toFixed(3)) };
    if (reply?.server) Object.assign((extra[target] ??= {}), { server: reply.server });
    if (reply?.ok && reply.result.subscribers) Object.assign((extra[target] ??= {}), { subscribers: reply.result.subscribers, rssBefore: reply.result.rssBefore, rssAfter: reply.result.rssAfter });
    const waits = reply?.ok ? (reply.result.runs ?? []).map((run) => run.publisherWaits).filter(Boolean) : [];
    const share = (values) => Number(summary(values).median.toFixed(3));
    if (waits.length > 0) Object.assign((extra[target] ??= {}), { publisherWaits: { confirms: share(waits.map((w) => w.confirms)), window: share(waits.map((w) => w.window)) } });
  }
  return JSON.stringify({ scenario: scenario.id, title: scenario.title, ...meta, metrics, ...(stomp && { warrenStomp: stomp }), checks, extra });
}
