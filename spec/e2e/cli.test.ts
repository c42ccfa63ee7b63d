import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, runCli, startBroker, type RunningBroker } from './harness.js';
import { ARGON2_AVAILABLE, verifyPassword } from '../../src/auth/passwords.js';

const shippedConfig = fileURLToPath(new URL('../../config/broker.json', import.meta.url));

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

  it('cli - a second broker on a taken port exits with a clear error', async () => {
    const first = await startBroker();
    try {
      const result = await runCli(['serve', '--port', String(first.port)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/the address is in use; stop the other process or pass another --port/);
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
