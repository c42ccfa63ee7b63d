// Throwaway redis-server and nginx processes for the cluster tests (spec/e2e/cluster-harness.ts)
// and the cluster bench (scripts/bench-cluster.mjs): the same documented nginx configuration
// (config/nginx-cluster.conf, docs/clustering.md) with its ports changed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Debian puts nginx in /usr/sbin, which is not on every user's PATH.
export const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const NGINX_CONF = new URL('../config/nginx-cluster.conf', import.meta.url).pathname;

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A port free now (redis-server cannot be told to pick one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on a free loopback port, in memory only (no RDB, no AOF) unless `args` say otherwise. */
export async function startRedis(args = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) resolve();
    });
    void exited.then(() => reject(new Error(`redis-server exited before it was ready: ${output}`)));
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    dir,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Redis with a replica and one Sentinel watching them as master "warren" (quorum 1, down after
 * 500 ms): what `redis+sentinel://` follows through a failover. `url` is that URL.
 */
export async function startSentinelRedis() {
  const primary = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor warren 127.0.0.1 ${primary.port} 1`, 'sentinel down-after-milliseconds warren 500', 'sentinel failover-timeout warren 5000', 'sentinel parallel-syncs warren 1', ''].join('\n'),
  );
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(sentinel);
  const exited = new Promise((resolve) => sentinel.once('exit', resolve));
  await new Promise((resolve, reject) => {
    let output = '';
    sentinel.stdout.on('data', (chunk) => {
      output += chunk;
      // Ready once it watches the master and has found its replica.
      if (/\+monitor master warren/.test(output) && /\+slave slave/.test(output)) resolve();
    });
    void exited.then(() => reject(new Error(`redis sentinel exited before it was ready: ${output}`)));
  });
  return {
    url: `redis+sentinel://127.0.0.1:${port}/warren`,
    primary,
    replica,
    /** Resolves with the new primary's port once the Sentinel has switched to it. */
    switched: () =>
      new Promise((resolve) => {
        let output = '';
        const listen = (chunk) => {
          output += chunk;
          const match = /\+switch-master warren \S+ \d+ \S+ (\d+)/.exec(output);
          if (match) {
            sentinel.stdout.off('data', listen);
            resolve(Number(match[1]));
          }
        };
        sentinel.stdout.on('data', listen);
      }),
    stop: async () => {
      if (sentinel.exitCode === null) sentinel.kill('SIGTERM');
      await exited;
      children.delete(sentinel);
      await primary.stop();
      await replica.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** nginx on a free loopback port with config/nginx-cluster.conf, its upstream servers set to `ports`. */
export async function startNginx(ports) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-nginx-'));
  const servers = ports.map((upstream) => `    server 127.0.0.1:${upstream} max_fails=1 fail_timeout=10s;`).join('\n');
  const site = readFileSync(NGINX_CONF, 'utf8')
    .replace(/( {4}server 127\.0\.0\.1:\d+ [^\n]*\n)+/, `${servers}\n`)
    .replace('listen 5680;', `listen 127.0.0.1:${port};`);
  writeFileSync(join(dir, 'warren.conf'), site);
  const temp = (name) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes 2;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 20000; }
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
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr} ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
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
    process: child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
