import { pino, type Logger } from 'pino';
import PinoPretty from 'pino-pretty';
import type { Listening } from './app.js';
import { hideRedisPassword, type LogFormat, type LogLevel } from './config/index.js';
import { VERSION } from './version.js';

/** The broker's logger: JSON lines, or on a terminal (or asked) pino-pretty's readable lines, in this process so nothing is lost at exit. */
export function brokerLogger(level: LogLevel, format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json'): Logger {
  if (format === 'json') return pino({ level });
  const pretty = PinoPretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true });
  return pino({ level }, pretty);
}

/** What the banner says about the broker beyond where it listens. */
export interface BannerFacts {
  dataDir: string;
  configFile: string | undefined;
  definitionsFile: string | undefined;
  /** The `cluster` section, when the broker is a node of one. */
  cluster?: { node: string; redis: string };
}

/** The one-screen start-up banner for a person at a terminal: what runs, where to reach it, who may connect. */
export function banner(listening: Listening, facts: BannerFacts): string {
  const { access } = listening;
  const who = [
    `${access.users} user${access.users === 1 ? '' : 's'}`,
    access.tokens ? 'tokens (auth.jwt)' : 'no tokens',
    access.anonymous === 'no' ? 'no anonymous access' : `anonymous access from ${access.anonymous}`,
  ].join(', ');
  const rows: [string, string][] = [
    ['WebSocket', `${listening.url}  (Warren's JSON protocol; STOMP with subprotocol v12.stomp)`],
    ['Dashboard', `${listening.httpUrl}/dashboard/`],
    ['Management API', `${listening.httpUrl}/api/  (RabbitMQ's; try: warren list queues)`],
    ['Metrics', `${listening.httpUrl}/metrics`],
    ...(facts.cluster
      ? ([
          ['Cluster', `node ${facts.cluster.node} on ${hideRedisPassword(facts.cluster.redis)}  (queues and topology in Redis)`],
          ['Data dir', `${facts.dataDir}  (node-local files only)`],
        ] as [string, string][])
      : ([['Data dir', facts.dataDir]] as [string, string][])),
    ['Config', [facts.configFile ?? 'built-in defaults', facts.definitionsFile && `definitions ${facts.definitionsFile}`].filter(Boolean).join(', ')],
    ['Access', who],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`);
  return [``, `  Warren ${VERSION} on Node.js ${process.versions.node}`, ...lines, `  Ctrl-C stops it (deliveries not yet acknowledged are requeued).`, ``].join('\n');
}
