import { bytes, count, el } from './dom.js';

/** A stream queue's `stream` object in the management API (docs/management.md, "Endpoints"). */
export interface StreamState {
  first_offset: number;
  next_offset: number;
  /** On disk. */
  bytes: number;
  groups: { name: string; committed: number | null; lag: number; consumers: number }[];
}

/** What the Stream panel shows of `GET /api/queues/{vhost}/{name}`. */
export interface StreamQueue {
  name: string;
  messages_ready: number;
  stream?: StreamState;
}

const GROUP_COLUMNS = [
  ['name', 'Group', false],
  ['committed', 'Committed offset', true],
  ['lag', 'Lag (entries)', true],
  ['consumers', 'Consumers', true],
] as const;

/** The panel's content: the offsets kept, the size on disk and the consumer groups with their lag. */
export function streamDetails(queue: StreamQueue): Node[] {
  const stream = queue.stream;
  if (!stream) return [el('p', { class: 'outcome failed' }, `${queue.name} is not a stream.`)];
  const facts: [string, string, string, string?][] = [
    ['first_offset', 'First offset', count(stream.first_offset)],
    ['next_offset', 'Next offset', count(stream.next_offset)],
    ['entries', 'Entries kept', count(queue.messages_ready)],
    ['bytes', 'Size on disk', bytes(stream.bytes), `${count(stream.bytes)} bytes`],
  ];
  const groups =
    stream.groups.length === 0
      ? el('p', { class: 'hint' }, 'No consumer groups: a group is listed once it has committed an offset or has consumers.')
      : el(
          'table',
          { class: 'groups' },
          el('thead', {}, el('tr', {}, ...GROUP_COLUMNS.map(([, label, numeric]) => el('th', { scope: 'col', class: numeric ? 'numeric' : undefined }, label)))),
          el(
            'tbody',
            {},
            ...stream.groups.map((group) =>
              el(
                'tr',
                { 'data-group': group.name },
                el('td', { 'data-column': 'name' }, group.name),
                el('td', { 'data-column': 'committed', class: 'numeric' }, group.committed === null ? 'none' : count(group.committed)),
                el('td', { 'data-column': 'lag', class: 'numeric' }, count(group.lag)),
                el('td', { 'data-column': 'consumers', class: 'numeric' }, count(group.consumers)),
              ),
            ),
          ),
        );
  return [
    el('dl', { class: 'totals' }, ...facts.map(([name, label, value, title]) => el('div', { 'data-stream': name, title }, el('dt', {}, label), el('dd', {}, value)))),
    el('p', { class: 'hint' }, 'Reading a stream removes nothing: Get, Purge and Move do not apply. A group’s lag is the number of entries after its committed offset.'),
    groups,
  ];
}
