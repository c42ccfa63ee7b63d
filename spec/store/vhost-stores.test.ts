import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualHosts, type VhostStores } from '../../src/broker/index.js';
import { JournalStore, MemoryVhostStores, VhostJournals } from '../../src/store/index.js';
import { message, queue } from './contract.js';

// The VhostStores port: one store per vhost, the vhosts recovered, a deleted one gone with its
// messages. The same suite runs against each driver.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface VhostStoresFactory {
  open(): Promise<VhostStores>;
  /** The same stores as a restarted broker finds them. */
  reopen(stores: VhostStores): Promise<VhostStores>;
}

function vhostStoresContract(name: string, factory: () => VhostStoresFactory): void {
  describe(`vhost stores - ${name}`, () => {
    it(`vhost stores - ${name}: each vhost keeps its own queues and messages, and the vhosts are found again`, async () => {
      const { open, reopen } = factory();
      let stores = await open();
      const odd = 'prod/eu: "ü" ../..';
      for (const vhost of ['/', odd]) {
        const store = await stores.open(vhost);
        store.putQueue(queue('q'));
        store.putMessage('q', 1, message(vhost), null);
        await store.sync();
        await store.close();
      }
      stores = await reopen(stores);
      expect((await stores.list()).sort()).toEqual(['/', odd].sort());
      for (const vhost of ['/', odd]) {
        const store = await stores.open(vhost);
        const state = await store.recover();
        expect(state.queues.map((q) => q.name)).toEqual(['q']);
        expect(state.messages.map((m) => JSON.parse(m.message.payload))).toEqual([vhost]);
        await store.close();
      }
      await stores.close();
    });

    it(`vhost stores - ${name}: a removed vhost is gone, with its messages, and can be made again empty`, async () => {
      const { open, reopen } = factory();
      let stores = await open();
      const store = await stores.open('doomed');
      store.putQueue(queue('q'));
      store.putMessage('q', 1, message('lost on purpose'), null);
      await store.sync();
      await store.close();
      await stores.remove('doomed');
      stores = await reopen(stores);
      expect(await stores.list()).toEqual(['/']);
      const again = await stores.open('doomed');
      expect((await again.recover()).queues).toEqual([]);
      await again.close();
      await stores.close();
    });
  });
}

vhostStoresContract('MemoryVhostStores', () => ({ open: async () => new MemoryVhostStores(), reopen: async (stores) => stores }));
vhostStoresContract('VhostJournals', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-vhosts-'));
  dirs.push(dataDir);
  const open = () => VhostJournals.open({ dataDir, sync: 'always' });
  return {
    open,
    reopen: async (stores) => {
      await stores.close();
      return open();
    },
  };
});

describe('vhost stores - journal layout', () => {
  it('vhost stores - vhost "/" keeps the single-vhost journal, so an older data dir is read as it was', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-vhosts-'));
    dirs.push(dataDir);
    const old = await JournalStore.open({ dataDir, sync: 'always' });
    old.putQueue(queue('kept'));
    old.putMessage('kept', 7, message('from before vhosts'), null);
    await old.close();
    const vhosts = await VirtualHosts.open(await VhostJournals.open({ dataDir, sync: 'always' }));
    expect(vhosts.names()).toEqual(['/']);
    expect(vhosts.get('/')?.getQueue('kept')?.messageCount).toBe(1);
    await vhosts.add('other');
    expect(readdirSync(join(dataDir, 'vhosts'))).toHaveLength(1);
    await vhosts.close();
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  });

  it('vhost stores - a second broker on the same data dir is refused, whatever vhosts it has', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-vhosts-'));
    dirs.push(dataDir);
    const first = await VhostJournals.open({ dataDir, sync: 'none' });
    await expect(VhostJournals.open({ dataDir, sync: 'none' })).rejects.toThrow(/in use by another Warren broker/);
    await first.close();
  });
});

describe('virtual hosts - namespaces', () => {
  it('virtual hosts - the same names in two vhosts are two queues and two exchanges, each vhost with its own amq.* exchanges', async () => {
    const vhosts = await VirtualHosts.open(new MemoryVhostStores());
    const root = vhosts.get('/');
    const prod = await vhosts.add('prod');
    if (!root) throw new Error('no vhost "/"');
    for (const broker of [root, prod]) broker.declareQueue(null, 'q', { durable: true, exclusive: false, autoDelete: false, arguments: {} }, false);
    root.declareExchange('x', 'fanout', { durable: true, autoDelete: false, internal: false, arguments: {} }, false);
    prod.declareExchange('x', 'direct', { durable: true, autoDelete: false, internal: false, arguments: {} }, false);
    root.bindQueue(null, 'q', 'amq.fanout', '', {});
    root.publish('amq.fanout', { ...message('root only'), exchange: 'amq.fanout' });
    expect(root.getQueue('q')?.messageCount).toBe(1);
    expect(prod.getQueue('q')?.messageCount).toBe(0);
    expect([root.exchangeType('x'), prod.exchangeType('x')]).toEqual(['fanout', 'direct']);
    expect(prod.exchangeType('amq.topic')).toBe('topic');
    await vhosts.delete('prod');
    expect(vhosts.has('prod')).toBe(false);
    expect((await vhosts.add('prod')).getQueue('q')).toBeUndefined();
    await vhosts.close();
  });
});
