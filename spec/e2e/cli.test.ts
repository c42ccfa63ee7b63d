import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, RawClient, runCli, spawnCli, startBroker, type RunningBroker } from './harness.js';
import { ARGON2_AVAILABLE, verifyPassword } from '../../src/auth/passwords.js';

const shippedConfig = fileURLToPath(new URL('../../config/broker.json', import.meta.url));
// A spawned CLI's start-up and subscribe: `eventually`'s 5 s ran out once in CI on this 2-core
// machine, with neighbouring tests taking 4-7 s each.
const CLI_SUBSCRIBED_MS = 15_000;

describe('cli - with the shipped config', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker(shippedConfig);
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('cli - publish to notifications reaches `consume --queue email`, which acks it', async () => {
    const consumer = runCli(['consume', '--url', broker.url, '--queue', 'email', '--count', '1']);
    // The consumer may subscribe after the publish: the message waits in the queue either way.
    const published = await runCli(['publish', '--url', broker.url, '--exchange', 'notifications', '--routing-key', 'user.42.email', '--payload', '{"text":"hi"}']);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    expect(published.stdout).toMatch(/published 1 message/);
    const consumed = await consumer;
    expect(consumed.code).toBe(0);
    const line = JSON.parse(consumed.stdout.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ exchange: 'notifications', routingKey: 'user.42.email', payload: { text: 'hi' }, redelivered: false });
    const watcher = await RawClient.connected(broker.url);
    expect(await watcher.request({ op: 'queue.declare', queue: 'email', passive: true })).toMatchObject({ messageCount: 0, consumerCount: 0 });
    watcher.close();
  });

  it('cli - the shipped topology dead-letters a rejected notification into notifications.dead', async () => {
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'publish', exchange: 'notifications', routingKey: 'user.7.sms', payload: 'fail me' });
    const got = await client.request({ op: 'get', queue: 'sms' });
    client.send({ op: 'reject', deliveryTag: (got.message as { deliveryTag: number }).deliveryTag, requeue: false });
    const dead = await client.request({ op: 'get', queue: 'notifications.dead', noAck: true });
    expect(dead.message).toMatchObject({ payload: 'fail me', headers: { 'x-first-death-queue': 'sms', 'x-first-death-reason': 'rejected' } });
    client.close();
  });

  it('cli - a publish to a missing exchange fails with the reason and a non-zero exit', async () => {
    const result = await runCli(['publish', '--url', broker.url, '--exchange', 'nope', '--payload', '1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/exchange "nope" does not exist/);
  });
});

describe('cli - consume and publish lose nothing and say what went wrong', () => {
  let broker: RunningBroker;
  let watcher: RawClient;
  const ready = async (queue: string) => (await watcher.request({ op: 'queue.declare', queue, passive: true })).messageCount as number;
  const fill = async (queue: string, count: number) => {
    await watcher.request({ op: 'queue.declare', queue, durable: false });
    for (let i = 1; i <= count; i++) await watcher.request({ op: 'publish', exchange: '', routingKey: queue, payload: i });
  };
  beforeAll(async () => {
    broker = await startBroker();
    watcher = await RawClient.connected(broker.url);
  });
  afterAll(async () => {
    watcher.close();
    await broker.stop();
  });

  it('cli - consume --count 1 prints and acks one message and leaves the rest in the queue, whatever the prefetch', async () => {
    await fill('five', 5);
    const one = await runCli(['consume', '--url', broker.url, '--queue', 'five', '--count', '1']);
    expect(one.code).toBe(0);
    expect(one.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { payload: unknown }).payload)).toEqual([1]);
    await eventually(async () => (await ready('five')) === 4, 'four messages are back in "five"');
    const two = await runCli(['consume', '--url', broker.url, '--queue', 'five', '--count', '2', '--prefetch', '100']);
    expect(two.stdout.trim().split('\n')).toHaveLength(2);
    await eventually(async () => (await ready('five')) === 2, 'two messages are left in "five"');
  });

  it('cli - consume whose stdout reader went away exits 0 quietly and acks nothing it could not write', async () => {
    await fill('piped', 0);
    const child = spawnCli(['consume', '--url', broker.url, '--queue', 'piped']);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // As `| head` does once it has what it wants: the read end closes before anything is written.
    child.stdout!.destroy();
    await eventually(async () => (await watcher.request({ op: 'queue.declare', queue: 'piped', passive: true })).consumerCount === 1, 'the consumer is subscribed', CLI_SUBSCRIBED_MS);
    for (let i = 1; i <= 3; i++) await watcher.request({ op: 'publish', exchange: '', routingKey: 'piped', payload: i });
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    await eventually(async () => (await ready('piped')) === 3, 'the three messages are back in "piped"');
  });

  for (const [signal, said] of [
    ['SIGTERM', /the broker is shutting down \(close code 1001\)/],
    ['SIGKILL', /the connection to the broker was lost/],
  ] as const) {
    it(`cli - consume exits 1 with a reason when the broker goes away (${signal})`, async () => {
      const own = await startBroker();
      const client = await RawClient.connected(own.url);
      await client.request({ op: 'queue.declare', queue: 'gone', durable: false });
      const child = spawnCli(['consume', '--url', own.url, '--queue', 'gone']);
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await eventually(async () => (await client.request({ op: 'queue.declare', queue: 'gone', passive: true })).consumerCount === 1, 'the consumer is subscribed', CLI_SUBSCRIBED_MS);
      client.close();
      await own.stop(signal);
      expect(await exited).toBe(1);
      expect(stderr).toMatch(said);
    });
  }

  it('cli - publish exits 1 when a message reaches no queue, and --no-mandatory drops it as asked', async () => {
    const lost = await runCli(['publish', '--url', broker.url, '--routing-key', 'no-such-queue', '--payload', '1', '--count', '3']);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toBe('');
    expect(lost.stderr).toMatch(/3 of 3 message\(s\) to exchange "" with routing key "no-such-queue" reached no queue/);
    const dropped = await runCli(['publish', '--url', broker.url, '--routing-key', 'no-such-queue', '--payload', '1', '--no-mandatory']);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toMatch(/published 1 message\(s\)/);
  });

  it('cli - publish refuses a count that is not a positive integer, and broken JSON unless --string', async () => {
    await fill('texts', 0);
    for (const count of ['abc', '0', '-1', '1.5']) {
      const result = await runCli(['publish', '--url', broker.url, '--routing-key', 'texts', '--payload', '1', '--count', count]);
      expect(result.code, count).toBe(1);
      expect(result.stderr).toMatch(/--count takes a whole number above 0/);
    }
    const broken = await runCli(['publish', '--url', broker.url, '--routing-key', 'texts', '--payload', '{"text":hi}']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/--payload looks like JSON but does not parse .*pass --string/);
    expect(await ready('texts')).toBe(0);
    const asText = await runCli(['publish', '--url', broker.url, '--routing-key', 'texts', '--payload', '{"text":hi}', '--string']);
    expect(asText.code).toBe(0);
    const plain = await runCli(['publish', '--url', broker.url, '--routing-key', 'texts', '--payload', 'just words']);
    expect(plain.code).toBe(0);
    const got = await runCli(['consume', '--url', broker.url, '--queue', 'texts', '--count', '2']);
    expect(got.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { payload: unknown }).payload)).toEqual(['{"text":hi}', 'just words']);
  });
});

