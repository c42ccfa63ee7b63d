import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker, type RunningBroker } from './harness.js';

/** Whether a Debian package's program is on this machine; when not, say so loudly (CI installs it). */
function installed(program: string, what: string): boolean {
  try {
    execFileSync(program, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`SKIPPED: ${program} is not installed, so ${what} cannot run (apt-get install ${program === 'redis-server' ? 'redis-server' : program}; .ci/run does)`);
    return false;
  }
}

export const hasRedis = installed('redis-server', 'the cluster tests');
// Debian puts nginx in /usr/sbin, which is not on every user's PATH.
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
export const hasNginx = installed(NGINX, 'the tests through nginx');
/** The documented proxy configuration (docs/clustering.md, "The proxy"), which the tests run. */
const NGINX_CONF = fileURLToPath(new URL('../../config/nginx-cluster.conf', import.meta.url));

/** A port free now (redis-server cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RunningRedis {
  port: number;
  url: string;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A throwaway redis-server on a free loopback port, in memory only (no RDB, no AOF). */
export async function startRedis(extraArgs: string[] = []): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) resolve();
    });
    void exited.then(() => reject(new Error(`redis-server exited before it was ready: ${output}`)));
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Brokers on one Redis, named node1, node2, ...; `config` is added to each node's. */
export async function startNodes(redis: RunningRedis, count: number, config: Record<string, unknown> = {}, nodeTimeoutMs = 1000): Promise<RunningBroker[]> {
  const nodes: RunningBroker[] = [];
  for (let i = 1; i <= count; i++) nodes.push(await startNode(redis, `node${i}`, config, nodeTimeoutMs));
  return nodes;
}

export function startNode(redis: RunningRedis, name: string, config: Record<string, unknown> = {}, nodeTimeoutMs = 1000): Promise<RunningBroker> {
  return startBroker({ ...config, cluster: { redis: redis.url, node: name, nodeTimeoutMs } });
}

export interface RunningNginx {
  port: number;
  stop(): Promise<void>;
}

/**
 * nginx on a free loopback port with config/nginx-cluster.conf, its upstream servers set to
 * `ports`: the configuration the docs give is the one tested.
 */
export async function startNginx(ports: number[]): Promise<RunningNginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-nginx-'));
  const servers = ports.map((upstream) => `    server 127.0.0.1:${upstream} max_fails=1 fail_timeout=10s;`).join('\n');
  const site = readFileSync(NGINX_CONF, 'utf8')
    .replace(/( {4}server 127\.0\.0\.1:\d+ [^\n]*\n)+/, `${servers}\n`)
    .replace('listen 5680;', `listen 127.0.0.1:${port};`);
  writeFileSync(join(dir, 'warren.conf'), site);
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 16384; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${join(dir, 'warren.conf')};
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr} ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) break;
    if (tries > 200) throw new Error(`nginx did not listen on ${port}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Redis, `count` nodes and nginx in front of them: a broker to the tests, at nginx's port. */
export interface RunningCluster extends Pick<RunningBroker, 'url' | 'port' | 'stop'> {
  redis: RunningRedis;
  nodes: RunningBroker[];
  nginx: RunningNginx;
}

export async function startCluster(count: number, config: Record<string, unknown> = {}): Promise<RunningCluster> {
  const redis = await startRedis();
  const server = { ...(config.server as Record<string, unknown> | undefined), trustedProxies: ['127.0.0.1'] };
  const nodes = await startNodes(redis, count, { ...config, server });
  const nginx = await startNginx(nodes.map((node) => node.port));
  return {
    url: `ws://127.0.0.1:${nginx.port}/ws`,
    port: nginx.port,
    redis,
    nodes,
    nginx,
    stop: async () => {
      await nginx.stop();
      for (const node of nodes) await node.stop();
      await redis.stop();
      return 0;
    },
  };
}
