// Shared by scripts/soak.mjs and scripts/slow-consumers.mjs: start the built broker as its own
// process, sample its RSS, and speak the JSON frames of docs/protocol.md over `ws`.
// Everything stays on 127.0.0.1; every wait is bounded; every process started here is killed by pid.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
export const MiB = 1024 * 1024;

/** `--name value` and `--flag` parsing against a table of defaults (numbers, booleans and strings). */
export function parseArgs(argv, defaults, usage) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const key = match ? match[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase()) : undefined;
    if (!key || !(key in defaults)) throw new Error(`unknown argument ${arg}\n${usage}`);
    if (typeof defaults[key] === 'boolean') {
      options[key] = match[2] === undefined ? true : match[2] !== 'false';
      continue;
    }
    const raw = match[2] ?? argv[++i];
    if (raw === undefined) throw new Error(`${arg} needs a value`);
    if (typeof defaults[key] === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${arg} must be a non-negative number (got ${raw})`);
      options[key] = value;
    } else options[key] = raw;
  }
  return options;
}

/** Seeded PRNG (mulberry32): the same seed gives the same run of choices. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every `stepMs` until it holds or `timeoutMs` passes; resolves with whether it held. */
export async function waitFor(condition, timeoutMs, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await sleep(stepMs);
  }
  return condition();
}

/** A process's soft limit on open files (this one's by default), from /proc/<pid>/limits (null when unreadable). */
export function openFilesLimit(pid = 'self') {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return null;
  }
}

/** VmRSS of a process in bytes, or null once it is gone. */
export function readRss(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Kernel memory held by TCP buffers of this network namespace (both ends of every socket), in bytes. */
export function readTcpKernelBytes() {
  try {
    const match = /^TCP:.* mem (\d+)$/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return match ? Number(match[1]) * 4096 : null;
  } catch {
    return null;
  }
}

export const mib = (bytes) => (bytes === null || bytes === undefined ? null : Math.round((bytes / MiB) * 10) / 10);

/**
 * Samples a pid's RSS every `intervalMs`; `onSample(t, rss)` is called after each sample.
 * Returns { samples, start, peak, last, stop() }.
 */
export function sampleRss(pid, intervalMs, onSample) {
  const began = Date.now();
  const state = { samples: [], start: null, peak: 0, last: null, stop: () => clearInterval(timer) };
  const take = () => {
    const rss = readRss(pid);
    if (rss === null) return;
    const t = (Date.now() - began) / 1000;
    state.samples.push([Math.round(t), rss]);
    if (state.start === null) state.start = rss;
    state.peak = Math.max(state.peak, rss);
    state.last = rss;
    onSample?.(t, rss);
  };
  const timer = setInterval(take, intervalMs);
  take();
  return state;
}

/**
 * Starts `node dist/cli.js serve` on 127.0.0.1, port 0, a fresh temporary data dir and a config
 * file written from `config`. Through `sh -c 'ulimit -n N; exec node ...'` when `fdLimit` is set, so
 * the pid is the broker's own. Resolves with { child, pid, port, url, logs, stop() } once it prints
 * `{"msg":"listening","port":N}`. `logs` counts warn/error lines and each `msg` seen.
 */
export async function startBroker({ config = {}, fdLimit = 0, timeoutMs = 20_000, logLevel = 'info', nodeArgs = [], onLog } = {}) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'warren-soak-'));
  const configFile = join(dir, 'broker.json');
  const dataDir = join(dir, 'data');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const args = [...nodeArgs, CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--config', configFile, '--log-level', logLevel];
  const child = fdLimit
    ? spawn('sh', ['-c', `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = { errors: 0, warnings: 0, byMsg: {}, tail: [], stderr: [] };
  let exited = null;
  const exitedPromise = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );
  // SIGTERM (the broker's graceful shutdown), SIGKILL after `graceMs`. Resolves with how it ended,
  // how long it took, and the log lines it wrote meanwhile (their `msg`s).
  const stop = async (graceMs = 15_000) => {
    const began = Date.now();
    let killed = false;
    if (exited === null) {
      logs.afterStop = [];
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, graceMs);
      await exitedPromise;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    return { ...exited, stopMs: Date.now() - began, killedAfterGrace: killed, logAfterSigterm: summarize(logs.afterStop ?? []) };
  };
  const summarize = (msgs) => {
    const counts = {};
    for (const m of msgs) counts[m] = (counts[m] ?? 0) + 1;
    return counts;
  };
  // Last resort: never leave the broker behind when this script dies.
  process.once('exit', () => {
    if (exited === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
  createInterface({ input: child.stderr }).on('line', (line) => {
    logs.stderr.push(line.slice(0, 500));
    if (logs.stderr.length > 20) logs.stderr.shift();
  });
  let started = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`broker did not print "listening" within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      if (started) return; // a later exit is the caller's to notice, through exited()
      void stop(1000).then(() => reject(new Error(`${error.message}\n${[...logs.tail, ...logs.stderr].join('\n')}`)));
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        logs.tail.push(line.slice(0, 500));
        return;
      }
      logs.byMsg[entry.msg] = (logs.byMsg[entry.msg] ?? 0) + 1;
      logs.afterStop?.push(entry.msg);
      if (entry.level >= 40) {
        if (entry.level >= 50) logs.errors++;
        else logs.warnings++;
        logs.tail.push(line.slice(0, 500));
        if (logs.tail.length > 20) logs.tail.shift();
      }
      onLog?.(entry);
      if (entry.msg === 'listening' && typeof entry.port === 'number') {
        clearTimeout(timer);
        started = true;
        resolve({ child, pid: child.pid, port: entry.port, url: `ws://127.0.0.1:${entry.port}/ws`, logs, stop, exited: () => exited });
      }
    });
    child.once('exit', (code, signal) => {
      if (exited === null) exited = { code, signal };
      fail(new Error(`broker exited early (code ${code}, signal ${signal})`));
    });
    child.once('error', fail);
  });
}

