import uPlot from 'uplot';
import { count, el, replace } from './dom.js';

/** The part of /api/overview the dashboard shows. */
export interface OverviewAnswer {
  product_version: string;
  node?: string;
  object_totals: { connections: number; exchanges: number; queues: number; consumers: number };
  queue_totals: { messages: number; messages_ready: number; messages_unacknowledged: number };
  message_stats: Record<string, number | { rate: number }>;
}

/** The rates charted: RabbitMQ's message_stats names (each `<name>_details.rate`) and their labels. */
const RATES = [
  ['publish', 'Publish', '#2b6cb0'],
  ['deliver_get', 'Deliver / get', '#2f855a'],
  ['ack', 'Ack', '#b7791f'],
  ['redeliver', 'Redeliver', '#c53030'],
] as const;

const QUEUED = [
  ['messages_ready', 'Ready', '#2b6cb0'],
  ['messages_unacknowledged', 'Unacked', '#b7791f'],
  ['messages', 'Total', '#4a5568'],
] as const;

/** How many samples a chart keeps: 15 minutes at one every 3 s. */
const HISTORY = 300;

const TOTALS = [
  ['connections', 'Connections'],
  ['queues', 'Queues'],
  ['exchanges', 'Exchanges'],
  ['consumers', 'Consumers'],
] as const;

/** A chart of a few series over time, fed one sample at a time. */
class Chart {
  readonly element: HTMLElement;
  private readonly plot: uPlot;
  private readonly data: number[][];

  constructor(title: string, series: readonly (readonly [string, string, string])[], unit: string) {
    const holder = el('div', { class: 'chart-body' });
    this.element = el('figure', { class: 'chart', 'data-chart': title }, el('figcaption', {}, title), holder);
    this.data = [[], ...series.map(() => [])];
    this.plot = new uPlot(
      {
        width: 600,
        height: 220,
        scales: { x: { time: true }, y: { range: (_plot, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [{}, ...series.map(([, label, stroke]) => ({ label, stroke, width: 2, value: (_plot: uPlot, value: number | null) => (value === null ? '–' : `${value.toLocaleString('en')}${unit}`) }))],
        axes: [{}, { size: 60, values: (_plot, ticks) => ticks.map((tick) => tick.toLocaleString('en')) }],
      },
      this.data as uPlot.AlignedData,
      holder,
    );
  }

  add(seconds: number, values: number[]): void {
    this.data[0].push(seconds);
    values.forEach((value, index) => this.data[index + 1].push(value));
    if (this.data[0].length > HISTORY) for (const column of this.data) column.shift();
    this.plot.setData(this.data as uPlot.AlignedData);
    // Unless the pointer is over the chart, the legend shows the latest values.
    if ((this.plot.cursor.left ?? -1) < 0) this.plot.setLegend({ idx: this.data[0].length - 1 });
  }

  /** Fits the chart to its box (after the window or the layout changed). */
  fit(): void {
    const width = this.element.clientWidth;
    if (width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: 220 });
  }
}

/** Totals, and charts of message rates and queued messages, fed by each poll of /api/overview. */
export class OverviewView {
  readonly element: HTMLElement;
  private readonly totals = el('dl', { class: 'totals' });
  private readonly rates = new Chart('Message rates (per second)', RATES, '/s');
  private readonly queued = new Chart('Queued messages', QUEUED, '');

  /** `signal` ends its resize listener. */
  constructor(signal: AbortSignal) {
    this.element = el('section', { class: 'view', 'aria-label': 'Overview' }, el('h2', {}, 'Overview'), this.totals, el('div', { class: 'charts' }, this.rates.element, this.queued.element));
    addEventListener('resize', () => this.fit(), { signal });
  }

  update(overview: OverviewAnswer): void {
    const now = Date.now() / 1000;
    const rate = (name: string) => {
      const details = overview.message_stats[`${name}_details`];
      return typeof details === 'object' ? details.rate : 0;
    };
    this.rates.add(
      now,
      RATES.map(([name]) => rate(name)),
    );
    this.queued.add(
      now,
      QUEUED.map(([name]) => overview.queue_totals[name]),
    );
    const entries: [string, string, number][] = [
      ...TOTALS.map(([name, label]): [string, string, number] => [name, label, overview.object_totals[name]]),
      ['messages_ready', 'Ready messages', overview.queue_totals.messages_ready],
      ['messages_unacknowledged', 'Unacked messages', overview.queue_totals.messages_unacknowledged],
    ];
    replace(this.totals, ...entries.map(([name, label, value]) => el('div', { 'data-total': name }, el('dt', {}, label), el('dd', {}, count(value)))));
    this.fit();
  }

  fit(): void {
    this.rates.fit();
    this.queued.fit();
  }
}
