import { segment, type Api } from './api.js';
import { button, el, field } from './dom.js';
import { PagedTable } from './paged-table.js';
import { form, outcome, Panel } from './panel.js';

interface Connection {
  name: string;
  user: string;
  vhost: string;
  protocol: string;
  peer_host: string;
  connected_at: number;
  client_properties: { connection_name?: string };
}

const DEFAULT_REASON = 'Closed via the Warren dashboard';

/** A header value is Latin-1 for fetch; the reason is kept to printable ASCII. */
const headerText = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?');

/** The logged-in connections, each with a Close button (DELETE with X-Reason). */
export class ConnectionsView {
  readonly element: HTMLElement;
  private readonly panel = new Panel();
  private readonly table: PagedTable<Connection>;

  constructor(
    private readonly api: Api,
    private readonly refreshNow: () => void,
  ) {
    this.table = new PagedTable<Connection>(
      {
        path: '/connections',
        fields: ['name', 'user', 'vhost', 'protocol', 'peer_host', 'connected_at', 'client_properties'],
        noun: 'connection',
        key: (connection) => connection.name,
        columns: [
          { key: 'name', label: 'Name', text: (connection) => connection.name },
          { key: 'client', label: 'Client', text: (connection) => connection.client_properties?.connection_name ?? '' },
          { key: 'user', label: 'User', text: (connection) => connection.user },
          { key: 'vhost', label: 'Vhost', text: (connection) => connection.vhost },
          { key: 'protocol', label: 'Protocol', text: (connection) => connection.protocol },
          { key: 'connected_at', label: 'Connected at', text: (connection) => new Date(connection.connected_at).toLocaleString() },
        ],
        actions: (current) => [button('Close', () => this.close(current()), { class: 'danger' })],
      },
      refreshNow,
    );
    this.element = el('section', { class: 'view', 'aria-label': 'Connections' }, el('h2', {}, 'Connections'), this.panel.element, this.table.element);
  }

  refresh(): Promise<void> {
    return this.table.refresh(this.api);
  }

  private close(connection: Connection): void {
    const reason = el('input', { type: 'text', name: 'reason', value: DEFAULT_REASON, maxlength: 120 });
    const result = outcome();
    this.panel.open(
      `Close ${connection.name}`,
      form(
        async () => {
          try {
            await this.api.request(`/connections/${segment(connection.name)}`, { method: 'DELETE', headers: { 'x-reason': headerText(reason.value) || DEFAULT_REASON } });
            result.ok('Closed: the client got close code 4320 and the reason.');
            this.refreshNow();
          } catch (error) {
            result.failed(error);
          }
        },
        el('p', {}, `User ${connection.user}, vhost ${connection.vhost}. Its unacknowledged deliveries are requeued.`),
        field('Reason (sent to the client)', reason),
        el('button', { type: 'submit', class: 'danger' }, 'Close connection'),
      ),
      result.element,
    );
  }
}
