import { readFile, writeFile } from 'node:fs/promises';
import { headerText, integer, jsonObject, positiveInteger } from './arguments.js';
import { LISTINGS, tableOf, type Listable } from './lists.js';
import { AdminError, apiPath, type ManagementClient } from './management-client.js';
import { aligned, tabSeparated } from './table.js';

// What each admin command does over the management API (docs/admin-cli.md). Each returns the text
// for stdout; it throws AdminError, with nothing printed, when an argument or the API refuses.

/** `vhost` for the commands that work in one vhost: "/" unless given. */
const DEFAULT_VHOST = '/';

const pretty = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** `warren list <what>`: the API's JSON as it came, or its table, aligned for a terminal or tab-separated for a pipe. */
export async function list(api: ManagementClient, what: Listable, options: { vhost?: string; json: boolean; tty: boolean }): Promise<string> {
  const answer = await api.request('GET', LISTINGS[what].path(options.vhost));
  // `/api/vhosts/{vhost}` answers the one vhost: a list of one, so that the output is always a list.
  const rows: unknown[] = Array.isArray(answer) ? answer : answer === undefined ? [] : [answer];
  if (options.json) return pretty(rows);
  const table = tableOf(what, rows);
  return options.tty ? aligned(table) : tabSeparated(table);
}

const definitionsPath = (vhost: string | undefined) => (vhost === undefined ? apiPath('definitions') : apiPath('definitions', vhost));

/** `warren definitions export [FILE]`: the export, pretty-printed, to FILE or else stdout. */
export async function exportDefinitions(api: ManagementClient, options: { file?: string; vhost?: string }): Promise<string> {
  const text = pretty(await api.request('GET', definitionsPath(options.vhost)));
  if (options.file === undefined) return text;
  await writeFile(options.file, text).catch((error: Error) => {
    throw new AdminError(`cannot write ${options.file}: ${error.message}`);
  });
  return `exported the definitions of ${options.vhost === undefined ? 'every vhost' : `vhost "${options.vhost}"`} to ${options.file}\n`;
}

/** `warren definitions import FILE`: the file's JSON object, checked before it is sent. */
/**
 * `warren definitions import FILE`. The broker applies a file all or nothing, in one request, so
 * `progress` hears what is being imported and the time it has taken so far, twice a second.
 */
