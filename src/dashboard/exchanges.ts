import { segment, type Api } from './api.js';
import { button, el } from './dom.js';
import { PagedTable, vhostKey } from './paged-table.js';
import { errorText, Panel } from './panel.js';

interface Exchange {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  internal: boolean;
  policy?: string;
}

interface Binding {
  source: string;
  destination: string;
  destination_type: string;
  routing_key: string;
  arguments: Record<string, unknown>;
}

/** RabbitMQ's UI name for the exchange whose name is "". */
const displayName = (name: string): string => (name === '' ? '(AMQP default)' : name);

/** The exchanges, and the bindings from one of them (read-only). */
export class ExchangesView {
  readonly element: HTMLElement;
  private readonly panel = new Panel();
  private readonly table: PagedTable<Exchange>;

  constructor(
    private readonly api: Api,
    refreshNow: () => void,
  ) {
    this.table = new PagedTable<Exchange>(
      {
        path: '/exchanges',
        fields: ['name', 'vhost', 'type', 'durable', 'internal', 'policy'],
        noun: 'exchange',
        key: (exchange) => vhostKey(exchange.vhost, exchange.name),
        columns: [
          { key: 'name', label: 'Name', text: (exchange) => displayName(exchange.name) },
          { key: 'vhost', label: 'Vhost', text: (exchange) => exchange.vhost },
          { key: 'type', label: 'Type', text: (exchange) => exchange.type },
          { key: 'features', label: 'Features', text: (exchange) => [exchange.durable ? 'durable' : 'transient', exchange.internal ? 'internal' : ''].filter(Boolean).join(', ') },
          { key: 'policy', label: 'Policy', text: (exchange) => exchange.policy ?? '' },
        ],
        actions: (current) => [button('Bindings', () => void this.bindings(current()))],
      },
      refreshNow,
    );
    this.element = el('section', { class: 'view', 'aria-label': 'Exchanges' }, el('h2', {}, 'Exchanges'), this.panel.element, this.table.element);
  }

  refresh(): Promise<void> {
    return this.table.refresh(this.api);
  }

  private async bindings(exchange: Exchange): Promise<void> {
    const title = `Bindings from ${displayName(exchange.name)} (vhost ${exchange.vhost})`;
    this.panel.open(title, el('p', {}, 'Loading…'));
    try {
      const bindings = await this.api.request<Binding[]>(`/exchanges/${segment(exchange.vhost)}/${segment(exchange.name === '' ? 'amq.default' : exchange.name)}/bindings/source`);
      const rows = bindings.map((binding) =>
        el(
          'tr',
          {},
          el('td', {}, binding.destination),
          el('td', {}, binding.destination_type),
          el('td', {}, binding.routing_key),
          el('td', {}, Object.keys(binding.arguments).length > 0 ? JSON.stringify(binding.arguments) : ''),
        ),
      );
      this.panel.open(
        title,
        bindings.length === 0
          ? el('p', {}, 'No bindings.')
          : el('table', {}, el('thead', {}, el('tr', {}, ...['Destination', 'Type', 'Routing key', 'Arguments'].map((label) => el('th', { scope: 'col' }, label)))), el('tbody', {}, ...rows)),
      );
    } catch (error) {
      this.panel.open(title, el('p', { class: 'outcome failed' }, errorText(error)));
    }
  }
}
