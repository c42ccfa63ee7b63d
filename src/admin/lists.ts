import { AdminError, apiPath } from './management-client.js';
import { cellText, type Table } from './table.js';

type Row = Record<string, unknown>;

interface Column {
  readonly header: string;
  readonly value: (row: Row) => unknown;
}

interface Listing {
  /** The API path of the list, of every visible vhost's objects or of one vhost's. */
  readonly path: (vhost: string | undefined) => string;
  readonly columns: readonly Column[];
}

/** A column of the field of the same name. */
const field = (name: string): Column => ({ header: name, value: (row) => row[name] });

/** A column of a field of a nested object (`queue.name`). */
const nested = (header: string, object: string, name: string): Column => ({
  header,
  value: (row) => {
    const inner = row[object];
    return typeof inner === 'object' && inner !== null ? (inner as Row)[name] : undefined;
  },
});

/** `/api/<what>`, or `/api/<what>/{vhost}` (docs/management.md, "Endpoints"). */
const perVhost =
  (what: string) =>
  (vhost: string | undefined): string =>
    vhost === undefined ? apiPath(what) : apiPath(what, vhost);

/** What `warren list` lists: each one's path and the columns of its table. */
export const LISTINGS = {
  queues: {
    path: perVhost('queues'),
    columns: ['vhost', 'name', 'type', 'messages_ready', 'messages_unacknowledged', 'consumers', 'policy'].map(field),
  },
  exchanges: { path: perVhost('exchanges'), columns: ['vhost', 'name', 'type', 'durable'].map(field) },
  bindings: { path: perVhost('bindings'), columns: ['vhost', 'source', 'destination', 'destination_type', 'routing_key'].map(field) },
  // One vhost's connections are under the vhost (docs/management.md, "Connections").
  connections: {
    path: (vhost) => (vhost === undefined ? apiPath('connections') : apiPath('vhosts', vhost, 'connections')),
    columns: ['name', 'user', 'vhost', 'protocol'].map(field),
  },
  consumers: {
    path: perVhost('consumers'),
    columns: [
      nested('vhost', 'queue', 'vhost'),
      nested('queue', 'queue', 'name'),
      field('consumer_tag'),
      nested('connection', 'channel_details', 'connection_name'),
      field('ack_required'),
      field('prefetch_count'),
    ],
  },
  users: {
    path: (vhost) => {
      if (vhost !== undefined) throw new AdminError('users are not per vhost: list users without --vhost');
      return apiPath('users');
    },
    columns: ['name', 'tags'].map(field),
  },
  // `/api/vhosts/{vhost}` is the one vhost, not a list: `list` makes it a list of one.
  vhosts: { path: perVhost('vhosts'), columns: ['name', 'messages'].map(field) },
  policies: { path: perVhost('policies'), columns: ['vhost', 'name', 'pattern', 'apply-to', 'priority', 'definition'].map(field) },
} satisfies Record<string, Listing>;

export type Listable = keyof typeof LISTINGS;

export const LISTABLE = Object.keys(LISTINGS) as Listable[];

/** The rows of a list the API gave, as the listing's table. */
export function tableOf(what: Listable, rows: readonly unknown[]): Table {
  const { columns } = LISTINGS[what] as Listing;
  return {
    headers: columns.map((column) => column.header),
    rows: rows.map((row) => columns.map((column) => cellText(column.value(typeof row === 'object' && row !== null ? (row as Row) : {})))),
  };
}