export async function importDefinitions(api: ManagementClient, options: { file: string; vhost?: string }, progress: (line: string) => void = () => {}): Promise<string> {
  const text = await readFile(options.file, 'utf8').catch((error: Error) => {
    throw new AdminError(`cannot read ${options.file}: ${error.message}`);
  });
  let definitions: unknown;
  try {
    definitions = JSON.parse(text);
  } catch (error) {
    throw new AdminError(`${options.file} is not JSON (${(error as Error).message}); give a definitions export`);
  }
  if (typeof definitions !== 'object' || definitions === null || Array.isArray(definitions)) {
    throw new AdminError(`${options.file} is not a definitions export: a JSON object is expected`);
  }
  const started = Date.now();
  const what = `importing ${describeDefinitions(definitions as Record<string, unknown>)} (${(Buffer.byteLength(text) / 1024 / 1024).toFixed(1)} MiB)`;
  const tell = () => progress(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s...`);
  tell();
  const ticking = setInterval(tell, 500);
  try {
    await api.request('POST', definitionsPath(options.vhost), { body: text });
  } finally {
    clearInterval(ticking);
  }
  return `imported the definitions in ${options.file}${options.vhost === undefined ? '' : ` into vhost "${options.vhost}"`}\n`;
}

/** "3 vhosts, 10,000 queues, 20,000 bindings": what a definitions document holds, by kind. */
function describeDefinitions(definitions: Record<string, unknown>): string {
  const kinds = Object.entries(definitions).filter((entry): entry is [string, unknown[]] => Array.isArray(entry[1]) && entry[1].length > 0);
  return kinds.length === 0 ? 'nothing' : kinds.map(([kind, list]) => `${list.length.toLocaleString('en')} ${kind}`).join(', ');
}

/** `warren queue purge NAME`: the queue's ready messages are dropped. */
export async function purgeQueue(api: ManagementClient, options: { name: string; vhost?: string }): Promise<string> {
  const vhost = options.vhost ?? DEFAULT_VHOST;
  await api.request('DELETE', apiPath('queues', vhost, options.name, 'contents'));
  return `purged queue "${options.name}" in vhost "${vhost}"\n`;
}

/** `warren queue delete NAME`, refused by the broker while `--if-empty` or `--if-unused` does not hold. */
export async function deleteQueue(api: ManagementClient, options: { name: string; vhost?: string; ifEmpty: boolean; ifUnused: boolean }): Promise<string> {
  const vhost = options.vhost ?? DEFAULT_VHOST;
  const query: Record<string, string> = {};
  if (options.ifEmpty) query['if-empty'] = 'true';
  if (options.ifUnused) query['if-unused'] = 'true';
  await api.request('DELETE', apiPath('queues', vhost, options.name), { query });
  return `deleted queue "${options.name}" in vhost "${vhost}"\n`;
}

/**
 * Messages per move request: the broker moves a request's messages in one go, so a bounded batch
 * keeps it from holding its event loop (and every other client) for long, and lets a person see
 * progress.
 */
export const MOVE_BATCH = 10_000;

/**
 * `warren queue move --from Q --to Q2 [--count N]`: ready messages of Q go to Q2, the first N or
 * (without --count) as many as Q holds when the move starts, so that a queue still being filled
 * does not keep it going; MOVE_BATCH at a time; `progress` hears the count after each batch.
 */
export async function moveMessages(
  api: ManagementClient,
  options: { from: string; to: string; count?: string; vhost?: string },
  progress: (line: string) => void = () => {},
): Promise<string> {
  const count = options.count === undefined ? undefined : positiveInteger('count', options.count);
  const vhost = options.vhost ?? DEFAULT_VHOST;
  const path = apiPath('queues', vhost, options.from, 'move');
  const ready = async () => ((await api.request('GET', apiPath('queues', vhost, options.from))) as { messages_ready?: number }).messages_ready ?? 0;
  const wanted = count ?? (await ready());
  // Said now, even with nothing to move: the destination must exist (404 otherwise).
  await api.request('GET', apiPath('queues', vhost, options.to));
  let moved = 0;
  while (moved < wanted) {
    const batch = Math.min(MOVE_BATCH, wanted - moved);
    const answer = await api.request('POST', path, { body: JSON.stringify({ destination: options.to, count: batch }) });
    const done = (answer as { moved?: unknown } | undefined)?.moved;
    if (typeof done !== 'number') throw new AdminError(`the broker answered the move without a count of messages moved: ${JSON.stringify(answer)}`);
    moved += done;
    progress(`moved ${moved} of ${wanted} message(s)...`);
    // Fewer than asked: the source is empty, or the destination is full and refuses more.
    if (done < batch) break;
  }
  return `moved ${moved} message(s) from ${options.from} to ${options.to}\n`;
}

/** `warren policy set NAME`: RabbitMQ's policy body; the broker's defaults for what is not given. */
export async function setPolicy(
  api: ManagementClient,
  options: { name: string; vhost?: string; pattern: string; definition: string; priority?: string; applyTo?: string },
): Promise<string> {
  const definition = jsonObject('definition', options.definition);
  const priority = options.priority === undefined ? undefined : integer('priority', options.priority);
  const vhost = options.vhost ?? DEFAULT_VHOST;
  const body = JSON.stringify({
    pattern: options.pattern,
    definition,
    ...(priority === undefined ? {} : { priority }),
    ...(options.applyTo === undefined ? {} : { 'apply-to': options.applyTo }),
  });
  await api.request('PUT', apiPath('policies', vhost, options.name), { body });
  return `set policy "${options.name}" in vhost "${vhost}"\n`;
}

/** `warren policy clear NAME`. */
export async function clearPolicy(api: ManagementClient, options: { name: string; vhost?: string }): Promise<string> {
  const vhost = options.vhost ?? DEFAULT_VHOST;
  await api.request('DELETE', apiPath('policies', vhost, options.name));
  return `cleared policy "${options.name}" in vhost "${vhost}"\n`;
}

/** `warren close-connection NAME`: the broker closes it with the reason (docs/management.md, "Connections"). */
export async function closeConnection(api: ManagementClient, options: { name: string; reason?: string }): Promise<string> {
  const headers = options.reason === undefined ? undefined : { 'x-reason': headerText('reason', options.reason) };
  await api.request('DELETE', apiPath('connections', options.name), { headers });
  return `closed connection "${options.name}"\n`;
}
