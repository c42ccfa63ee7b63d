import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aligned, tabSeparated } from '../../src/admin/table.js';
import { ADMIN, api as managementApi, hasScript, RawClient, runCli, runCliOnTerminal, startBroker, type RunningBroker } from './harness.js';

// docs/admin-cli.md through the real processes: the broker on a free port, and `warren list`,
// `definitions`, `queue`, `policy` and `close-connection` run as a person runs them.

const SECRET = 'an-admin-cli-secret-of-at-least-32-bytes';

type Json = Record<string, unknown>;

/** The management API itself, as the administrator, to set things up and to check what a command did. */
const api = (broker: RunningBroker, path: string, method = 'GET', body?: unknown) => managementApi(broker, path, { user: ADMIN, method, body });

async function declareQueue(broker: RunningBroker, name: string, messages = 0): Promise<void> {
  expect((await api(broker, `/api/queues/%2F/${encodeURIComponent(name)}`, 'PUT', { durable: true })).status).toBeLessThan(300);
  for (let i = 0; i < messages; i++) {
    const body = { routing_key: name, payload: `m${i}`, payload_encoding: 'string', properties: {} };
    expect(await api(broker, '/api/exchanges/%2F/amq.default/publish', 'POST', body)).toMatchObject({ status: 200, body: { routed: true } });
  }
}

const queueOf = async (broker: RunningBroker, name: string) => (await api(broker, `/api/queues/%2F/${encodeURIComponent(name)}`)).body as Json;

/** The CLI as the administrator, against `broker`. */
/**
 * `value` with every `{ rate }` set to 0: a rate is over a sliding window, so two reads a CLI
 * process apart may differ (0.4 then 0 was seen on a slow machine) while all else is the same.
 */
const withoutRates = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value), (key, field: unknown) => (key === 'rate' && typeof field === 'number' ? 0 : field));

const credentials = (broker: RunningBroker) => ['--url', `http://127.0.0.1:${broker.port}`, '--username', ADMIN[0], '--password', ADMIN[1]];
const admin = (broker: RunningBroker, ...args: string[]) => runCli([...args, ...credentials(broker)]);

/** A port nobody listens on: a command that made a request there would fail with "connection refused". */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A native client logged in as the administrator. */
async function adminClient(broker: RunningBroker): Promise<RawClient> {
  const client = await RawClient.open(broker.url);
  await client.request({ op: 'connect', version: 1, username: ADMIN[0], password: ADMIN[1], clientName: 'admin-cli-test' });
  return client;
}

const tempFile = (name: string) => join(mkdtempSync(join(tmpdir(), 'warren-admin-cli-')), name);

