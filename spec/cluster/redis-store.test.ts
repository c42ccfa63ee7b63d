import { pino } from 'pino';
import { afterAll } from 'vitest';
import { ClusterNode, RedisVhostStores } from '../../src/cluster/index.js';
import { hasRedis, startRedis, type RunningRedis } from '../e2e/cluster-harness.js';
import { storeContract } from '../store/contract.js';

// The store port's contract, on Redis: topology and policies (a shared store keeps messages
// through its shared queues, which spec/e2e/cluster.test.ts covers, and its stream logs answer
// reads from Redis later, not at once as the contract's do: spec/e2e/cluster-streams.test.ts).
// Each store is a vhost of its own; a reopen is a new store of the same vhost, as a restarted
// node makes.
if (hasRedis) {
  let redis: RunningRedis | undefined;
  let node: ClusterNode | undefined;
  let vhosts = 0;
  const connected = async (): Promise<RedisVhostStores> => {
    redis ??= await startRedis();
    node ??= await ClusterNode.connect({ redis: redis.url, node: 'contract', nodeTimeoutMs: 10_000 }, pino({ level: 'silent' }));
    return new RedisVhostStores(node);
  };
  afterAll(async () => {
    await node?.close();
    await redis?.stop();
  });
  storeContract(
    'RedisStore',
    () => {
      const vhost = `contract-${++vhosts}`;
      return {
        open: async () => (await connected()).open(vhost),
        reopen: async (store) => {
          await store.close();
          return (await connected()).open(vhost);
        },
      };
    },
    { messages: false, streams: false },
  );
}
