// The bench: starts the relay, then a fresh Warren broker per scenario, then (when reachable)
// runs the RabbitMQ comparisons, each driven by its own client process; prints the table on
// stdout followed by one JSON line per scenario. Progress goes to stderr.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { killAll, runClient, startServer, stop } from './processes.mjs';
import { probeRabbit } from './rabbit.mjs';
import { jsonLine, table, checkOf } from './report.mjs';
import { PROFILES, SCENARIOS } from './scenarios.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli.js');
const RELAY = new URL('./relay-server.mjs', import.meta.url).pathname;
const USAGE = `usage: npm run bench -- [--quick] [--scenario S1,S2,...] [--no-rabbit] [--no-ceiling] [--auth] [--broker-prof DIR]
  --quick         short runs (the whole pass in under 2 minutes; S5 with 2,000 subscribers)
  --auth          Warren's clients log in as a definitions user whose permissions are regexes
                  (^(bench\\.|amq\\.gen-)) with a topic permission, so every operation pays the permission
                  checks (docs/security.md)
  --scenario      which of S1, S1u, S2, S3, S3u, S3un, S4, S5, S6 to run (default: all; "u" is
                  unbatched: one publish per WebSocket message; S3un is S3u not persistent)
  --no-rabbit     skip the RabbitMQ comparison even if one is reachable
  --no-ceiling    skip the ws relay runs (for quicker A/B runs of Warren alone)
  --broker-prof   write a V8 CPU profile of the broker per scenario into DIR (node --cpu-prof), and one of
                  the relay (relay.cpuprofile)`;

const log = (text) => process.stderr.write(`[bench ${(performance.now() / 1000).toFixed(0).padStart(3)}s] ${text}\n`);

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; 100 ticks/s). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Runs a client job against a running server, recording the server's CPU use meanwhile. */
async function measured(job, server, timeoutMs) {
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const reply = await runClient({ ...job, serverPid: server.pid }, timeoutMs);
  const cpu1 = cpuSeconds(server.pid);
  if (cpu0 != null && cpu1 != null) reply.serverCpu = (cpu1 - cpu0) / ((performance.now() - t0) / 1000);
  return reply;
}

/**
 * Definitions with one user, guest/guest as the bench's clients log in, allowed only the bench's
 * own names and with a topic permission: without users the broker skips every permission check.
 */
async function restrictedUser() {
  const { rabbitPasswordHash } = await import('../../dist/auth/passwords.js');
  // S5's subscribers declare server-named queues, which RabbitMQ checks under their amq.gen- name.
  const names = '^(bench\\.|amq\\.gen-)';
  return {
    definitions: {
      users: [{ name: 'guest', password_hash: rabbitPasswordHash('guest', 'rabbit_password_hashing_sha256'), tags: [] }],
      permissions: [{ user: 'guest', vhost: '/', configure: names, write: names, read: names }],
      // S6's exchange (the only topic one): its publishes and bindings pay the routing-key check.
      topic_permissions: [{ user: 'guest', vhost: '/', exchange: 'bench.topic', write: '^s6\\.', read: '^(s6|\\*|#)\\.' }],
    },
  };
}