describe('admin cli - against a broker', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ users: [{ username: ADMIN[0], password: ADMIN[1] }], auth: { jwt: { secret: SECRET } } });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('admin cli - list queues piped prints a header and tab-separated rows; --json the API list as it came', async () => {
    await declareQueue(broker, 'listed', 2);
    const table = await admin(broker, 'list', 'queues');
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toBe('vhost\tname\ttype\tmessages_ready\tmessages_unacknowledged\tconsumers\tpolicy');
    expect(lines).toContain('/\tlisted\tclassic\t2\t0\t0\t');
    expect(table.stdout.endsWith('\n')).toBe(true);

    const json = await admin(broker, 'list', 'queues', '--json');
    expect(json.code).toBe(0);
    expect(withoutRates(JSON.parse(json.stdout))).toEqual(withoutRates((await api(broker, '/api/queues')).body));
    expect(json.stdout).toMatch(/^\[\n {2}\{\n {4}"name"/);

    const inVhost = await admin(broker, 'list', 'queues', '--vhost', '/', '--json');
    expect(withoutRates(JSON.parse(inVhost.stdout))).toEqual(withoutRates((await api(broker, '/api/queues/%2F')).body));
    const vhosts = await admin(broker, 'list', 'vhosts', '--vhost', '/');
    expect(vhosts.stdout.split('\n')[0]).toBe('name\tmessages');
    expect(vhosts.stdout.split('\n')[1]).toMatch(/^\/\t\d+$/);
  });

  it('admin cli - list exchanges, bindings and users; users are not per vhost', async () => {
    await declareQueue(broker, 'bound');
    const exchanges = await admin(broker, 'list', 'exchanges');
    expect(exchanges.stdout.split('\n')).toEqual(expect.arrayContaining(['vhost\tname\ttype\tdurable', '/\tamq.topic\ttopic\ttrue']));
    const bindings = await admin(broker, 'list', 'bindings', '--vhost', '/');
    expect(bindings.stdout.split('\n')).toEqual(expect.arrayContaining(['vhost\tsource\tdestination\tdestination_type\trouting_key', '/\t\tbound\tqueue\tbound']));
    const users = await admin(broker, 'list', 'users');
    expect(users.stdout).toBe('name\ttags\nadmin\tadministrator\n');
    const perVhost = await admin(broker, 'list', 'users', '--vhost', '/');
    expect(perVhost.code).toBe(1);
    expect(perVhost.stderr).toBe('warren: users are not per vhost: list users without --vhost\n');
  });

  it('admin cli - list connections and consumers shows a live client; close-connection closes it with the reason', async () => {
    await declareQueue(broker, 'watched');
    const client = await adminClient(broker);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    try {
      const consumed = await client.request({ op: 'consume', queue: 'watched', prefetch: 7 });
      const listed = await admin(broker, 'list', 'connections', '--json');
      expect(listed.code).toBe(0);
      const [connection] = JSON.parse(listed.stdout) as Json[];
      const name = connection.name as string;
      expect(name).toMatch(/^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);

      const connections = await admin(broker, 'list', 'connections', '--vhost', '/');
      expect(connections.stdout).toBe(`name\tuser\tvhost\tprotocol\n${name}\tadmin\t/\tWarren/JSON\n`);
      const consumers = await admin(broker, 'list', 'consumers');
      expect(consumers.stdout).toBe(`vhost\tqueue\tconsumer_tag\tconnection\tack_required\tprefetch_count\n/\twatched\t${consumed.consumerTag as string}\t${name}\ttrue\t7\n`);

      const result = await admin(broker, 'close-connection', name, '--reason', 'maintenance window');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`closed connection "${name}"\n`);
      expect(await closed).toEqual({ code: 4320, reason: 'maintenance window' });

      const again = await admin(broker, 'close-connection', name);
      expect(again.code).toBe(1);
      expect(again.stderr).toBe('warren: 404 Object Not Found: Not Found\n');
    } finally {
      client.close();
    }
  });

  it('admin cli - queue purge drops the ready messages', async () => {
    await declareQueue(broker, 'to-purge', 3);
    const result = await admin(broker, 'queue', 'purge', 'to-purge');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('purged queue "to-purge" in vhost "/"\n');
    expect(await queueOf(broker, 'to-purge')).toMatchObject({ messages_ready: 0 });
  });

  it('admin cli - queue delete --if-empty refuses a queue with messages, with the API reason; without it the queue goes', async () => {
    await declareQueue(broker, 'full', 1);
    const refused = await admin(broker, 'queue', 'delete', 'full', '--if-empty');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^warren: 400 bad_request: queue "full" has 1 ready messages.*\n$/);
    expect(await queueOf(broker, 'full')).toMatchObject({ name: 'full', messages_ready: 1 });

    const deleted = await admin(broker, 'queue', 'delete', 'full', '--if-unused');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('deleted queue "full" in vhost "/"\n');
    expect((await api(broker, '/api/queues/%2F/full')).status).toBe(404);
  });

  it('admin cli - a ws:// URL, as publish and consume take, reaches the API on the same port', async () => {
    const result = await runCli(['list', 'vhosts', '--url', broker.url, '--user', ADMIN[0], '--password', ADMIN[1]]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^name\tmessages\n\/\t\d+\n$/);
  });

  it('admin cli - a token from $WARREN_TOKEN is sent as Bearer; --username wins over it', async () => {
    const token = await new SignJWT({ sub: 'ann', aud: 'warren', scope: 'warren.tag:administrator' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    const url = `http://127.0.0.1:${broker.port}`;
    // runCli's child inherits this process's environment as it is when it is spawned.
    process.env.WARREN_TOKEN = token;
    const withToken = runCli(['list', 'users', '--url', url]);
    const withUser = runCli(['list', 'users', '--url', url, '--user', 'admin', '--password', 'wrong']);
    delete process.env.WARREN_TOKEN;
    expect(await withToken).toMatchObject({ code: 0, stdout: 'name\ttags\nadmin\tadministrator\n' });
    expect(await withUser).toMatchObject({ code: 1, stderr: 'warren: 401 not_authorized: access refused: unknown user or wrong password\n' });
    const both = await runCli(['list', 'users', '--url', url, '--token', token, '--user', 'admin']);
    expect(both).toMatchObject({ code: 1, stderr: 'warren: give --token or --username/--password, not both\n' });
  });

  it('admin cli - a wrong password exits 1 with the API refusal on one line', async () => {
    const result = await runCli(['list', 'queues', '--url', `http://127.0.0.1:${broker.port}`, '--user', 'admin', '--password', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('warren: 401 not_authorized: access refused: unknown user or wrong password\n');
  });

  it('admin cli - definitions export writes the export to FILE or stdout; a broker started from it has the queue', async () => {
    await declareQueue(broker, 'kept');
    const file = tempFile('definitions.json');
    const toFile = await admin(broker, 'definitions', 'export', file);
    expect(toFile.stderr).toBe('');
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe(`exported the definitions of every vhost to ${file}\n`);
    const exported = JSON.parse(readFileSync(file, 'utf8')) as { queues: Json[] };
    expect(exported).toEqual((await api(broker, '/api/definitions')).body);
    expect(exported.queues).toContainEqual(expect.objectContaining({ name: 'kept', vhost: '/', durable: true }));
    const toStdout = await admin(broker, 'definitions', 'export');
    expect(JSON.parse(toStdout.stdout)).toEqual(exported);
    const oneVhost = await admin(broker, 'definitions', 'export', '--vhost', '/');
    expect(JSON.parse(oneVhost.stdout)).toEqual((await api(broker, '/api/definitions/%2F')).body);

    // The export holds the config's admin user, so the second broker needs no users of its own.
    const second = await startBroker({}, ['--definitions', file]);
    try {
      const listed = await admin(second, 'list', 'queues', '--json');
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ name: 'kept', durable: true }));
    } finally {
      await second.stop();
    }
  });

  it('admin cli - definitions import brings back a deleted queue', async () => {
    await declareQueue(broker, 'restored');
    const file = tempFile('definitions.json');
    expect((await admin(broker, 'definitions', 'export', file)).code).toBe(0);
    expect((await admin(broker, 'queue', 'delete', 'restored')).code).toBe(0);
    expect((await api(broker, '/api/queues/%2F/restored')).status).toBe(404);
    const imported = await admin(broker, 'definitions', 'import', file);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toBe(`imported the definitions in ${file}\n`);
    expect(await queueOf(broker, 'restored')).toMatchObject({ name: 'restored', durable: true });
  });

  it('admin cli - queue move moves the first --count ready messages, then the rest', async () => {
    await declareQueue(broker, 'move-from', 5);
    await declareQueue(broker, 'move-to');
    const some = await admin(broker, 'queue', 'move', '--from', 'move-from', '--to', 'move-to', '--count', '2');
    expect(some.stderr).toBe('');
    expect(some.code).toBe(0);
    expect(some.stdout).toBe('moved 2 message(s) from move-from to move-to\n');
    expect(await queueOf(broker, 'move-from')).toMatchObject({ messages_ready: 3 });
    expect(await queueOf(broker, 'move-to')).toMatchObject({ messages_ready: 2 });
    const rest = await admin(broker, 'queue', 'move', '--from', 'move-from', '--to', 'move-to');
    expect(rest).toMatchObject({ code: 0, stdout: 'moved 3 message(s) from move-from to move-to\n' });
    expect(await queueOf(broker, 'move-from')).toMatchObject({ messages_ready: 0 });
    expect(await queueOf(broker, 'move-to')).toMatchObject({ messages_ready: 5 });
    const missing = await admin(broker, 'queue', 'move', '--from', 'move-from', '--to', 'no-such-queue');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^warren: 40\d /);
  });

  it('admin cli - queue move goes in batches of 10,000, so that no request holds the broker long, and moves what the queue held when it started', async () => {
    await declareQueue(broker, 'big-from');
    await declareQueue(broker, 'big-to');
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: ADMIN[0], password: ADMIN[1] });
    for (let i = 0; i < 25_000; i++) client.send({ op: 'publish', id: 100 + i, exchange: '', routingKey: 'big-from', payload: i });
    await client.waitFor((frame) => frame.id === 100 + 24_999, 20_000);
    client.socket.close();
    const moved = await admin(broker, 'queue', 'move', '--from', 'big-from', '--to', 'big-to');
    expect(moved).toMatchObject({ code: 0, stdout: 'moved 25000 message(s) from big-from to big-to\n' });
    // Not a terminal: no progress line.
    expect(moved.stderr).toBe('');
    expect(await queueOf(broker, 'big-to')).toMatchObject({ messages_ready: 25_000 });
    const requests = broker.logs.filter((line) => line.msg === 'messages moved' && line.queue === 'big-from');
    expect(requests.map((line) => line.moved)).toEqual([10_000, 10_000, 5_000]);
    if (!hasScript) return;
    // On a terminal: a progress line after each batch, rewritten in place.
    const back = await runCliOnTerminal(['queue', 'move', '--from', 'big-to', '--to', 'big-from', ...credentials(broker)]);
    expect(back.code).toBe(0);
    expect(back.output).toContain('\rmoved 10000 of 25000 message(s)...');
    expect(back.output).toContain('\rmoved 25000 of 25000 message(s)...');
    expect(back.output).toMatch(/moved 25000 message\(s\) from big-to to big-from\r?\n$/);
  });

  it.skipIf(!hasScript)('admin cli - definitions import on a terminal says what it imports and for how long, while the broker applies it', async () => {
    const file = tempFile('many.json');
    const queues = Array.from({ length: 3000 }, (_, i) => ({ name: `imported-${i}`, vhost: '/', durable: true, auto_delete: false, arguments: {} }));
    writeFileSync(file, JSON.stringify({ queues }));
    const result = await runCliOnTerminal(['definitions', 'import', file, ...credentials(broker)]);
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/\rimporting 3,000 queues \(0\.\d MiB\): \d+\.\d s\.\.\./);
    expect(result.output).toContain(`imported the definitions in ${file}`);
    expect(await api(broker, '/api/queues/%2F/imported-2999')).toMatchObject({ status: 200 });
  });

  it('admin cli - policy set shows in list policies; policy clear removes it', async () => {
    const set = await admin(broker, 'policy', 'set', 'ttl', '--pattern', '^orders\\.', '--definition', '{"message-ttl": 60000}', '--priority', '5', '--apply-to', 'queues');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('set policy "ttl" in vhost "/"\n');
    const listed = await admin(broker, 'list', 'policies', '--json');
    expect(JSON.parse(listed.stdout)).toContainEqual(
      expect.objectContaining({ vhost: '/', name: 'ttl', pattern: '^orders\\.', 'apply-to': 'queues', priority: 5, definition: { 'message-ttl': 60000 } }),
    );
    const table = await admin(broker, 'list', 'policies', '--vhost', '/');
    expect(table.stdout.split('\n')).toEqual(
      expect.arrayContaining(['vhost\tname\tpattern\tapply-to\tpriority\tdefinition', '/\tttl\t^orders\\\\.\tqueues\t5\t{"message-ttl":60000}']),
    );
    const cleared = await admin(broker, 'policy', 'clear', 'ttl');
    expect(cleared).toMatchObject({ code: 0, stdout: 'cleared policy "ttl" in vhost "/"\n' });
    expect(JSON.parse((await admin(broker, 'list', 'policies', '--json')).stdout)).not.toContainEqual(expect.objectContaining({ name: 'ttl' }));
    const again = await admin(broker, 'policy', 'clear', 'ttl');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('warren: 404 Object Not Found: Not Found\n');
  });
});

