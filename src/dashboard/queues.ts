import { ApiFailure, segment, type Api } from './api.js';
import { button, count, el, field, replace } from './dom.js';
import { PagedTable, vhostKey } from './paged-table.js';
import { errorText, form, outcome, Panel } from './panel.js';
import { streamDetails, type StreamQueue } from './stream.js';

interface Queue {
  name: string;
  vhost: string;
  type: string;
  messages_ready: number;
  messages_unacknowledged: number;
  consumers: number;
  policy: string | null;
  /** Only the rates asked for (`columns`). */
  message_stats?: Partial<Record<(typeof RATES)[number], { rate: number }>>;
}

/** The queue's rates shown, as RabbitMQ's management UI shows them: in, out (deliveries and gets) and acks. */
const RATES = ['publish_details', 'deliver_get_details', 'ack_details'] as const;

/** A rate per second as the table shows it (the API rounds to one decimal). */
const rateText = (queue: Queue, name: (typeof RATES)[number]): string => {
  const rate = queue.message_stats?.[name]?.rate;
  return rate === undefined ? '' : `${rate.toLocaleString('en')}/s`;
};

interface GotMessage {
  payload: string;
  payload_bytes: number;
  redelivered: boolean;
  exchange: string;
  routing_key: string;
  message_count: number;
  properties: Record<string, unknown>;
}

/** How many messages a get shows at most. */
const MAX_GET = 5;

/** The queues, with publish, get, purge and move on each, and a stream's offsets and groups (docs/dashboard.md, "Queues"). */
export class QueuesView {
  readonly element: HTMLElement;
  private readonly panel = new Panel();
  private readonly table: PagedTable<Queue>;
  /** The stream whose panel is open, read again with each refresh; its body leaves the page when the panel closes or shows another action. */
  private stream: { queue: Queue; body: HTMLElement } | undefined;

  constructor(
    private readonly api: Api,
    private readonly refreshNow: () => void,
  ) {
    this.table = new PagedTable<Queue>(
      {
        path: '/queues',
        fields: ['name', 'vhost', 'type', 'messages_ready', 'messages_unacknowledged', ...RATES.map((name) => `message_stats.${name}.rate`), 'consumers', 'policy'],
        noun: 'queue',
        // The type too: a row's buttons are made once, and a stream's differ (a queue deleted and declared again as a stream is a new row).
        key: (queue) => `${vhostKey(queue.vhost, queue.name)}/${queue.type}`,
        columns: [
          { key: 'name', label: 'Name', text: (queue) => queue.name },
          { key: 'vhost', label: 'Vhost', text: (queue) => queue.vhost },
          { key: 'type', label: 'Type', text: (queue) => queue.type },
          { key: 'messages_ready', label: 'Ready', text: (queue) => count(queue.messages_ready), numeric: true },
          { key: 'messages_unacknowledged', label: 'Unacked', text: (queue) => count(queue.messages_unacknowledged), numeric: true },
          { key: 'message_stats.publish_details.rate', label: 'In', text: (queue) => rateText(queue, 'publish_details'), numeric: true },
          { key: 'message_stats.deliver_get_details.rate', label: 'Out', text: (queue) => rateText(queue, 'deliver_get_details'), numeric: true },
          { key: 'message_stats.ack_details.rate', label: 'Acked', text: (queue) => rateText(queue, 'ack_details'), numeric: true },
          { key: 'consumers', label: 'Consumers', text: (queue) => count(queue.consumers), numeric: true },
          { key: 'policy', label: 'Policy', text: (queue) => queue.policy ?? '' },
        ],
        // The broker refuses get, purge and move on a stream (NOT_ALLOWED): a stream has Stream instead.
        actions: (current) =>
          current().type === 'stream'
            ? [button('Publish', () => this.publish(current())), button('Stream', () => this.openStream(current()))]
            : [
                button('Publish', () => this.publish(current())),
                button('Get', () => this.get(current())),
                button('Purge', () => this.purge(current())),
                button('Move', () => this.move(current())),
              ],
      },
      refreshNow,
    );
    this.element = el('section', { class: 'view', 'aria-label': 'Queues' }, el('h2', {}, 'Queues'), this.panel.element, this.table.element);
  }

  async refresh(): Promise<void> {
    await Promise.all([this.table.refresh(this.api), this.refreshStream()]);
  }

  /** The Stream panel: read at once, then with every refresh while it is open. */
  private openStream(queue: Queue): void {
    const body = el('div', { class: 'stream' }, el('p', {}, 'Loading…'));
    this.panel.open(`Stream ${queue.name} (vhost ${queue.vhost})`, body);
    this.stream = { queue, body };
    this.refreshNow();
  }

  /** `GET /api/queues/{vhost}/{name}` for the open Stream panel; a failure is shown in the panel, not as the round's. */
  private async refreshStream(): Promise<void> {
    const shown = this.stream;
    if (!shown) return;
    if (!shown.body.isConnected) {
      this.stream = undefined;
      return;
    }
    let content: Node[];
    try {
      content = streamDetails(await this.api.request<StreamQueue>(this.path(shown.queue)));
    } catch (error) {
      const gone = error instanceof ApiFailure && error.status === 404;
      content = [el('p', { class: 'outcome failed' }, gone ? `${shown.queue.name} no longer exists.` : errorText(error))];
    }
    if (this.stream === shown) replace(shown.body, ...content);
  }

