import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
