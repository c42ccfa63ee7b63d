// `node scripts/bench-cluster.mjs` (after `npm run build`): S1, S2, S4 and S5 against one broker and
// against 1, 2 and 3 nodes on one Redis behind nginx (docs/clustering.md), each in a fresh set of
// processes; medians of the profile's runs. Besides the client's figures it reports each node's
// CPU, nginx's, and Redis's CPU per message (from its INFO: used CPU over the XADD and PUBLISH
// calls made during the scenario), so that scaling on machines with more cores can be projected.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startNginx, startRedis } from './cluster-parts.mjs';
import { killAll, runClient, startServer, stop } from './bench/processes.mjs';
import { checkOf, METRICS, metricSummary } from './bench/report.mjs';
import { PROFILES, SCENARIOS } from './bench/scenarios.mjs';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const USAGE = `usage: node scripts/bench-cluster.mjs [--quick] [--scenario S1,S2,S4,S5] [--nodes 1,2,3] [--no-single] [--broker-prof DIR]
  --broker-prof  write a V8 CPU profile of each node per scenario into DIR
  --nodes      the cluster sizes to run (default 1,2,3), each behind nginx
  --no-single  skip the single broker (no cluster section, journal on disk) that the others are compared with`;
const log = (text) => process.stderr.write(`[bench-cluster ${(performance.now() / 1000).toFixed(0).padStart(3)}s] ${text}\n`);

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; 100 ticks/s). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** nginx's worker processes (children of its master). */
const childrenOf = (pid) => execFileSync('sh', ['-c', `pgrep -P ${pid} || true`], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);

/** Redis's own CPU seconds and its XADD and PUBLISH calls so far. */
async function redisCounters(redis) {
  const info = `${await redis.info('cpu')}\n${await redis.info('commandstats')}`;
  const value = (pattern) => Number(pattern.exec(info)?.[1] ?? 0);
  return {
    cpu: value(/used_cpu_user:([\d.]+)/) + value(/used_cpu_sys:([\d.]+)/),
    messages: value(/cmdstat_xadd:calls=(\d+)/) + value(/cmdstat_publish:calls=(\d+)/),
  };
}