describe('cli - bad input', () => {
  it('cli - an invalid config exits non-zero naming the JSON path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-cli-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ server: { port: 'abc' }, definitions: { queues: [{ name: 'amq.q' }] } }));
    const result = await runCli(['serve', '--config', file, '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/server\.port/);
    expect(result.stderr).toMatch(/definitions\.queues\[0\]\.name/);
  });

  it('cli - definitions the broker refuses exit non-zero naming the definition', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-cli-'));
    const file = join(dir, 'defs.json');
    writeFileSync(file, JSON.stringify({ queues: [{ name: 'q', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-max-length': -5 } }] }));
    const result = await runCli(['serve', '--definitions', file, '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/definitions\.queues\[0\].*x-max-length/);
  });

  it('cli - unknown commands and options are refused with a pointer to --help', async () => {
    const result = await runCli(['serve', '--colour', 'red']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/colour/);
    const help = await runCli(['publish', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--routing-key/);
    const twice = await runCli(['serve', '--port', '1', '--port', '2']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/--port is given more than once/);
  });

  it('cli - a second broker on a taken port exits with a clear error, and leaves its data dir unlocked', async () => {
    const first = await startBroker();
    try {
      const dataDir = join(mkdtempSync(join(tmpdir(), 'warren-cli-')), 'data');
      const result = await runCli(['serve', '--port', String(first.port), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/the address is in use; stop the other process or pass another --port/);
      expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
    } finally {
      await first.stop();
    }
  });

  it('cli - SIGTERM closes client sockets with 1001 and exits 0', async () => {
    const broker = await startBroker();
    const client = await RawClient.connected(broker.url);
    await client.request({ op: 'queue.declare', queue: 'q', durable: false });
    expect(await broker.stop('SIGTERM')).toBe(0);
    expect(await client.waitForClose()).toBe(1001);
  });
});

describe('cli - hash-password', () => {
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  // runCli gives the child no stdin, and the password is meant to come from there.
  const hashWithStdin = (input: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });

  it('cli - hash-password reads the password from stdin and prints only a hash that verifies: argon2id where Node has it, scrypt otherwise', async () => {
    const result = await hashWithStdin('s3cret pass\n');
    expect(result.code).toBe(0);
    const algorithm = ARGON2_AVAILABLE ? 'warren_password_hashing_argon2id' : 'warren_password_hashing_scrypt';
    expect(result.stdout).toMatch(ARGON2_AVAILABLE ? /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[^$\s]+\$[^$\s]+\n$/ : /^\$scrypt\$ln=17,r=8,p=1\$[^$\s]+\$[^$\s]+\n$/);
    const hash = result.stdout.trim();
    expect(await verifyPassword('s3cret pass', hash, algorithm)).toBe(true);
    expect(await verifyPassword('s3cret pass\n', hash, algorithm)).toBe(false);
    expect(result.stderr).toContain(`"hashing_algorithm":"${algorithm}"`);
  });

  it('cli - hash-password refuses an empty password with a non-zero exit', async () => {
    const result = await hashWithStdin('\n');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/the password is empty/);
    const flag = await runCli(['hash-password', '--password', '']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/the password is empty/);
  });
});
