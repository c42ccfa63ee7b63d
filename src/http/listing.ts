import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from './errors.js';

/** RabbitMQ's largest page. */
const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

type Item = Record<string, unknown>;

/**
 * A list endpoint's answer with RabbitMQ's query parameters (docs/management.md, "Lists"):
 * `sort` (a field, dotted for a nested one) and `sort_reverse`; `page` with `page_size`, `name`
 * and `use_regex`, which answer a page object instead of the list; `columns`, the fields to keep.
 * `items` come sorted as the endpoint lists them.
 */
export function listing(request: FastifyRequest, items: readonly object[]): Item[] | Page {
  const query = request.query as Record<string, string | string[] | undefined>;
  const param = (name: string): string | undefined => {
    const value = query[name];
    return Array.isArray(value) ? value.at(-1) : value;
  };
  let list = items as Item[];
  const sortKey = param('sort');
  if (sortKey !== undefined && sortKey !== '') list = [...(items as Item[])].sort((a, b) => compareValues(pick(a, sortKey), pick(b, sortKey)));
  if (param('sort_reverse') === 'true') list = (list === items ? [...list] : list).reverse();
  const columns = param('columns')?.split(',').filter((column) => column !== '');
  const shown = (entries: Item[]) => (columns === undefined || columns.length === 0 ? entries : entries.map((item) => only(item, columns)));
  const page = param('page');
  if (page === undefined) return shown(list);
  return paged(list, page, param('page_size'), param('name'), param('use_regex') === 'true', shown);
}

interface Page {
  filtered_count: number;
  item_count: number;
  items: Item[];
  page: number;
  page_count: number;
  page_size: number;
  total_count: number;
}

function paged(list: Item[], pageText: string, sizeText: string | undefined, name: string | undefined, useRegex: boolean, shown: (items: Item[]) => Item[]): Page {
  const page = integer(pageText);
  const pageSize = sizeText === undefined ? DEFAULT_PAGE_SIZE : integer(sizeText);
  if (page === undefined || pageSize === undefined) throw badRequest('Pagination parameters are invalid');
  if (page < 1 || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new ApiError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${pageSize}; page must be at least 1 and page_size from 1 to ${MAX_PAGE_SIZE}`);
  }
  const filtered = name === undefined || name === '' ? list : list.filter(nameFilter(name, useRegex));
  const pageCount = Math.ceil(filtered.length / pageSize);
  if (filtered.length > 0 && page > pageCount) {
    throw new ApiError(400, 'page_out_of_range', `Page out of range, page: ${page} page size: ${pageSize}, len: ${filtered.length}`);
  }
  const items = shown(filtered.slice((page - 1) * pageSize, page * pageSize));
  return { filtered_count: filtered.length, item_count: items.length, items, page, page_count: pageCount, page_size: pageSize, total_count: list.length };
}

/** RabbitMQ's `name` filter: a case-insensitive substring, or with `use_regex=true` a case-insensitive regular expression. */
function nameFilter(name: string, useRegex: boolean): (item: Item) => boolean {
  if (!useRegex) {
    const wanted = name.toLowerCase();
    return (item) => String(item.name).toLowerCase().includes(wanted);
  }
  let regex: RegExp;
  try {
    regex = new RegExp(name, 'i');
  } catch (error) {
    throw badRequest(`name ${JSON.stringify(name)} is not a valid regular expression (${(error as Error).message})`);
  }
  return (item) => regex.test(String(item.name));
}

function integer(text: string): number | undefined {
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** A field by its dotted path (`message_stats.publish`), or undefined. */
function pick(item: Item, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Item)[key];
  }
  return value;
}

/** The columns asked for, nested ones (`queue.name`) kept nested, as RabbitMQ's `columns`. */
function only(item: Item, columns: string[]): Item {
  const out: Item = {};
  for (const column of columns) {
    const value = pick(item, column);
    if (value === undefined) continue;
    const keys = column.split('.');
    let target = out;
    for (const key of keys.slice(0, -1)) target = (target[key] ??= {}) as Item;
    target[keys.at(-1) as string] = value;
  }
  return out;
}

/** Numbers by value, everything else by its text; missing values first. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const left = String(a);
  const right = String(b);
  return left < right ? -1 : left > right ? 1 : 0;
}
