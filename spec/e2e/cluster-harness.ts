import { execFileSync } from 'node:child_process';
import { NGINX, startNginx, startRedis, type RunningNginx, type RunningRedis } from '../../scripts/cluster-parts.mjs';
import { startBroker, type RunningBroker } from './harness.js';

export { startRedis, type RunningRedis };

/** Whether a Debian package's program is on this machine; when not, say so loudly (CI installs it). */
function installed(program: string, what: string, debianPackage: string): boolean {
  try {
    execFileSync(program, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`SKIPPED: ${program} is not installed, so ${what} cannot run (apt-get install ${debianPackage}; .ci/run does)`);
    return false;
  }
}

export const hasRedis = installed('redis-server', 'the cluster tests', 'redis-server');
export const hasNginx = installed(NGINX, 'the tests through nginx', 'nginx');

/** Brokers on one Redis, named node1, node2, ...; `config` is added to each node's. */
export async function startNodes(redis: RunningRedis, count: number, config: Record<string, unknown> = {}, nodeTimeoutMs = 1000): Promise<RunningBroker[]> {
  const nodes: RunningBroker[] = [];
  for (let i = 1; i <= count; i++) nodes.push(await startNode(redis, `node${i}`, config, nodeTimeoutMs));
  return nodes;
}

export function startNode(redis: RunningRedis, name: string, config: Record<string, unknown> = {}, nodeTimeoutMs = 1000): Promise<RunningBroker> {
  return startBroker({ ...config, cluster: { redis: redis.url, node: name, nodeTimeoutMs } });
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
