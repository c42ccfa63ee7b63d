/**
 * Redis key names. Every key of a vhost carries the vhost in a hash tag (`{...}`), so that a
 * queue's stream, its dead-letter targets and its vhost's topology share one hash slot and a Lua
 * script may touch them together; the name is URI-encoded so that no vhost or queue name can end
 * the tag or run into another key.
 */
const enc = encodeURIComponent;

export const VHOSTS_KEY = 'warren:vhosts';
/** Sorted set: node name -> the time (ms, Redis's clock) past which it is dead unless renewed. */
export const NODES_KEY = 'warren:nodes';
/** Channel of topology changes: "VERSION JSON", the JSON a `TopologyChange`. */
export const TOPOLOGY_CHANNEL = 'warren:topology';
/** The topology's version: one more with each change. */
export const TOPOLOGY_VERSION_KEY = 'warren:topology:version';
/** Channel on which each node says which topology version it has applied: "NODE VERSION". */
export const APPLIED_CHANNEL = 'warren:applied';
/** The users and permissions (definitions JSON), as the accounts file keeps them on one node. */
export const ACCOUNTS_KEY = 'warren:accounts';
/** Channel on which a node that saved the accounts says so: its name. */
export const ACCOUNTS_CHANNEL = 'warren:accounts';
/** The consumer group every node reads a queue's stream in. */
export const GROUP = 'warren';

export const topologyKey = (vhost: string): string => `warren:{${enc(vhost)}}:topology`;
export const queueKey = (vhost: string, queue: string): string => `warren:{${enc(vhost)}}:q:${enc(queue)}`;
/**
 * A stream queue's state, next to its entries (which are in `queueKey`): a hash of `first`,
 * `next`, `bytes`, `ts` (the last entry's timestamp) and `g:GROUP` (a consumer group's committed offset).
 */
export const streamStateKey = (vhost: string, queue: string): string => `warren:{${enc(vhost)}}:s:${enc(queue)}`;
/**
 * Channel on which the scripts announce a stream queue's changes: "STATE-KEY FIRST NEXT BYTES"
 * after appends and trims, "STATE-KEY g OFFSET GROUP" after a commit.
 */
export const STREAMS_CHANNEL = 'warren:streams';
/** A lease (a single active consumer's turn) in a vhost: a string, the node that holds it, expiring unless renewed. */
export const leaseKey = (vhost: string, name: string): string => `warren:{${enc(vhost)}}:lease:${enc(name)}`;
/** Channel on which a node that gives up a lease says so: the lease's key. */
export const LEASES_CHANNEL = 'warren:leases';
/** Channel of requests to a node from the others (its connections, closing one): `ControlRequest` as JSON. */
export const controlChannel = (node: string): string => `warren:control:${enc(node)}`;
/** Channel of the answers to a node's requests. */
export const replyChannel = (node: string): string => `warren:reply:${enc(node)}`;
/** Channel on which a node receives messages for its exclusive queues, published on other nodes. */
export const relayChannel = (node: string): string => `warren:relay:${enc(node)}`;
