import { rabbitPasswordHash } from '../../src/auth/passwords.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** TLS tests make their certificate with openssl; .ci/run installs it, elsewhere they say so and skip. */
export const hasOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('SKIPPED: openssl is not installed, so the TLS tests cannot make a certificate (apt-get install openssl; .ci/run does)');
    return false;
  }
})();

/** A self-signed certificate for localhost and its key, as PEM files in a new temp dir. */
export function selfSignedCertificate(): { dir: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { dir, cert, key };
}

export interface RunningBroker {
  url: string;
  port: number;
  process: ChildProcess;
  /** The data dir it runs on: pass it as `options.dataDir` to start a broker on the same data. */
  dataDir: string;
  /** Every log line the broker printed so far. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts the built CLI on a free port with `config`: a config object (written to a temp file) or a config file's path.
 * `options.dataDir` reuses a data dir (a restart); by default each broker gets a fresh one.
 */
export async function startBroker(
  config: Record<string, unknown> | string = {},
  extraArgs: string[] = [],
  requestedPort = 0,
  options: { dataDir?: string } = {},
): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-e2e-'));
  const dataDir = options.dataDir ?? join(dir, 'data');
  let configFile = config;
  if (typeof configFile !== 'string') {
    configFile = join(dir, 'broker.json');
    writeFileSync(configFile, JSON.stringify(config));
  }
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(requestedPort), '--data-dir', dataDir, '--config', configFile, '--log-level', 'info', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'listening') resolve(entry.port as number);
      } catch {
        logs.push({ text: line });
      }
    });
    exited.then((code) => reject(new Error(`broker exited with ${code} before listening: ${stderr}`)));
  });
  const port = await listening;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    process: child,
    dataDir,
    logs,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      const code = await exited;
      running.delete(child);
      return code;
    },
  };
}

/** A management API answer: its status, headers and JSON body (undefined when empty). */
export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A request to the broker's management API (docs/management.md), as a user, with a token, or anonymously. */
export async function api(broker: RunningBroker, path: string, options: { user?: [string, string]; token?: string; method?: string; body?: unknown; rawBody?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.user) headers.authorization = `Basic ${Buffer.from(options.user.join(':')).toString('base64')}`;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`http://127.0.0.1:${broker.port}${path}`, { method: options.method ?? 'GET', headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** The administrator of ADMIN_CONFIG: user and password. */
export const ADMIN: [string, string] = ['admin', 'admin-pw'];

/** A definitions user whose password is hashed as RabbitMQ hashes it by default. */
export function definitionsUser(name: string, password: string, tags: string[]) {
  return { name, password_hash: rabbitPasswordHash(password, 'rabbit_password_hashing_sha256'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags };
}

/** A config in which ADMIN is an administrator with full permissions on "/". */
export const ADMIN_CONFIG = {
  definitions: { users: [definitionsUser(...ADMIN, ['administrator'])], permissions: [{ user: ADMIN[0], vhost: '/', configure: '.*', write: '.*', read: '.*' }] },
};

/** A list as a set, to compare exports whatever their order: its entries' JSON with sorted keys, sorted. */
export function asSet(list: unknown): string[] {
  const canonical = (value: unknown): string => {
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  };
  return (list as unknown[]).map(canonical).sort();
}

/**
 * Starts the CLI in a fresh temp dir (removed when it exits): a command that falls back on the
 * default ./data never meets the lock of a broker run from the clone (`npm start`), nor leaves one.
 */
export function spawnCli(args: string[]): ChildProcess {
  const cwd = mkdtempSync(join(tmpdir(), 'warren-cli-cwd-'));
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    rmSync(cwd, { recursive: true, force: true });
  });
  return child;
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnCli(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `script` (util-linux) gives a command a terminal, for what the CLI shows only there; elsewhere the tests say so and skip. */
export const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('SKIPPED: `script` (util-linux) is not installed, so the CLI cannot be run on a terminal for its progress lines');
    return false;
  }
})();

/** Runs the CLI on a pseudo-terminal (stdout and stderr both): its exit code and everything it wrote there. */
export function runCliOnTerminal(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  const quoted = [process.execPath, CLI, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['--quiet', '--return', '--command', quoted, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, output });
    });
  });
}

/** Polls until `check` holds, e.g. until the broker has requeued a closed consumer's messages. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export type Frame = Record<string, unknown>;

/** A bare WebSocket peer that records every frame the broker sends, array batches flattened. */
export class RawClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];
  private nextId = 1;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Frame | Frame[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) this.frames.push(frame);
      this.wake();
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  static async open(url: string, protocols?: string[]): Promise<RawClient> {
    const socket = new WebSocket(url, protocols);
    // Listen before 'open' resolves: a broker that answers at once (a limit refusal) can have its
    // frame and close arrive in the same read as the handshake.
    const client = new RawClient(socket);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return client;
  }

  /** Opens and sends `connect`. */
  static async connected(url: string): Promise<RawClient> {
    const client = await RawClient.open(url);
    await client.request({ op: 'connect', version: 1 });
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request with a fresh id and waits for its reply. */
  async request(frame: Frame): Promise<Frame> {
    const id = this.nextId++;
    this.send({ ...frame, id });
    return this.waitFor((reply) => reply.id === id && (reply.op === 'ok' || reply.op === 'error'));
  }

  /** Waits until a frame matching `predicate` has arrived (searching all frames so far) and returns it. */
  async waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode}) before the frame came`);
      if (Date.now() > deadline) throw new Error(`timed out; frames so far: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitForClose(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.closeCode;
  }

  close(): void {
    this.socket.close();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