  private path(queue: Queue, rest = ''): string {
    return `/queues/${segment(queue.vhost)}/${segment(queue.name)}${rest}`;
  }

  /** Publishes through the default exchange, with the queue's name as routing key. */
  private publish(queue: Queue): void {
    const payload = el('textarea', { name: 'payload', rows: 4, required: true });
    const persistent = el('input', { type: 'checkbox', name: 'persistent', checked: true });
    const result = outcome();
    this.panel.open(
      `Publish to ${queue.name}`,
      form(
        async () => {
          try {
            const answer = await this.api.request<{ routed: boolean }>(`/exchanges/${segment(queue.vhost)}/amq.default/publish`, {
              method: 'POST',
              body: { routing_key: queue.name, payload: payload.value, payload_encoding: 'string', properties: { delivery_mode: persistent.checked ? 2 : 1 } },
            });
            if (answer.routed) result.ok('Published.');
            else result.failed(new Error('Not routed: the queue is gone.'));
            this.refreshNow();
          } catch (error) {
            result.failed(error);
          }
        },
        el('p', { class: 'hint' }, `Through the default exchange of vhost ${queue.vhost}, routing key ${queue.name}.`),
        field('Payload (a string)', payload),
        el('label', { class: 'inline' }, persistent, 'Persistent'),
        el('button', { type: 'submit' }, 'Publish message'),
      ),
      result.element,
    );
    payload.focus();
  }

  /** Shows up to 5 messages and puts them back (ackmode ack_requeue_true): they come back redelivered. */
  private get(queue: Queue): void {
    const howMany = el('input', { type: 'number', name: 'count', min: 1, max: MAX_GET, value: 1, required: true });
    const result = outcome();
    const messages = el('div', { class: 'messages' });
    this.panel.open(
      `Get messages from ${queue.name}`,
      form(
        async () => {
          messages.replaceChildren();
          try {
            const got = await this.api.request<GotMessage[]>(this.path(queue, '/get'), {
              method: 'POST',
              body: { count: Math.min(MAX_GET, Math.max(1, Number(howMany.value) || 1)), ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50_000 },
            });
            result.ok(got.length === 0 ? 'The queue has no ready messages.' : `${got.length} message${got.length === 1 ? '' : 's'}, put back in the queue.`);
            got.forEach((message, index) => messages.append(messageView(message, index + 1)));
            this.refreshNow();
          } catch (error) {
            result.failed(error);
          }
        },
        el('p', { class: 'hint' }, 'The messages are requeued (ack_requeue_true): they stay in the queue, marked redelivered.'),
        field(`How many (1 to ${MAX_GET})`, howMany),
        el('button', { type: 'submit' }, 'Get messages'),
      ),
      result.element,
      messages,
    );
  }

  private purge(queue: Queue): void {
    const result = outcome();
    this.panel.open(
      `Purge ${queue.name}`,
      form(
        async () => {
          try {
            await this.api.request(this.path(queue, '/contents'), { method: 'DELETE' });
            result.ok('Purged: the ready messages are deleted.');
            this.refreshNow();
          } catch (error) {
            result.failed(error);
          }
        },
        el('p', {}, `Delete the ${count(queue.messages_ready)} ready message${queue.messages_ready === 1 ? '' : 's'} of ${queue.name} (vhost ${queue.vhost})? Unacknowledged deliveries stay.`),
        el('button', { type: 'submit', class: 'danger' }, 'Purge queue'),
      ),
      result.element,
    );
  }

  /** Moves ready messages to another queue of the same vhost. */
  private move(queue: Queue): void {
    const listId = 'move-destinations';
    const destination = el('input', { type: 'text', name: 'destination', required: true, list: listId, autocomplete: 'off' });
    const options = el('datalist', { id: listId }, ...this.table.items.filter((other) => other.vhost === queue.vhost && other.name !== queue.name).map((other) => el('option', { value: other.name })));
    const howMany = el('input', { type: 'number', name: 'count', min: 1, placeholder: 'all' });
    const result = outcome();
    this.panel.open(
      `Move messages from ${queue.name}`,
      form(
        async () => {
          try {
            const body: Record<string, unknown> = { destination: destination.value };
            if (howMany.value !== '') body.count = Number(howMany.value);
            const answer = await this.api.request<{ moved: number }>(this.path(queue, '/move'), { method: 'POST', body });
            result.ok(`Moved ${answer.moved} message${answer.moved === 1 ? '' : 's'} to ${destination.value}.`);
            this.refreshNow();
          } catch (error) {
            result.failed(error);
          }
        },
        el('p', { class: 'hint' }, `Ready messages, from the head of the queue, to a queue of vhost ${queue.vhost}.`),
        field('Destination queue', destination),
        options,
        field('How many (empty: all)', howMany),
        el('button', { type: 'submit' }, 'Move messages'),
      ),
      result.element,
    );
    destination.focus();
  }
}

function messageView(message: GotMessage, index: number): HTMLElement {
  const facts = [`#${index}`, `${message.payload_bytes} bytes`, message.redelivered ? 'redelivered' : 'first delivery', `exchange ${message.exchange === '' ? '(default)' : message.exchange}`, `routing key ${message.routing_key}`];
  return el(
    'article',
    { class: 'message' },
    el('p', { class: 'facts' }, facts.join(' · ')),
    el('pre', { class: 'payload' }, message.payload),
    Object.keys(message.properties).length > 0 ? el('pre', { class: 'properties' }, JSON.stringify(message.properties, null, 2)) : null,
  );
}