export async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      scenario: { type: 'string' },
      'no-rabbit': { type: 'boolean' },
      'no-ceiling': { type: 'boolean' },
      auth: { type: 'boolean' },
      'broker-prof': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const profile = { ...(values.quick ? PROFILES.quick : PROFILES.full) };
  // S5 needs one fd per subscriber in the broker and in the client; processes.mjs raises the
  // soft limit to the hard one (65536 where allowed). Fewer subscribers if the hard limit is low.
  const hardLimit = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || Infinity;
  const fdNote = hardLimit < profile.wideSubscribers + 1024 ? `ulimit -Hn is ${hardLimit}: S5 runs ${(profile.wideSubscribers = hardLimit - 1024)} subscribers` : undefined;
  const byName = new Map(Object.keys(SCENARIOS).map((id) => [id.toLowerCase(), id]));
  const asked = (values.scenario ?? Object.keys(SCENARIOS).join(',')).split(',').map((s) => s.trim());
  const unknown = asked.filter((name) => !byName.has(name.toLowerCase()));
  const ids = asked.map((name) => byName.get(name.toLowerCase()));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm run bench does)`);
  const scenarios = ids.map((id) => SCENARIOS[id]);
  const budgetMs = values.quick ? 120_000 : 900_000;
  const overBudget = () => performance.now() > budgetMs;

  // Not /tmp/warren-*: test clean-ups elsewhere may sweep that pattern.
  const work = mkdtempSync(join(tmpdir(), 'wbench-'));
  const cleanup = () => {
    killAll();
    rmSync(work, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

  const rabbit = values['no-rabbit'] ? { amqp: false, stomp: false, note: 'RabbitMQ comparison skipped (--no-rabbit)' } : await probeRabbit();
  if (rabbit.amqp === false) rabbit.stomp = false; // the STOMP runs declare their topology over AMQP
  const meta = {
    profile: profile.name,
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    load: loadavg().map((v) => Number(v.toFixed(2))),
    rabbitmq: rabbit.version ?? null,
  };
  log(`profile ${profile.name}, scenarios ${ids.join(',')}, node ${meta.node}, ${meta.cores} cores, load ${meta.load.join(' ')}`);
  if (fdNote) log(fdNote);
  if (rabbit.note) log(rabbit.note);
  else log(`RabbitMQ ${rabbit.version} reachable: AMQP and Web-STOMP columns on`);

  const replies = Object.fromEntries(ids.map((id) => [id, {}]));
  const note = (id, column, reply) => {
    replies[id][column] = { ...reply, expectedRuns: profile.runs };
    log(`${id} ${column}: ${checkOf(replies[id][column])}`);
  };
  const skipped = { ok: false, error: 'skipped: the time budget of the run is spent' };
  const timeout = (scenario) => (scenario.kind === 'wide' ? profile.wideTimeoutMs : profile.flowTimeoutMs);

  // 1. The ceiling: a bare ws relay, one process, each shape the selected scenarios need.
  const shapes = values['no-ceiling'] ? [] : [...new Set(scenarios.map((s) => s.ceiling))];
  // "step k of n" on each progress line: how far a run of many minutes is.
  const steps = shapes.length + scenarios.reduce((n, s) => n + (s.warrenStomp ? 2 : 1) + (s.rabbit ? Number(Boolean(rabbit.amqp)) + Number(Boolean(rabbit.stomp)) : 0), 0);
  let step = 0;
  const logStep = (text) => log(`step ${++step} of ${steps}: ${text}`);
  const relayProf = values['broker-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['broker-prof'], '--cpu-prof-name', 'relay.cpuprofile'] : [];
  const relay = await startServer([RELAY], { nodeOptions: relayProf });
  const ceilings = {};
  for (const shape of shapes) {
    logStep(`ceiling ${shape} (ws relay)…`);
    ceilings[shape] = overBudget() ? skipped : await measured({ target: 'relay', scenarioId: shape, url: `ws://127.0.0.1:${relay.port}`, prefix: 'relay.', profile }, relay, timeout(SCENARIOS[shape]));
  }
  await stop(relay.child);
  for (const scenario of scenarios) if (shapes.length) note(scenario.id, 'ceiling', ceilings[scenario.ceiling]);

  // 2. Warren: a fresh broker (own data dir) per scenario and target: its own protocol
  // (`warren`) and, where the scenario says so, STOMP through the Web-STOMP client (`wstomp`).
  const configFile = join(work, 'warren.json');
  for (const scenario of scenarios) {
    for (const target of scenario.warrenStomp ? ['warren', 'wstomp'] : ['warren']) {
      mkdirSync(work, { recursive: true });
      writeFileSync(configFile, JSON.stringify({ storage: { sync: 'always' }, log: { level: 'info' }, ...(values.auth ? await restrictedUser() : {}) }));
      if (overBudget()) {
        note(scenario.id, target, skipped);
        continue;
      }
      const name = target === 'wstomp' ? `${scenario.id}-stomp` : scenario.id;
      logStep(`${scenario.id} ${scenario.title}: Warren${target === 'wstomp' ? ' over STOMP' : ''}…`);
      const prof = values['broker-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['broker-prof'], '--cpu-prof-name', `warren-${name}.cpuprofile`] : [];
      const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(work, `data-${name}`), '--config', configFile, '--log-level', 'info'];
      let reply;
      try {
        const broker = await startServer(args, { nodeOptions: prof });
        reply = await measured({ target, scenarioId: scenario.id, url: `ws://127.0.0.1:${broker.port}/ws`, prefix: 'bench.', profile }, broker, timeout(scenario));
        const { exitCode, signalCode } = broker.child;
        const exited = exitCode !== null || signalCode !== null ? `exited during the run (code ${exitCode}, signal ${signalCode})` : undefined;
        await stop(broker.child, 10_000);
        reply.server = { errors: broker.logs.errors, warnings: broker.logs.warnings, exited, tail: broker.logs.errors || exited ? broker.logs.tail.slice(-3) : [] };
      } catch (error) {
        reply = { ok: false, error: error.message };
      }
      note(scenario.id, target, reply);
    }
  }

  // 3. RabbitMQ over AMQP 0-9-1 and Web-STOMP, where reachable.
  for (const scenario of scenarios.filter((s) => s.rabbit)) {
    for (const target of ['amqp', 'stomp']) {
      if (!rabbit[target]) continue;
      if (overBudget()) {
        note(scenario.id, target, skipped);
        continue;
      }
      logStep(`${scenario.id} ${scenario.title}: RabbitMQ ${target}…`);
      const prefix = `bench.${process.pid}.${scenario.id}.${target}.`;
      note(scenario.id, target, await runClient({ target, scenarioId: scenario.id, url: '', prefix, profile }, timeout(scenario)));
    }
  }

  console.log(`Warren bench (${profile.name}), ${meta.date}, node ${meta.node}, ${meta.cores} cores, load at start ${meta.load.join(' ')}${rabbit.version ? `, RabbitMQ ${rabbit.version}` : ''}`);
  console.log('ratio = Warren ÷ other: for rates above 1 is better, for latencies below 1 is better. "broker CPU" = Warren process CPU during the scenario (1 core = 100%).');
  if (scenarios.some((s) => s.warrenStomp)) console.log('Rows "… Warren STOMP": Warren over STOMP (the Web-STOMP client on Warren\'s /ws) in the Warren columns; W/STOMP is then Warren STOMP ÷ RabbitMQ Web-STOMP.');
  if (rabbit.note) console.log(rabbit.note);
  if (fdNote) console.log(fdNote);
  console.log(table(scenarios, replies));
  for (const scenario of scenarios) console.log(jsonLine(scenario, replies[scenario.id], meta));
  const failures = scenarios.filter((s) => checkOf(replies[s.id].warren) !== 'ok' || (s.warrenStomp && checkOf(replies[s.id].wstomp) !== 'ok'));
  return failures.length ? 1 : 0;
}
