import { segment, type Api, type Page } from './api.js';
import { append, button, el, replace } from './dom.js';

/** A column: its header and the text of each cell. */
export interface Column<T> {
  readonly key: string;
  readonly label: string;
  readonly text: (item: T) => string;
  readonly numeric?: boolean;
}

export interface PagedTableOptions<T> {
  /** The list's path under /api (`/queues`), paged with page_size 100 and the name filter. */
  readonly path: string;
  /** The fields asked for (the `columns` parameter). */
  readonly fields: readonly string[];
  readonly columns: readonly Column<T>[];
  /** A row's identity across refreshes (vhost and name). */
  readonly key: (item: T) => string;
  /** The buttons of a row; they read the row's latest item through `current`. */
  readonly actions?: (current: () => T) => HTMLElement[];
  readonly noun: string;
}

const PAGE_SIZE = 100;

interface Row<T> {
  item: T;
  readonly element: HTMLTableRowElement;
  readonly cells: HTMLTableCellElement[];
}

/**
 * A list of the API as a table: a name filter and pages of 100 (docs/management.md, "Lists"). Rows
 * are kept by key and their cells updated in place, so a refresh does not move the buttons under
 * the pointer or drop the focus.
 */
export class PagedTable<T> {
  readonly element: HTMLElement;
  private readonly body = el('tbody');
  private readonly summary = el('span', { class: 'summary' });
  private readonly previous: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly filter: HTMLInputElement;
  private readonly rows = new Map<string, Row<T>>();
  private page = 1;
  private pageCount = 1;
  /** The items shown, in order. */
  items: T[] = [];

  constructor(
    private readonly options: PagedTableOptions<T>,
    private readonly onChange: () => void,
  ) {
    this.filter = el('input', { type: 'search', placeholder: `Filter ${options.noun}s by name`, 'aria-label': `Filter ${options.noun}s by name` });
    this.previous = button('‹ Previous', () => this.go(this.page - 1));
    this.next = button('Next ›', () => this.go(this.page + 1));
    let debounce: ReturnType<typeof setTimeout> | undefined;
    this.filter.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.go(1), 250);
    });
    const head = el('tr', {}, ...options.columns.map((column) => el('th', { scope: 'col', class: column.numeric ? 'numeric' : undefined }, column.label)), options.actions ? el('th', { scope: 'col' }, 'Actions') : null);
    this.element = el(
      'div',
      { class: 'paged-table' },
      el('div', { class: 'toolbar' }, this.filter, this.previous, this.summary, this.next),
      el('table', {}, el('thead', {}, head), this.body),
    );
  }

  /** Reads the current page again (the last page when the list shrank below it). */
  async refresh(api: Api): Promise<void> {
    const query = new URLSearchParams({ page: String(this.page), page_size: String(PAGE_SIZE), columns: this.options.fields.join(',') });
    if (this.filter.value !== '') query.set('name', this.filter.value);
    let page: Page<T>;
    try {
      page = await api.request<Page<T>>(`${this.options.path}?${query}`);
    } catch (error) {
      if ((error as { error?: string }).error === 'page_out_of_range' && this.page > 1) {
        this.page = 1;
        return this.refresh(api);
      }
      throw error;
    }
    this.pageCount = Math.max(1, page.page_count);
    this.items = page.items;
    this.render(page);
  }

  private go(page: number): void {
    this.page = Math.min(Math.max(1, page), this.pageCount);
    this.onChange();
  }

  private render(page: Page<T>): void {
    const { noun } = this.options;
    const filtered = page.filtered_count === page.total_count ? '' : ` matching, of ${page.total_count}`;
    replace(this.summary, page.filtered_count === 0 ? `No ${noun}s${filtered}` : `Page ${page.page} of ${page.page_count}: ${page.filtered_count} ${noun}${page.filtered_count === 1 ? '' : 's'}${filtered}`);
    this.previous.disabled = page.page <= 1;
    this.next.disabled = page.page >= page.page_count;
    const seen = new Set<string>();
    page.items.forEach((item, index) => {
      const key = this.options.key(item);
      seen.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.createRow(item, key);
        this.rows.set(key, row);
      }
      row.item = item;
      this.options.columns.forEach((column, i) => {
        const text = column.text(item);
        if (row.cells[i].textContent !== text) row.cells[i].textContent = text;
      });
      if (this.body.children[index] !== row.element) this.body.insertBefore(row.element, this.body.children[index] ?? null);
    });
    for (const [key, row] of this.rows) {
      if (seen.has(key)) continue;
      row.element.remove();
      this.rows.delete(key);
    }
  }

  private createRow(item: T, key: string): Row<T> {
    const cells = this.options.columns.map((column) => el('td', { 'data-column': column.key, class: column.numeric ? 'numeric' : undefined }));
    const element = el('tr', { 'data-key': key }, ...cells);
    const row: Row<T> = { item, element, cells };
    if (this.options.actions) append(element, el('td', { class: 'actions' }, ...this.options.actions(() => row.item)));
    return row;
  }
}

/** The key of an object in a vhost, as the API's path has it. */
export const vhostKey = (vhost: string, name: string): string => `${segment(vhost)}/${segment(name)}`;
