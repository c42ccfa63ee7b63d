import { Broker, type BrokerLimits, type BrokerNotice } from './broker.js';
import type { MessageStore, VhostStores } from './store-port.js';
import { systemClock, type Clock } from './types.js';

/** The vhost every broker has, and the one a client gets when it names none (RabbitMQ's default). */
export const DEFAULT_VHOST = '/';

/** A broker's notice, with the vhost it came from. */
export type VhostNotice = BrokerNotice & { vhost: string };

/**
 * The vhosts of one broker process: separate namespaces of exchanges, queues and bindings, each
 * a Broker of its own (with its own `amq.*` exchanges) over a store of its own. Nothing is shared
 * between them but the clock and the limits, which apply per vhost.
 */
export class VirtualHosts {
  private constructor(
    private readonly stores: VhostStores,
    private readonly clock: Clock,
    private readonly limits: Partial<BrokerLimits>,
    private readonly brokers: Map<string, { broker: Broker; store: MessageStore }>,
    private readonly onNotice: (notice: VhostNotice) => void,
  ) {}

  /** Every vhost the stores hold, recovered, and "/" (made when new). */
  static async open(stores: VhostStores, clock: Clock = systemClock, limits: Partial<BrokerLimits> = {}, onNotice: (notice: VhostNotice) => void = () => {}): Promise<VirtualHosts> {
    const vhosts = new VirtualHosts(stores, clock, limits, new Map(), onNotice);
    try {
      for (const name of new Set([DEFAULT_VHOST, ...(await stores.list())])) await vhosts.add(name);
    } catch (error) {
      await vhosts.close();
      throw error;
    }
    return vhosts;
  }

  has(name: string): boolean {
    return this.brokers.has(name);
  }

  get(name: string): Broker | undefined {
    return this.brokers.get(name)?.broker;
  }

  names(): string[] {
    return [...this.brokers.keys()];
  }

  /** The vhost's broker, made (and its store created) when the vhost is new. */
  async add(name: string): Promise<Broker> {
    const existing = this.brokers.get(name);
    if (existing) return existing.broker;
    const store = await this.stores.open(name);
    try {
      const broker = await Broker.open(store, this.clock, this.limits, (notice) => this.onNotice({ ...notice, vhost: name }));
      this.brokers.set(name, { broker, store });
      return broker;
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /**
   * Deletes a vhost and everything in it, its store included. Its connections must be closed
   * first: their consumers and deliveries belong to the broker that goes.
   */
  async delete(name: string): Promise<void> {
    const entry = this.brokers.get(name);
    if (!entry) return;
    this.brokers.delete(name);
    entry.broker.shutdown();
    await entry.store.close();
    await this.stores.remove(name);
  }

  /** Stops every timer, so the process can exit; the state stays in the stores. */
  shutdown(): void {
    for (const { broker } of this.brokers.values()) broker.shutdown();
  }

  /** Closes every store (writing out what is left), then the stores' data dir. */
  async close(): Promise<void> {
    const closing = [...this.brokers.values()].map(({ store }) => store.close());
    this.brokers.clear();
    await Promise.all(closing);
    await this.stores.close();
  }
}
