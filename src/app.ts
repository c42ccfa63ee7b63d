import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { pino, type Logger } from 'pino';
import { AccountBook, Authenticator, DEFAULT_VHOST, isLoopback, rabbitPasswordHash, TokenVerifier } from './auth/index.js';
import { systemClock, VirtualHosts, type Clock, type VhostStores } from './broker/index.js';
import { accountsDocument, applyDefinitions, parseDefinitions, type BrokerConfig } from './config/index.js';
import { openManagementApi, silentNode, type ManagementApi, type NodeState } from './http/index.js';
import { DurableFile, MemoryFile, VhostJournals, type TextFile } from './store/index.js';
import { LOOPBACK_ORIGINS, Transport, watchAlarms } from './transport/index.js';
import { VERSION } from './version.js';

export { VERSION };

/** A built broker: wired, definitions applied, not yet listening. */
export interface App {
  readonly vhosts: VirtualHosts;
  readonly logger: Logger;
  /** Starts listening; resolves with the bound address (port 0 picks a free port) and who may connect. */
  listen(): Promise<Listening>;
  /** Graceful shutdown: refuse new sockets, close the open ones (requeueing their deliveries), close the stores. */
  close(): Promise<void>;
}

/** Where the broker listens, and who may connect: for the start-up banner. */
export interface Listening {
  host: string;
  port: number;
  /** The WebSocket URL. */
  url: string;
  /** `http(s)://host:port`: the management API, the dashboard and /metrics are under it. */
  httpUrl: string;
  /** How many users there are, whether tokens are accepted, and where anonymous clients may connect from. */
  access: { users: number; tokens: boolean; anonymous: 'no' | 'this machine' | 'anywhere' };
}

export interface BuildOptions {
  logger?: Logger;
  /** The vhosts' stores: the journals in the data dir unless given (tests pass MemoryVhostStores). */
  stores?: VhostStores;
  /** Where users and permissions made at run time are kept: the data dir's accounts file unless given (in memory with `stores`). */
  accountsFile?: TextFile;
  clock?: Clock;
}