describe('admin cli - mistakes', () => {
  it('admin cli - a broker that is not running is one line naming the URL, exit 1', async () => {
    const port = await closedPort();
    const result = await runCli(['list', 'queues', '--url', `ws://127.0.0.1:${port}/ws`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`warren: cannot connect to the broker at http://127.0.0.1:${port}: connection refused; is it running, and is --url right?\n`);
  });

  it('admin cli - bad arguments are refused before any request (the URL has no broker, so a request would say so)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const refused = async (args: string[], message: RegExp) => {
      const result = await runCli([...args, '--url', url]);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toMatch(/cannot connect/);
    };
    const notJson = tempFile('broken.json');
    writeFileSync(notJson, '{"queues": [');
    const notObject = tempFile('array.json');
    writeFileSync(notObject, '[]');
    const cases: [string[], RegExp][] = [
      [['policy', 'set', 'p', '--pattern', '.', '--definition', '{"max-length":'], /^warren: --definition is not JSON \(.*\); give an object/],
      [['policy', 'set', 'p', '--pattern', '.', '--definition', '[1, 2]'], /^warren: --definition must be a JSON object/],
      [['policy', 'set', 'p', '--pattern', '.', '--definition', '{}', '--priority', 'high'], /^warren: --priority takes a whole number \(got "high"\)/],
      [['policy', 'set', 'p', '--pattern', '.', '--definition', '{}', '--apply-to', 'streams'], /apply-to/],
      [['queue', 'move', '--from', 'a', '--to', 'b', '--count', '0'], /^warren: --count takes a whole number above 0 \(got "0"\)/],
      [['queue', 'move', '--from', 'a', '--to', 'b', '--count', '2.5'], /^warren: --count takes a whole number above 0/],
      [['queue', 'purge', 'q', '--vhost', 'a', '--vhost', 'b'], /^warren: --vhost is given more than once/],
      [['close-connection', 'c', '--reason', 'two\nlines'], /^warren: --reason goes in an HTTP header/],
      [['queue'], /^warren: name a queue command: purge, delete or move/],
      [['list', 'nodes'], /Invalid values/],
      [['definitions', 'import', notJson], /^warren: .*broken\.json is not JSON \(.*\); give a definitions export\n$/],
      [['definitions', 'import', notObject], /^warren: .*array\.json is not a definitions export: a JSON object is expected\n$/],
      [['definitions', 'import', tempFile('missing.json')], /^warren: cannot read .*missing\.json: ENOENT/],
    ];
    for (const [args, message] of cases) await refused(args, message);

    const bad = await runCli(['list', 'queues', '--url', 'ftp://127.0.0.1']);
    expect(bad).toMatchObject({ code: 1, stderr: 'warren: --url "ftp://127.0.0.1" is not an http://, https://, ws:// or wss:// URL\n' });
  });

  it('admin cli - --help lists the admin commands with one line each', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['list <what>', 'definitions', 'queue', 'policy', 'close-connection <name>']) {
      expect(help.stdout).toMatch(new RegExp(`warren ${command}\\s+\\S`));
    }
    const queue = await runCli(['queue', '--help']);
    expect(queue.stdout).toMatch(/warren queue purge <name>/);
    expect(queue.stdout).toMatch(/warren queue move/);
  });
});

describe('admin cli - tables', () => {
  const table = { headers: ['name', 'n'], rows: [['a', '1'], ['longer\tname', ''], ['back\\slash', '22']] };

  it('admin cli - a terminal gets columns padded to the widest cell, without trailing spaces', () => {
    expect(aligned(table)).toBe('name          n\na             1\nlonger\\tname\nback\\slash    22\n');
  });

  it('admin cli - a pipe gets tab-separated lines, tabs, newlines and backslashes escaped as mysql --batch does', () => {
    expect(tabSeparated(table)).toBe('name\tn\na\t1\nlonger\\tname\t\nback\\\\slash\t22\n');
  });
});