/**
 * One WebSocket connection speaking Warren's frames. `request(frame)` sends a frame with a fresh id
 * and resolves with the `ok` reply (rejects on `error`, on close, or after `timeoutMs`).
 * Frames without a matching id go to `onFrame(frame)`. Deliveries may arrive batched in arrays.
 */
export class Conn {
  constructor(url, { name = 'soak', onFrame, onClose, timeoutMs = 30_000 } = {}) {
    this.url = url;
    this.name = name;
    this.onFrame = onFrame ?? (() => {});
    this.onClose = onClose ?? (() => {});
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    this.closeCode = null;
  }

  /** Opens the socket and sends `connect`; resolves once the broker says ok. */
  async open() {
    this.ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: this.timeoutMs });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const parsed = JSON.parse(data.toString());
      if (Array.isArray(parsed)) for (const frame of parsed) this.dispatch(frame);
      else this.dispatch(parsed);
    });
    this.ws.on('error', () => {}); // 'close' follows and settles everything
    this.ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const { reject, timer } of this.pending.values()) {
        clearTimeout(timer);
        reject(new Error(`${this.name}: connection closed (code ${code})`));
      }
      this.pending.clear();
      this.onClose(code);
    });
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('close', (code) => reject(new Error(`${this.name}: could not open (code ${code})`)));
    });
    await this.request({ op: 'connect', version: 1, clientName: this.name });
    return this;
  }

  dispatch(frame) {
    if ((frame.op === 'ok' || frame.op === 'error') && frame.id !== undefined && this.pending.has(frame.id)) {
      const { resolve, reject, timer } = this.pending.get(frame.id);
      this.pending.delete(frame.id);
      clearTimeout(timer);
      if (frame.op === 'ok') resolve(frame);
      else reject(Object.assign(new Error(`${this.name}: ${frame.code}: ${frame.message}`), { code: frame.code }));
      return;
    }
    this.onFrame(frame);
  }

  send(frame) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return true;
  }

  request(frame, timeoutMs = this.timeoutMs) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, id })) return reject(new Error(`${this.name}: not open`));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no reply to ${frame.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Graceful close, then terminate if the close handshake has not finished within `graceMs`. */
  async close(graceMs = 2000) {
    if (!this.ws || this.closed) return;
    const done = new Promise((resolve) => this.ws.once('close', resolve));
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), graceMs);
    await done;
    clearTimeout(timer);
  }

  terminate() {
    if (this.ws && !this.closed) this.ws.terminate();
  }
}

/**
 * Acks of one connection, sent once per event-loop turn as one WebSocket message: the returned
 * function queues an ack; `send` gets each batch's text, and `afterSend` (if any) runs after it.
 */
export function ackBatcher(send, afterSend) {
  let acks = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = acks;
    acks = [];
    send(batch.length === 1 ? batch[0] : `[${batch.join(',')}]`);
    afterSend?.();
  };
  return (deliveryTag) => {
    acks.push(`{"op":"ack","deliveryTag":${deliveryTag}}`);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

export function printJsonLine(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}