/** Wires stores, vhosts, transport and the management API from a validated config, without listening. */
export async function buildApp(config: BrokerConfig, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? pino({ level: config.log.level });
  const { server, limits } = config;
  const tls = server.tls && readTls(server.tls);
  // An open failure is an Error a person can act on; a failed VirtualHosts.open closes the stores.
  // In a cluster, Redis keeps what every node shares (docs/clustering.md); the data dir keeps nothing a client relies on.
  // Loaded only for a cluster: the Redis client and the cluster code add about 13 MiB to a broker's resident memory.
  const clusterCode = config.cluster && !options.stores ? await import('./cluster/index.js') : undefined;
  const clusterStores = clusterCode && config.cluster ? new clusterCode.RedisVhostStores(await clusterCode.ClusterNode.connect(config.cluster, logger)) : undefined;
  const stores: VhostStores = options.stores ?? clusterStores ?? (await VhostJournals.open({ dataDir: config.storage.dataDir, sync: config.storage.sync, logger }));
  const vhosts = await VirtualHosts.open(stores, options.clock ?? systemClock, limits, ({ kind, vhost, queue, exchange }) => {
    if (kind === 'dead-letter-exchange-missing') {
      logger.warn({ vhost, queue, exchange }, `queue "${queue}" dead-letters into exchange "${exchange}", which does not exist: its dead messages are dropped (counted in the queue's message_stats.dead_letter_dropped) until the exchange is declared`);
    }
  });
  const accountsPath = join(config.storage.dataDir, ACCOUNTS_FILE);
  // In a cluster the accounts are in Redis, for every node.
  const accountsFile = options.accountsFile ?? clusterStores?.node.accountsFile ?? (options.stores ? new MemoryFile() : new DurableFile(accountsPath));
  const accountsLabel = clusterStores ? 'the accounts in Redis (warren:accounts)' : accountsPath;
  let accounts: AccountBook;
  let auth: Authenticator;
  try {
    accounts = await loadAccounts(accountsFile, accountsLabel, config);
    await applyDefinitions({ vhosts, accounts }, config.definitions, 'definitions.');
    const tokens = config.auth.jwt === undefined ? undefined : await TokenVerifier.create(config.auth.jwt);
    auth = new Authenticator({ users: accounts, vhosts, tokens, anonymous: config.auth.anonymous });
  } catch (error) {
    // Release the data dir's lock: the broker never started.
    await vhosts.close();
    throw error;
  }
  const transport = new Transport(
    {
      vhosts,
      auth,
      highWaterBytes: server.highWaterBytes,
      drainTimeoutMs: server.drainTimeoutMs,
      flow: { alarm: null },
      counts: { confirmed: 0 },
      serverVersion: VERSION,
      logger,
    },
    {
      path: server.path,
      maxMessageBytes: server.maxMessageBytes,
      heartbeatMs: server.heartbeatMs,
      maxConnections: limits.maxConnections,
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
      tls,
      // docs/security.md, "Transport security": anonymous development access is for pages on this machine only.
      trustedProxies: server.trustedProxies,
      allowedOrigins: server.allowedOrigins ?? (auth.anonymousAllowed && config.auth.anonymous !== true ? LOOPBACK_ORIGINS : undefined),
    },
  );
  let management: ManagementApi;
  try {
    // RabbitMQ names a node name@host; a cluster's nodes by their cluster.node.
    const node = config.cluster && `warren@${config.cluster.node}`;
    const cluster = clusterStores?.node;
    const otherNodes = cluster && {
      states: async () => {
        const { answers, silent } = await cluster.otherStates();
        return [...(answers as NodeState[]), ...silent.map((name) => silentNode(`warren@${name}`))];
      },
      close: (name: string, reason: string) => cluster.closeElsewhere(name, reason),
    };
    const saveAccounts = accountsSaver(accounts, accountsFile);
    management = await openManagementApi({ vhosts, auth, transport, version: VERSION, logger, node, otherNodes, accounts, saveAccounts, io: stores.io });
    if (clusterCode && clusterStores) {
      const closeVhostConnections = (vhost: string) => {
        for (const details of transport.connections()) if (details.vhost === vhost) details.close(`vhost "${vhost}" was deleted`);
      };
      const reloadAccounts = async () => {
        accounts.replaceWith((await loadAccounts(accountsFile, accountsLabel, config)).snapshot());
        logger.info({ users: accounts.size }, 'users and permissions loaded, as another node saved them');
      };
      clusterStores.node.serveControl({ state: () => management.nodeState(), close: (name, reason) => management.closeConnection(name, reason) });
      await new clusterCode.ClusterSync({ node: clusterStores.node, stores: clusterStores, vhosts, logger, closeVhostConnections, reloadAccounts, saveAccounts }).start();
    }
  } catch (error) {
    await vhosts.close();
    throw error;
  }
  // A memory or disk alarm, and in a cluster Redis out of reach: either blocks publishers.
  const alarms: { resource: string | null; redis: string | null } = { resource: null, redis: null };
  const setAlarm = (source: keyof typeof alarms, reason: string | null) => {
    alarms[source] = reason;
    transport.setAlarm(alarms.resource ?? alarms.redis);
  };
  const stopAlarms = watchAlarms(config.flow, config.storage.dataDir, logger, (reason) => setAlarm('resource', reason));
  clusterStores?.node.watchReachable((reason) => setAlarm('redis', reason));
  return {
    vhosts,
    logger,
    listen: () =>
      new Promise((resolve, reject) => {
        transport.httpServer.once('error', reject);
        transport.httpServer.listen(config.server.port, config.server.host, () => {
          const { address, port } = transport.httpServer.address() as AddressInfo;
          const host = address.includes(':') ? `[${address}]` : address;
          const url = `${tls ? 'wss' : 'ws'}://${host}:${port}${config.server.path}`;
          const httpUrl = `${tls ? 'https' : 'http'}://${host}:${port}`;
          const anonymous = !auth.anonymousAllowed ? 'no' : config.auth.anonymous === true ? 'anywhere' : 'this machine';
          const access = { users: accounts.size, tokens: config.auth.jwt !== undefined, anonymous } as const;
          // Before 'listening', which whoever started the broker may act on at once.
          if (auth.anonymousAllowed && !isLoopback(address)) {
            if (config.auth.anonymous === true) logger.warn({ host: address }, 'anonymous access from any address (auth.anonymous is true): anyone who reaches this port can read and write every queue');
            else logger.warn({ host: address }, 'no users or tokens are configured: clients from other machines will be refused; configure users or auth.jwt, or set auth.anonymous');
          }
          logger.info({ host: address, port, url, management: `${httpUrl}/api`, metrics: `${httpUrl}/metrics`, ...(config.cluster && { clusterNode: config.cluster.node }) }, 'listening');
          resolve({ host: address, port, url, httpUrl, access });
        });
      }),
    close: async () => {
      stopAlarms();
      await management.close();
      await transport.close();
      vhosts.shutdown();
      await vhosts.close();
    },
  };
}

