export { ClusterSync, type ClusterSyncOptions } from './cluster-sync.js';
export { ClusterNode } from './node.js';
export { RedisVhostStores } from './redis-store.js';
export { redisOptions } from './redis-url.js';