async function main(argv) {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, scenario: { type: 'string' }, nodes: { type: 'string' }, 'no-single': { type: 'boolean' }, 'broker-prof': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(USAGE);
  const profile = { ...(values.quick ? PROFILES.quick : PROFILES.full) };
  const ids = (values.scenario ?? 'S1,S2,S4,S5').split(',').map((id) => id.trim().toUpperCase());
  for (const id of ids) if (!['S1', 'S2', 'S4', 'S5'].includes(id)) throw new Error(`unknown scenario ${id}: this bench runs S1, S2, S4 (latency at 5,000 msg/s: what the Redis round trips add) and S5`);
  const sizes = (values.nodes ?? '1,2,3').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error('--nodes takes cluster sizes from 1 to 8, as 1,2,3');
  const targets = [...(values['no-single'] ? [] : ['single']), ...sizes.map((n) => `${n} node${n > 1 ? 's' : ''}`)];
  const work = mkdtempSync(join(tmpdir(), 'wbench-cluster-'));
  process.once('exit', () => {
    killAll();
    rmSync(work, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
  const meta = { profile: profile.name, date: new Date().toISOString(), node: process.version, cores: availableParallelism(), load: loadavg().map((v) => Number(v.toFixed(2))) };
  log(`profile ${profile.name}, scenarios ${ids.join(',')}, targets ${targets.join(', ')}, ${meta.cores} cores, load ${meta.load.join(' ')}`);

  const results = {};
  for (const id of ids) {
    const scenario = SCENARIOS[id];
    results[id] = {};
    for (const [index, target] of targets.entries()) {
      log(`${id} ${scenario.title}: ${target}…`);
      results[id][target] = await runTarget(scenario, target === 'single' ? 0 : sizes[index - (targets[0] === 'single' ? 1 : 0)], profile, work, values['broker-prof']);
      log(`${id} ${target}: ${checkOf(results[id][target])}`);
    }
  }

  console.log(`Warren cluster bench (${profile.name}), ${meta.date}, node ${meta.node}, ${meta.cores} cores, load at start ${meta.load.join(' ')}`);
  console.log('Each cluster: one redis-server (no persistence), N nodes, nginx (config/nginx-cluster.conf) in front; clients connect through nginx. CPU: share of one core during the scenario.');
  const head = ['scenario', 'metric', ...targets];
  const lines = [head];
  const cell = (value, digits = 1) => (value == null ? '—' : value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits));
  for (const id of ids) {
    const scenario = SCENARIOS[id];
    for (const key of scenario.metrics) {
      const metric = METRICS[key];
      lines.push([id, metric.label(scenario), ...targets.map((t) => cell(metricSummary(metric, results[id][t])?.median, 2))]);
    }
    lines.push([id, 'node CPU each', ...targets.map((t) => results[id][t].cpu?.nodes.map((c) => `${Math.round(c * 100)}%`).join(' ') ?? '—')]);
    lines.push([id, 'nginx CPU', ...targets.map((t) => (results[id][t].cpu?.nginx == null ? '—' : `${Math.round(results[id][t].cpu.nginx * 100)}%`))]);
    lines.push([id, 'Redis CPU', ...targets.map((t) => (results[id][t].cpu?.redis == null ? '—' : `${Math.round(results[id][t].cpu.redis * 100)}%`))]);
    lines.push([id, 'Redis µs/message', ...targets.map((t) => cell(results[id][t].cpu?.redisMicrosPerMessage))]);
    lines.push([id, 'check', ...targets.map((t) => checkOf(results[id][t]))]);
  }
  const widths = head.map((_, c) => Math.max(...lines.map((line) => String(line[c]).length)));
  const render = (line) => `| ${line.map((text, c) => String(text).padEnd(widths[c])).join(' | ')} |`;
  console.log([render(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(render)].join('\n'));
  for (const id of ids) {
    const metrics = {};
    for (const key of SCENARIOS[id].metrics) metrics[key] = Object.fromEntries(targets.map((t) => [t, metricSummary(METRICS[key], results[id][t])]));
    console.log(JSON.stringify({ scenario: id, ...meta, metrics, cpu: Object.fromEntries(targets.map((t) => [t, results[id][t].cpu ?? null])), checks: Object.fromEntries(targets.map((t) => [t, checkOf(results[id][t])])) }));
  }
  return ids.some((id) => targets.some((t) => checkOf(results[id][t]) !== 'ok')) ? 1 : 0;
}

/** One scenario on one broker (`nodes` 0) or on a cluster of `nodes` behind nginx, in processes of its own. */
async function runTarget(scenario, nodes, profile, work, profileDir) {
  const timeoutMs = scenario.kind === 'wide' ? profile.wideTimeoutMs : profile.flowTimeoutMs;
  const started = [];
  let redis;
  let nginx;
  let admin;
  try {
    const serve = async (name, config) => {
      const file = join(work, `${name}.json`);
      writeFileSync(file, JSON.stringify({ log: { level: 'warn' }, ...config }));
      const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${scenario.id}-${nodes}-${name}.cpuprofile`] : [];
      const server = await startServer([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(work, `data-${name}-${Date.now()}`), '--config', file, '--log-level', 'info'], { nodeOptions: prof });
      started.push(server);
      return server;
    };
    if (nodes === 0) await serve('single', {});
    else {
      redis = await startRedis();
      for (let i = 1; i <= nodes; i++) await serve(`node${i}`, { server: { trustedProxies: ['127.0.0.1'] }, cluster: { redis: redis.url, node: `node${i}` } });
      nginx = await startNginx(started.map((server) => server.port));
      admin = new Redis(redis.port, '127.0.0.1', { protocol: 2 });
    }
    const url = nginx ? `ws://127.0.0.1:${nginx.port}/ws` : `ws://127.0.0.1:${started[0].port}/ws`;
    const pids = { nodes: started.map((server) => server.pid), nginx: nginx ? [nginx.process.pid, ...childrenOf(nginx.process.pid)] : [] };
    const cpu0 = { nodes: pids.nodes.map(cpuSeconds), nginx: pids.nginx.map(cpuSeconds) };
    const redis0 = admin && (await redisCounters(admin));
    const t0 = performance.now();
    // S5's RSS per subscriber reads one broker: left out where the subscribers are spread over several.
    const serverPid = started.length === 1 ? started[0].pid : undefined;
    const reply = await runClient({ target: 'warren', scenarioId: scenario.id, url, prefix: 'bench.', profile, serverPid }, timeoutMs);
    const seconds = (performance.now() - t0) / 1000;
    const share = (pid, before) => (cpuSeconds(pid) - before) / seconds;
    reply.cpu = {
      nodes: pids.nodes.map((pid, i) => share(pid, cpu0.nodes[i])),
      nginx: nginx ? pids.nginx.reduce((sum, pid, i) => sum + share(pid, cpu0.nginx[i]), 0) : null,
      redis: null,
      redisMicrosPerMessage: null,
    };
    if (admin && redis0) {
      const redis1 = await redisCounters(admin);
      reply.cpu.redis = (redis1.cpu - redis0.cpu) / seconds;
      const messages = redis1.messages - redis0.messages;
      reply.cpu.redisMicrosPerMessage = messages > 0 ? ((redis1.cpu - redis0.cpu) * 1e6) / messages : null;
    }
    return reply;
  } catch (error) {
    return { ok: false, error: error.message };
  } finally {
    admin?.disconnect();
    await nginx?.stop();
    for (const server of started) await stop(server.child, 10_000);
    await redis?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench-cluster: ${error.message}\n`);
    process.exit(2);
  },
);