/** The certificate and key files, checked to work together now rather than at the first client. */
function readTls(paths: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string, key: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} "${path}" (${key}): ${(error as Error).message}`, { cause: error });
    }
  };
  const tls = { cert: read(paths.cert, 'certificate', 'server.tls.cert or --tls-cert'), key: read(paths.key, 'private key', 'server.tls.key or --tls-key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new Error(
      `the TLS certificate "${paths.cert}" and key "${paths.key}" cannot be used: ${(error as Error).message}; give a PEM certificate and the PEM private key that belongs to it`,
      { cause: error },
    );
  }
  return tls;
}

/** Where the users and permissions made at run time are kept, in the data dir (RabbitMQ's definitions format). */
export const ACCOUNTS_FILE = 'accounts.json';

/**
 * The users and permissions: those kept in the accounts file (made through the management API),
 * then the config's plain `users` (administrators with full permissions on "/", their passwords
 * hashed now) on top. The config's definitions are applied on top of these by applyDefinitions.
 */
async function loadAccounts(file: TextFile, label: string, config: BrokerConfig): Promise<AccountBook> {
  const text = await file.read();
  let accounts: AccountBook;
  if (text === undefined) accounts = new AccountBook();
  else {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new Error(`${label}: invalid JSON (${(error as Error).message}); restore it from a backup or a definitions export, or remove it to start without the users made through the management API`, { cause: error });
    }
    // Permissions may name vhosts deleted by hand since: they are kept, harmless.
    const permissions = (value as { permissions?: { vhost?: string }[] }).permissions;
    const knownVhosts = new Set(Array.isArray(permissions) ? permissions.map((permission) => String(permission?.vhost)) : []);
    const { definitions } = parseDefinitions(value, { label, knownVhosts });
    accounts = new AccountBook({ users: definitions.users, permissions: definitions.permissions, topicPermissions: definitions.topicPermissions });
  }
  for (const { username, password } of config.users) {
    accounts.putUser({ name: username, passwordHash: rabbitPasswordHash(password, 'rabbit_password_hashing_sha256'), hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] });
    accounts.putPermission({ user: username, vhost: DEFAULT_VHOST, configure: '.*', write: '.*', read: '.*' });
  }
  return accounts;
}

/** Writes the accounts file after each change, one write at a time; each caller learns whether its change is on disk. */
function accountsSaver(accounts: AccountBook, file: TextFile): () => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  return () => {
    const write = () => file.write(`${JSON.stringify(accountsDocument(accounts.snapshot()), null, 2)}\n`);
    last = last.then(write, write);
    return last;
  };
}
